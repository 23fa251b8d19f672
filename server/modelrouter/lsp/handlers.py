"""LSP feature handlers: thin wrappers over the server state and the job runner."""

from __future__ import annotations

import gc
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from modelrouter import __version__
from modelrouter.errors import JobFailed
from modelrouter.lsp import contract
from modelrouter.lsp.contract import (
    ActionInfo,
    BackendReport,
    DoctorResult,
    RunResult,
    Status,
)
from modelrouter.lsp.server import ModelRouterServer
from modelrouter.stats import Summary

log = logging.getLogger("modelrouter.lsp")

CODE_ACTION_KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.Refactor,
    types.CodeActionKind.RefactorRewrite,
    types.CodeActionKind.Source,
]


def register(server: ModelRouterServer) -> None:
    """Register every feature and command on `server`."""

    @server.feature(types.INITIALIZE)
    def initialize(ls: ModelRouterServer, params: types.InitializeParams) -> None:
        ls.own_documents()
        ls.update_settings(params.initialization_options)
        if ls._cli_rules and not ls.settings.rules_file:
            ls.settings.rules_file = ls._cli_rules

    @server.feature(types.INITIALIZED)
    async def initialized(ls: ModelRouterServer, params: types.InitializedParams) -> None:
        ls.configure_logging()
        await ls.pull_configuration()
        if ls.ensure_rules() is not None:
            # Warm up now, after the handshake, so the first code action is as fast as the rest.
            ls.engine  # noqa: B018
            ls.jobs  # noqa: B018
        ls.store  # noqa: B018
        # Everything loaded so far lives as long as the server: keep it out of the collector's
        # full passes, which would otherwise stall code actions now and then.
        gc.freeze()
        ls.start_watching()
        await ls.register_file_watcher()
        ls.send_status()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: ModelRouterServer, params: types.DidChangeConfigurationParams
    ) -> None:
        before = ls.settings.rules_file
        ls.update_settings(params.settings)
        await ls.pull_configuration()
        if ls.settings.rules_file != before:
            ls.reload_rules()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: ModelRouterServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        if ls.rules_changed_on_disk():
            ls.reload_rules()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ModelRouterServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        restored = ls.store.load(doc.uri, doc.text)
        if restored:
            log.info("restored %d model-written range(s) in %s", restored, doc.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ModelRouterServer, params: types.DidChangeTextDocumentParams) -> None:
        # The workspace applied the changes and moved provenance ranges with each of them.
        if ls.jobs_if_started is not None:
            ls.jobs_if_started.document_changed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ModelRouterServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.store.save(uri, ls.workspace.get_text_document(uri).source)
        if ls.rules_changed_on_disk():
            ls.reload_rules()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ModelRouterServer, params: types.DidCloseTextDocumentParams) -> None:
        # The workspace copy is gone already; records were saved with the text they fit.
        ls.store.forget(params.text_document.uri)
        if ls.jobs_if_started is not None:
            ls.jobs_if_started.document_closed(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=True),
    )
    def code_action(
        ls: ModelRouterServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        return list_code_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    def code_action_resolve(ls: ModelRouterServer, action: types.CodeAction) -> types.CodeAction:
        # Listing already attached the command; resolving never does the model call, so
        # that merely highlighting an action in a menu costs nothing.
        if action.command is None and isinstance(action.data, dict):
            action.command = types.Command(
                title=action.title, command=contract.RUN, arguments=[action.data]
            )
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: ModelRouterServer, params: types.HoverParams) -> types.Hover | None:
        pos = (params.position.line, params.position.character)
        record = ls.store.at(params.text_document.uri, pos)
        if record is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=record.markdown()),
            range=types.Range(
                start=types.Position(line=record.start[0], character=record.start[1]),
                end=types.Position(line=record.end[0], character=record.end[1]),
            ),
        )

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ModelRouterServer, params: None) -> None:
        if ls.jobs_if_started is not None:
            ls.jobs.cancel_all()
        ls.stop_watching()
        for uri, doc in list(ls.workspace.text_documents.items()):
            ls.store.save(uri, doc.source)
        if ls._engine is not None:
            await ls._engine.aclose()

    @server.command(contract.RUN)
    async def run(ls: ModelRouterServer, *args: Any) -> RunResult:
        return await ls.jobs.run_command(_first(args), redo=False)

    @server.command(contract.REDO)
    async def redo(ls: ModelRouterServer, *args: Any) -> RunResult:
        return await ls.jobs.run_command(_first(args), redo=True)

    @server.command(contract.CANCEL)
    def cancel(ls: ModelRouterServer, *args: Any) -> dict[str, Any]:
        return {"cancelled": ls.jobs.cancel_all()}

    @server.command(contract.ACTIONS)
    def actions(ls: ModelRouterServer, *args: Any) -> list[ActionInfo]:
        rules = ls.ensure_rules()
        if rules is None:
            return []
        out = []
        for action in rules.actions.values():
            title, backend, model, disabled = describe_action(ls, action)
            out.append(
                ActionInfo(
                    id=action.id,
                    title=title,
                    tier=action.tier,
                    backend=backend,
                    model=model,
                    disabled=disabled,
                    needs_instruction=action.needs_instruction,
                )
            )
        return out

    @server.command(contract.STATUS)
    async def status(ls: ModelRouterServer, *args: Any) -> Status:
        return await ls.current_status()

    @server.command(contract.DOCTOR)
    async def doctor(ls: ModelRouterServer, *args: Any) -> DoctorResult:
        from modelrouter.fixers import statuses
        from modelrouter.routing.plan import skip_reason

        rules = ls.ensure_rules()
        backends: list[BackendReport] = []
        if rules is not None:
            for b in rules.backends.values():
                reason = skip_reason(b, health=ls.engine.health, budget=ls.engine.budget)
                backends.append(
                    BackendReport(
                        name=b.name,
                        type=b.type,
                        model=b.model,
                        usable=reason is None,
                        reason=reason,
                    )
                )
        return DoctorResult(
            version=__version__,
            rules_file=str(ls.rules_path) if ls.rules_path else None,
            rules_errors=list(ls.rules_errors),
            backends=backends,
            fixers=await statuses(rules) if rules is not None else [],
        )

    @server.command(contract.STATS)
    async def stats(ls: ModelRouterServer, *args: Any) -> Summary:
        from modelrouter.stats import parse_since, summarize

        try:
            period = contract.parse_stats(args[0] if args else None).since
        except JobFailed as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        try:
            since = parse_since(period)
        except ValueError:
            raise JsonRpcInvalidParams(
                f"modelrouter.stats: cannot read the period {period!r}: use a span like "
                "7d, 24h, 30m, 2w, a date like 2026-11-01, or 'all'"
            ) from None
        ledger = ls.ledger
        entries = await ledger.aentries(since) if ledger is not None else []
        return summarize(entries, since=since)


