"""`modelrouter ask "REQUEST"`: route a request, stream the answer, report what it cost.

On a terminal the answer is printed as it arrives. When stdout is not a terminal only the
final, complete answer is written, so a script never sees partial text from a stream that
failed and was restarted on another backend. Which backend answered, the attempts, tokens,
cost and latency go to stderr.

With `--file` and `--range`, a code answer is checked as the edit of those lines it would
be (`answer_checks`), and a failed check re-asks one tier up (`routing.escalation`), as in
the editor; which checks ran and what escalated go to stderr (and into `--json`). An answer
that fails its checks is still printed, nothing is lost, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from modelrouter import edits
from modelrouter.answer_checks import EditUnderCheck, checks_for, on_answers
from modelrouter.commands.route import load_or_report
from modelrouter.config import Rules
from modelrouter.engine import Engine, EngineError, Event, FellBack, Job, Outcome, Progress
from modelrouter.errors import RoutingError, UsageError
from modelrouter.fixers import fixers_for_request
from modelrouter.positions import newline_of
from modelrouter.redact import hide_values
from modelrouter.routing.decide import Decision, RouteRequest, decide, reconsider
from modelrouter.routing.escalation import (
    Check,
    Checked,
    Escalation,
    EscalationPolicy,
    Tried,
    judged,
    redo_tier,
    run_checked,
)
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
        target = _target(Path(args.file), args.range) if args.file and args.range else None
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
            target=target,
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
    target: Target | None = None,
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

    def escalated(step: Escalation, _outcome: Outcome) -> None:
        nonlocal printed
        if printed:
            sys.stdout.write("\n")
            printed = False
        print(f"[{step.note}]", file=sys.stderr)

    checked: Checked | None = None
    try:
        # A fixer answers before the router is reconsidered (that may ask a model).
        outcome = await _fixed(rules, engine, _job(request, decision, messages), request, selection)
        fixer_tried: list[Tried] = []
        if outcome is not None and target is not None:
            # Checked too, but not held to a small model's edit size (see the LSP's jobs).
            fixer_checks = _checks(rules, request, decision, target, trivial=False)
            tried = await judged(fixer_checks, outcome, decision.tier)
            if (failure := tried.failure) is not None:
                fixer_tried.append(tried)
                engine.record_check(outcome, failure)
                print(f"[the {outcome.backend} fixer's answer {failure}; asking the models]",
                      file=sys.stderr)  # fmt: skip
                outcome = None
        if outcome is None:
            decision = await reconsider(rules, request, decision, engine=engine)
            job = _job(request, decision, messages)
            checks = _checks(rules, request, decision, target) if target is not None else []
            if checks:
                checked = await run_checked(
                    lambda j: engine.run(j, on_event),
                    job,
                    checks,
                    EscalationPolicy(rules),
                    on_escalate=escalated,
                    on_failure=engine.record_check,
                )
                outcome = checked.outcome
                checked.tried[:0] = fixer_tried
            else:
                outcome = await engine.run(job, on_event)
    except EngineError as exc:
        print(f"modelrouter ask: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.aclose()
        ledger.close()
    outcome.text = hide_values(outcome.text, keys)
    failed = checked is not None and checked.failure is not None
    if as_json:
        # The object carries everything the summary says; nothing else is printed.
        data = outcome_json(outcome)
        if checked is not None:
            data.update(checks_json(rules, checked))
        print(json.dumps(data, indent=2))
        return 1 if failed else 0
    if stream_text and not outcome.fixer:  # a fixer's answer was not streamed
        if not outcome.text.endswith("\n"):
            sys.stdout.write("\n")
    else:
        sys.stdout.write(outcome.text)
        if not outcome.text.endswith("\n"):
            sys.stdout.write("\n")
    sys.stdout.flush()
    print(summary(outcome), file=sys.stderr)
    if checked is not None:
        print(checks_summary(rules, checked), file=sys.stderr)
    return 1 if failed else 0


Target = tuple[str, int, int, str]  # the file's text, the range's offsets, the file's name


def _target(path: Path, line_range: str) -> Target:
    """The file and the offsets of `--range` in it: what a code answer would replace."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    # The very lines `_excerpt` sends: split as str.splitlines splits.
    lines = text.splitlines(keepends=True)
    start, end = _parse_range(line_range, len(lines))
    first = sum(len(line) for line in lines[: start - 1])
    last = lines[end - 1]
    line_break = len(last) - len(last.splitlines()[0])
    until = first + sum(len(line) for line in lines[start - 1 : end]) - line_break
    return text, first, until, path.name


def _checks(
    rules: Rules,
    request: RouteRequest,
    decision: Decision,
    target: Target,
    *,
    trivial: bool | None = None,
) -> list[Check]:
    """The checks on a code answer for `target`, bound to the edit it would make; `trivial`
    (default: the request is on the cheapest tier) adds the size checks of a trivial edit."""
    text, start, end, name = target
    language = _fence_language(name)
    tier = decision.tier
    if trivial is None:
        trivial = tier in rules.tiers and rules.tier_rank(tier) == 0
    found = checks_for(rules, None, "rewrite", language, instruction=request.text, trivial=trivial)

    async def edit_of(outcome: Outcome) -> EditUnderCheck | None:
        try:
            code = edits.extract_code(outcome.text, language)
        except edits.NoUsableCode:
            return None  # an answer in prose: nothing to check
        new = edits.reindent(
            code,
            text[start:end],
            line_indent=edits.indent_before(text, start),
            newline=newline_of(text),
        )
        return EditUnderCheck(
            text, start, end, new, language, name, workspace=request.workspace, path=request.path
        )

    return on_answers(found, edit_of)


def checks_json(rules: Rules, checked: Checked) -> dict:
    """What the checks said and what escalated, for `--json`."""
    failure = checked.failure
    return {
        "checks": [t.as_dict() for t in checked.tried],
        "escalations": [e.note for e in checked.escalations],
        "check_failure": str(failure) if failure is not None else None,
        "redo_tier": _redo(rules, checked) if failure is not None else None,
    }


def checks_summary(rules: Rules, checked: Checked) -> str:
    """Which checks ran on each answer and what escalated, for stderr."""
    lines = []
    for i, tried in enumerate(checked.tried, 1):
        verdicts = ", ".join(
            f"{v.check} {v.status}" + (f" ({v.detail})" if v.detail else "") for v in tried.verdicts
        )
        lines.append(
            f"  checks on answer {i} ({tried.outcome.model}, tier {tried.tier}): "
            f"{verdicts or 'none ran (no code in the answer)'}"
        )
    if checked.failure is not None:
        upper = _redo(rules, checked)
        hint = f"; ask again with --tier {upper} for a stronger model" if upper else ""
        refused = f"; asking the tier above failed: {checked.refused}" if checked.refused else ""
        lines.append(f"  the answer failed its checks: {checked.failure}{refused}{hint}")
    return "\n".join(lines)


def _redo(rules: Rules, checked: Checked) -> str | None:
    try:
        return redo_tier(rules, checked.job.tier, checked.outcome.model)
    except RoutingError:
        return None


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
