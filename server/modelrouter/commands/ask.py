"""`modelrouter ask "REQUEST"`: route a request, stream the answer, report what it cost.

On a terminal the answer is printed as it arrives. When stdout is not a terminal only the
final, complete answer is written, so a script never sees partial text from a stream that
failed and was restarted on another backend. Which backend answered, the attempts, tokens,
cost and latency go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from modelrouter.commands.route import load_or_report
from modelrouter.config import Rules
from modelrouter.engine import Engine, EngineError, Event, FellBack, Job, Outcome, Progress
from modelrouter.errors import RoutingError, UsageError
from modelrouter.fixers import fixers_for_request
from modelrouter.redact import hide_values
from modelrouter.routing.decide import Decision, RouteRequest, decide, reconsider
from modelrouter.transcript import Message

SYSTEM_PROMPT = (
    "You are an expert software engineer. Answer the request precisely and concisely. "
    "Put code in fenced code blocks."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("request", help="what you want, as you would type it")
    parser.add_argument("--file", metavar="F", help="a file the request is about")
    parser.add_argument(
        "--range", metavar="L1:L2", help="only these lines of --file (1-based, inclusive)"
    )
    parser.add_argument("--tier", metavar="T", help="skip classification and use this tier")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with the answer and details"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: print the backend that would answer and exactly what it would "
        "receive (after secret redaction)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    rules = load_or_report(args.rules)
    if rules is None:
        return 2
    try:
        request, messages, selection = _request(args)
        decision = decide(rules, request)
    except (UsageError, RoutingError) as exc:
        print(f"modelrouter ask: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "dry_run", False):
        return asyncio.run(_dry_run(rules, _job(request, decision, messages), as_json=args.json))
    return asyncio.run(
        _ask(
            rules,
            request,
            decision,
            messages,
            selection=selection,
            as_json=args.json,
            live=sys.stdout.isatty(),
        )
    )


def _request(args: argparse.Namespace) -> tuple[RouteRequest, list[Message], str | None]:
    """The request as the router sees it, the transcript sent (with the file excerpt) and
    the excerpt itself (None without --file)."""
    excerpt = ""
    selection_tokens = 0
    if not args.request.strip():
        raise UsageError('the request is empty; say what you want, e.g. ask "fix the typo"')
    if args.range and not args.file:
        raise UsageError("--range needs --file")
    if args.file:
        excerpt = _excerpt(Path(args.file), args.range)
        from modelrouter.tokens import estimate_tokens

        selection_tokens = estimate_tokens(excerpt)
    content = args.request
    if args.file:
        where = f"{args.file} (lines {args.range})" if args.range else args.file
        content += f"\n\n{where}:\n```{_fence_language(args.file)}\n{excerpt}\n```"
    request = RouteRequest(
        text=args.request,
        path=args.file,
        workspace=str(Path.cwd()),
        selection_tokens=selection_tokens,
        tier=args.tier or None,
        tier_reason="tier given with --tier",
    )
    messages = [Message("system", SYSTEM_PROMPT), Message("user", content)]
    return request, messages, excerpt if args.file else None


def _job(request: RouteRequest, decision: Decision, messages: list[Message]) -> Job:
    return Job(
        messages=messages,
        tier=decision.tier,
        reason=decision.reason,
        workspace=request.workspace,
        path=request.path,
        source="ask",
        tier_override=request.tier,
    )


async def _ask(
    rules: Rules,
    request: RouteRequest,
    decision: Decision,
    messages: list[Message],
    *,
    selection: str | None = None,
    as_json: bool,
    live: bool,
) -> int:
    stream_text = live and not as_json
    printed = False
    from modelrouter.ledger import open_ledger

    ledger = open_ledger(rules)  # recording never fails the request; budgets are read from it
    engine = Engine(rules, ledger=ledger)
    # The answer is shown, not applied to a file: configured keys it quotes stay hidden.
    keys = engine.api_keys()

    def on_event(event: Event) -> None:
        nonlocal printed
        if isinstance(event, Progress) and stream_text:
            sys.stdout.write(hide_values(event.text, keys))
            sys.stdout.flush()
            printed = True
        elif isinstance(event, FellBack):
            then = f"; restarting on {event.to_backend}" if event.to_backend else ""
            if printed:
                sys.stdout.write("\n")
                printed = False
            print(f"[{event.from_backend} failed: {event.error}{then}]", file=sys.stderr)

    try:
        # A fixer answers before the router is reconsidered (that may ask a model).
        outcome = await _fixed(rules, engine, _job(request, decision, messages), request, selection)
        if outcome is None:
            decision = await reconsider(rules, request, decision, engine=engine)
            outcome = await engine.run(_job(request, decision, messages), on_event)
    except EngineError as exc:
        print(f"modelrouter ask: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.aclose()
        ledger.close()
    outcome.text = hide_values(outcome.text, keys)
    if as_json:
        # The object carries everything the summary says; nothing else is printed.
        print(json.dumps(outcome_json(outcome), indent=2))
        return 0
    if stream_text and not outcome.fixer:  # a fixer's answer was not streamed
        if not outcome.text.endswith("\n"):
            sys.stdout.write("\n")
    else:
        sys.stdout.write(outcome.text)
        if not outcome.text.endswith("\n"):
            sys.stdout.write("\n")
    sys.stdout.flush()
    print(summary(outcome), file=sys.stderr)
    return 0


async def _fixed(
    rules: Rules, engine: Engine, job: Job, request: RouteRequest, selection: str | None
) -> Outcome | None:
    """The answer of a fixer the request's words call for, if one changes the excerpt."""
    if not selection or not request.path:
        return None
    language = _fence_language(request.path)
    found = fixers_for_request(rules, request.text, language)
    return await engine.answer_by_fixer(job, found, selection, language)