def _first(args: tuple[Any, ...]) -> dict[str, Any]:
    """The single object argument of a command (some clients send none)."""
    if args and isinstance(args[0], dict):
        return args[0]
    return {}


def describe_action(
    ls: ModelRouterServer, action: Any, *, local_only: bool = False
) -> tuple[str, str | None, str | None, str | None]:
    """(title, backend, model, disabled reason) for an action, from the router's plan.

    Never touches the network: the plan reads the rules, key presence and health state.
    `local_only` documents are planned on local backends alone, as they will be run.
    """
    rules = ls.rules
    assert rules is not None
    if action.tier == "auto":
        return f"{action.title}  ·  auto (routed by request)", None, None, None
    plan = ls.listing_plan(action.tier, local_only=local_only)
    primary = plan.primary
    if primary is None:
        reason = plan.why_empty()
        return f"{action.title}  ·  {action.tier}", None, None, reason
    where = "local" if primary.is_local else primary.name
    title = f"{action.title}  ·  {action.tier} → {primary.model or primary.name} ({where})"
    return title, primary.name, primary.model, None


def list_code_actions(
    ls: ModelRouterServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    """One code action per rules action (plus redo on model-written code). Cheap by design:
    the document is not read or parsed here; only the request's range is passed on."""
    rules = ls.ensure_rules()
    if rules is None:
        return None
    uri = params.text_document.uri
    rng = params.range
    only = params.context.only
    diags = list(params.context.diagnostics or [])
    diag_texts = [_diag_text(d) for d in diags]  # once, not per action that carries them
    caps = ls.client_capabilities.text_document
    ca_caps = caps.code_action if caps else None
    tags = (
        [types.CodeActionTag.LlmGenerated]
        if ca_caps
        and ca_caps.tag_support
        and types.CodeActionTag.LlmGenerated in ca_caps.tag_support.value_set
        else None
    )
    disabled_ok = bool(ca_caps and ca_caps.disabled_support)
    range_json = {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }
    local_only = ls.is_local_only(uri)
    out: list[types.CodeAction] = []
    for action in rules.actions.values():
        kind = types.CodeActionKind.QuickFix if action.on_diagnostics else action.code_action_kind
        if only and not any(kind == k or kind.startswith(f"{k}.") for k in only):
            continue
        if action.on_diagnostics and not diags:
            continue
        title, _backend, _model, disabled = describe_action(ls, action, local_only=local_only)
        if disabled:
            # The title says why, greyed out or not: VS Code shows a disabled action's reason
            # only on hover, and a client without `disabledSupport` cannot grey it out, so it
            # gets the action enabled; running it changes nothing and names the reason again.
            title = f"{title}  ·  unavailable: {disabled}"
            disabled = disabled if disabled_ok else None
        data: dict[str, Any] = {"action": action.id, "uri": uri, "range": range_json}
        if action.needs_instruction:
            # Clients ask the user for it before running `modelrouter.run`.
            data["needs_instruction"] = True
        if diags and (action.on_diagnostics or action.tier == "debug"):
            data["diagnostics"] = diag_texts
        out.append(
            types.CodeAction(
                title=title,
                kind=kind,
                diagnostics=diags if action.on_diagnostics else None,
                disabled=types.CodeActionDisabled(reason=disabled) if disabled else None,
                data=data,
                command=None
                if disabled
                else types.Command(title=title, command=contract.RUN, arguments=[data]),
                tags=tags,
            )
        )
    record = ls.jobs.requests.redoable_at(uri, (rng.start.line, rng.start.character))
    if record is not None and rules.tiers.get(record.tier) is not None:
        upper = rules.next_tier(record.tier)
        if upper is not None and (not only or any("refactor".startswith(k) for k in only)):
            plan = ls.listing_plan(upper, local_only=local_only)
            disabled = None if plan.primary else plan.why_empty()
            arg = {"uri": uri, "position": range_json["start"]}
            model = plan.primary.model if plan.primary else upper
            title = f"Redo with a stronger model  ·  {upper} → {model}"
            if disabled:
                title = f"{title}  ·  unavailable: {disabled}"
                disabled = disabled if disabled_ok else None
            out.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.RefactorRewrite,
                    disabled=types.CodeActionDisabled(reason=disabled) if disabled else None,
                    data=arg,
                    command=None
                    if disabled
                    else types.Command(
                        title="Redo with a stronger model",
                        command=contract.REDO,
                        arguments=[arg],
                    ),
                    tags=tags,
                )
            )
    return out


def _diag_text(d: types.Diagnostic) -> str:
    code = f" [{d.code}]" if d.code is not None else ""
    source = f"{d.source}: " if d.source else ""
    return f"line {d.range.start.line + 1}: {source}{d.message}{code}"