async def _dry_run(rules: Rules, job: Job, *, as_json: bool) -> int:
    """Print what `ask` would send, and where, without sending anything."""
    from modelrouter.backends import make_backend
    from modelrouter.ledger import open_ledger
    from modelrouter.transcript import ContextTooSmall

    # With the ledger, as a real run: over-budget backends are skipped here too.
    engine = Engine(rules, ledger=open_ledger(rules))
    try:
        local_only = engine.is_local_only(job)
        plan = engine.plan(job.tier, local_only=local_only)
        redactor = engine.redactor()
        chosen = None
        messages: list[Message] = []
        skipped = [(s.backend, s.reason) for s in plan.skipped]
        for cfg in plan.candidates:
            try:
                messages = engine.outgoing(job, cfg, redactor)
            except ContextTooSmall as exc:
                skipped.append((cfg.name, str(exc)))
                continue
            chosen = cfg
            break
        if chosen is not None:
            adapter = make_backend(chosen, engine.client)
            target = getattr(adapter, "base_url", "") or " ".join(chosen.command)
        fallbacks = [c.name for c in plan.candidates if chosen and c.name != chosen.name]
    finally:
        await engine.aclose()
    why = engine.local_only_reason(job) or ("marked local-only" if job.local_only else None)
    if as_json:
        data: dict = {
            "dry_run": True,
            "tier": job.tier,
            "reason": job.reason,
            "local_only": why,
            "backend": None,
            "fallbacks": fallbacks,
            "skipped": [{"backend": b, "reason": r} for b, r in skipped],
            "redactions": 0,
            "messages": [],
        }
        if chosen is not None:
            data["backend"] = {
                "name": chosen.name,
                "type": chosen.type,
                "model": chosen.model,
                "local": chosen.is_local,
                "target": target,
            }
            data["redactions"] = 0 if chosen.is_local else redactor.count
            data["placeholders"] = {} if chosen.is_local else redactor.placeholders
            data["messages"] = [{"role": m.role, "content": m.content} for m in messages]
        print(json.dumps(data, indent=2))
        return 0 if chosen is not None else 1
    out = sys.stdout
    out.write("DRY RUN: nothing was sent.\n")
    out.write(f"tier: {job.tier} ({job.reason})\n")
    if why:
        out.write(f"local only: {why}; only backends on this machine may receive it\n")
    for name, reason in skipped:
        out.write(f"skipped: {name}: {reason}\n")
    if chosen is None:
        out.write("no backend would receive this request\n")
        return 1
    where = "stays on this machine" if chosen.is_local else "leaves this machine"
    out.write(
        f"backend: {chosen.name} ({chosen.type}, model {chosen.model}) → {target} [{where}]\n"
    )
    if fallbacks:
        out.write(f"fallbacks, in order: {', '.join(fallbacks)}\n")
    if chosen.is_local:
        out.write("redactions: none (local backends see the text as it is)\n")
    else:
        kinds = ", ".join(
            f"{p} ({k.lower().replace('_', ' ')})" for p, k in redactor.placeholders.items()
        )
        out.write(f"redactions: {redactor.count}{': ' + kinds if kinds else ''}\n")
    for message in messages:
        out.write(f"----- {message.role} -----\n{message.content}\n")
    out.write("----- end -----\n")
    return 0


def outcome_json(outcome: Outcome) -> dict:
    """A JSON-ready view of an outcome."""
    data = asdict(outcome)
    data["fell_back"] = outcome.fell_back
    return data


def summary(outcome: Outcome) -> str:
    """What answered, how it got there and what it cost, for stderr."""
    usage = outcome.usage
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out"
    if usage.estimated:
        tokens += " (estimated)"
    attempts = " → ".join(f"{a.backend} {a.outcome} {a.elapsed_s:.2f}s" for a in outcome.attempts)
    first = f", first token {outcome.first_token_s:.2f} s" if outcome.first_token_s else ""
    skipped = "".join(f"  skipped: {s.backend}: {s.reason}\n" for s in outcome.skipped)
    ledger = f" · ledger #{outcome.ledger_id}" if outcome.ledger_id is not None else ""
    return (
        f"— {outcome.backend} ({outcome.model}) · tier {outcome.tier}: {outcome.reason}{ledger}\n"
        f"{skipped}"
        f"  attempts: {attempts}\n"
        f"  tokens: {tokens} · cost ${outcome.cost_usd:.4f} "
        f"(top tier ${outcome.top_tier_cost_usd:.4f}) · {outcome.latency_s:.2f} s{first}"
    )


def _excerpt(path: Path, line_range: str | None) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if not line_range:
        return text
    lines = text.splitlines()
    start, end = _parse_range(line_range, len(lines))
    return "\n".join(lines[start - 1 : end])


def _parse_range(spec: str, line_count: int) -> tuple[int, int]:
    first, _, last = spec.partition(":")
    try:
        start = int(first)
        end = int(last) if last else start
    except ValueError:
        raise UsageError(f"--range {spec!r}: expected L1:L2, e.g. 10:42") from None
    if start < 1 or end < start:
        raise UsageError(f"--range {spec!r}: lines start at 1 and L2 must not be before L1")
    if start > line_count:
        raise UsageError(f"--range {spec!r}: the file has {line_count} line(s)")
    return start, min(end, line_count)


def _fence_language(path: str) -> str:
    suffix = Path(path).suffix.lstrip(".").lower()
    return {"py": "python", "js": "javascript", "ts": "typescript", "rs": "rust"}.get(
        suffix, suffix
    )
