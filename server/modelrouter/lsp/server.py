"""The pygls server: state, rules reloading, status, and the edges of JSON-RPC.

Only what the `initialize` response needs is imported at start-up; rules, the engine
(httpx), tree-sitter and the ledger load after it, so editors get a fast handshake.
Listing code actions reads the loaded rules and the router's in-memory plan: no parsing of
the document, no network. The heavy work (context, model call, edits) lives in `jobs.py` and
the modules it drives (`requests.py`, `progress.py`, `workspace_edits.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs
from lsprotocol import types
from lsprotocol.types import is_special_property
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, default_converter
from pygls.protocol.language_server import lsp_method
from pygls.uris import from_fs_path, to_fs_path

from modelrouter import __version__
from modelrouter.lsp.contract import STATUS_NOTIFICATION, Settings, Status

if TYPE_CHECKING:
    from modelrouter.config import Rules
    from modelrouter.engine import Engine
    from modelrouter.lsp.jobs import Jobs
    from modelrouter.provenance import ProvenanceStore

log = logging.getLogger("modelrouter.lsp")

RULES_POLL_SECONDS = 1.0
# How long a tier's plan is reused for listing code actions. Keys and PATH do not change
# under a running server; cooldowns and budgets change when a job ends, which clears the
# cache, or expire with time, which this bounds.
PLAN_TTL_SECONDS = 1.0
# How long `modelrouter.status` waits for a fresh spend figure from the ledger.
STATUS_READ_WAIT_S = 0.5
# Replies we wait for during start-up; a client that never answers must not stall it.
CLIENT_REPLY_SECONDS = 5.0
# JSON-RPC and LSP error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002


class ModelRouterProtocol(LanguageServerProtocol):
    """pygls' protocol, with the edges of JSON-RPC handled: every request gets an answer.

    - `$/cancelRequest` stops a running job, not only a request not yet started;
    - params that do not parse get `-32602` (pygls only logs them), bad JSON `-32700`;
    - requests before `initialize` get `-32002`, requests after `shutdown` `-32600`;
    - `shutdown` while jobs run cancels them (without pygls' "dictionary changed size");
    - `exit` stops the server at once, with exit code 1 unless `shutdown` came first.
    """

    _server: ModelRouterServer

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        jobs = self._server.jobs_if_started
        if jobs is not None:
            jobs.cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self._initialize_seen = False

    def receive(self, body: bytes) -> None:
        """Handle one message body read off the wire."""
        try:
            data = json.loads(body)
        except ValueError as exc:
            log.error("message is not JSON (%s); ignored", exc)
            self._error(None, PARSE_ERROR, f"message is not JSON: {exc}")
            return
        msg_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(msg_id, int | str) or isinstance(msg_id, bool):
            msg_id = None
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
            self._error(msg_id, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
            return
        method = data.get("method")
        is_request = msg_id is not None and isinstance(method, str)
        if not self._initialize_seen and method not in (types.INITIALIZE, types.EXIT):
            if is_request:
                self._error(msg_id, SERVER_NOT_INITIALIZED, "the server is not initialized")
            elif method is not None:
                log.warning("%s before initialize; ignored", method)
            return
        if is_request and self._shutdown and method != types.EXIT:
            self._error(msg_id, INVALID_REQUEST, f"{method} after shutdown")
            return
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            if is_request:
                self._error(msg_id, INVALID_PARAMS, f"invalid params for {method}: {exc}")
            else:
                log.warning("ignored %s with invalid params", method or "a message")
            return
        if method == types.INITIALIZE:
            self._initialize_seen = True
        try:
            self.handle_message(message)
        except Exception:
            log.exception("failed to handle %s", method or "a message")
            if is_request:
                self._error(msg_id, INTERNAL_ERROR, f"internal error handling {method}")

    def _error(self, msg_id: Any, code: int, message: str) -> None:
        # A plain object: the converter would leave out `"id": null`, which JSON-RPC requires.
        error = {"code": code, "message": message}
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current = self.msg_id
        # Cancelling a request runs its callbacks, which drop it from this dict: iterate a copy.
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        self._server.stop_serving(0 if self._shutdown else 1)


class ClientLogHandler(logging.Handler):
    """Sends log records to the client as `window/logMessage`."""

    _LEVELS = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
    )

    def __init__(self, server: ModelRouterServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self.server = server
        self.loop = loop
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        kind = next((t for lvl, t in self._LEVELS if record.levelno >= lvl), types.MessageType.Log)
        params = types.LogMessageParams(type=kind, message=self.format(record))
        if threading.get_ident() == self.thread:
            self._send(params)
        elif not self.loop.is_closed():
            # Worker threads (the ledger's writer, say) must not write to the transport.
            self.loop.call_soon_threadsafe(self._send, params)

    def _send(self, params: types.LogMessageParams) -> None:
        try:
            self.server.window_log_message(params)
        except Exception:
            # Before the connection is up (or after it is gone) there is nobody to tell.
            return


class ModelRouterServer(LanguageServer):
    """Server state shared by the handlers."""

    def __init__(self, rules_file: str | None = None, log_file: str | None = None) -> None:
        super().__init__(
            "modelrouter",
            __version__,
            protocol_cls=ModelRouterProtocol,
            converter_factory=converter_factory,
        )
        self.settings = Settings(rules_file=rules_file, log_file=log_file)
        self._cli_rules = rules_file
        self.rules: Rules | None = None
        self.rules_path: Path | None = None
        self.rules_errors: list[str] = []
        self._rules_mtime: float | None = None
        self._rules_problem_uris: set[str] = set()
        self._engine: Engine | None = None
        self._store: ProvenanceStore | None = None
        self._jobs: Jobs | None = None
        self._ledger: Any = None
        self._watcher: asyncio.Task[None] | None = None
        self._file_handler: logging.Handler | None = None
        self.last_backend: str | None = None
        self.last_model: str | None = None
        self._plans: dict[tuple[str, bool], tuple[float, Any]] = {}
        self._local_only: dict[str, bool] = {}
        self._spend_today = 0.0  # last value read from the ledger (off the event loop)
        self._spend_reading: asyncio.Task[None] | None = None
        self.exit_code = 0
        self._inbox: asyncio.Queue[Any] | None = None
        self._stopping = False

    # --- serving on stdio -----------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on stdio until `exit` or the end of input; `exit_code` tells how it ended.

        Messages are read by a daemon thread with our own framing (`lsp.framing`): a framing
        error is logged and skipped, never leaves the server deaf, and `exit` does not wait
        for a blocked read of stdin.
        """
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            asyncio.run(self._serve(stdin or sys.stdin.buffer))
        except BrokenPipeError:
            log.error("the connection to the client is lost; stopping")
        finally:
            self.shutdown()

    async def _serve(self, stdin: BinaryIO) -> None:
        from modelrouter.lsp.framing import FramingProblem, read_messages

        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[bytes | FramingProblem | None] = asyncio.Queue()
        self._inbox = inbox

        def pump() -> None:
            try:
                for item in read_messages(stdin):
                    loop.call_soon_threadsafe(inbox.put_nowait, item)
            except (OSError, ValueError) as exc:
                log.error("reading from the client failed: %s", exc)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone already
                    loop.call_soon_threadsafe(inbox.put_nowait, None)

        threading.Thread(target=pump, name="lsp-reader", daemon=True).start()
        while not self._stopping and (item := await inbox.get()) is not None:
            if isinstance(item, FramingProblem):
                log.error("bad message framing from the client: %s", item.message)
                continue
            self.protocol.receive(item)

    def stop_serving(self, code: int) -> None:
        """Stop reading messages and end the server with exit code `code` (`exit`)."""
        self.exit_code = code
        self._stopping = True
        if self._jobs is not None:
            self._jobs.cancel_all()
        if self._inbox is None:
            raise SystemExit(code)  # not serving stdio (`--tcp`): pygls' own loop
        self._inbox.put_nowait(None)

    # --- lazily built parts --------------------------------------------------------------

    @property
    def root(self) -> Path | None:
        """The workspace root folder, if any."""
        try:
            root_uri = self.workspace.root_uri
        except RuntimeError:
            return None
        path = to_fs_path(root_uri) if root_uri else None
        return Path(path) if path else None

    def ensure_rules(self) -> Rules | None:
        """The current rules, loading them on first use."""
        if self.rules is None and not self.rules_errors:
            self.reload_rules()
        return self.rules

    @property
    def engine(self) -> Engine:
        """The shared engine (one HTTP connection pool for the server's life)."""
        if self._engine is None:
            from modelrouter.engine import Engine

            rules = self.ensure_rules()
            if rules is None:
                raise RuntimeError("no usable rules: " + "; ".join(self.rules_errors))
            self._engine = Engine(rules, ledger=self.ledger, serving=True)
        return self._engine

    def listing_plan(self, tier: str, *, local_only: bool = False) -> Any:
        """The router's plan for `tier`, reused for up to PLAN_TTL_SECONDS: listing code
        actions asks for the same few tiers on every cursor move."""
        now = time.monotonic()
        key = (tier, local_only)
        hit = self._plans.get(key)
        if hit is not None and now - hit[0] < PLAN_TTL_SECONDS:
            return hit[1]
        plan = self.engine.plan(tier, local_only=local_only)
        self._plans[key] = (now, plan)
        return plan

    def is_local_only(self, uri: str) -> bool:
        """Whether this document must stay on the machine (`privacy.local_only`, symlinks
        resolved, or a URI that does not say where the document comes from). The code-action
        listing and `modelrouter.run` both ask this, so they can never disagree."""
        hit = self._local_only.get(uri)
        if hit is None:
            from modelrouter.privacy import document_local_only_reason

            rules = self.rules
            # No rules: nothing is sent anyway; the listing shows why.
            hit = rules is not None and (
                document_local_only_reason(
                    uri, rules, workspace=str(self.root) if self.root else None
                )
                is not None
            )
            self._local_only[uri] = hit
        return hit

    def forget_plans(self) -> None:
        """Drop cached plans (rules reloaded, or a job changed health or budgets)."""
        self._plans.clear()
        self._local_only.clear()

    @property
    def ledger(self) -> Any:
        """The usage ledger, or None when it cannot be opened."""
        if self._ledger is None:
            try:
                from modelrouter.ledger import open_ledger

                # Chosen when first used; a changed `ledger:` applies after a restart.
                self._ledger = open_ledger(self.rules)
            except Exception as exc:
                log.warning("usage ledger unavailable: %s", exc)
                self._ledger = False
        return self._ledger or None

    @property
    def store(self) -> ProvenanceStore:
        """Provenance of model-written ranges."""
        if self._store is None:
            from modelrouter.paths import data_dir
            from modelrouter.provenance import ProvenanceStore

            self._store = ProvenanceStore(data_dir() / "provenance")
        return self._store

    @property
    def jobs(self) -> Jobs:
        """Running and finished model requests."""
        if self._jobs is None:
            from modelrouter.lsp.jobs import Jobs

            self._jobs = Jobs(self)
        return self._jobs

    @property
    def jobs_if_started(self) -> Jobs | None:
        """The job runner, only if it exists already."""
        return self._jobs

    def own_documents(self) -> None:
        """Hold open documents in our own model (LSP line breaks, change tracking) instead
        of pygls' text documents; called from `initialize`, once the workspace exists."""
        from modelrouter.lsp.documents import DocumentWorkspace

        workspace = DocumentWorkspace.replacing(self.protocol.workspace)
        workspace.listener = self._moved_text
        self.protocol._workspace = workspace

    def _moved_text(self, uri: str, start: Any, end: Any, new_end: Any) -> None:
        if self._store is not None:
            self._store.apply_change(uri, start, end, new_end)

    # --- settings and logging -------------------------------------------------------------

    def update_settings(self, raw: Any) -> None:
        """Take new client settings; a value of the wrong type is refused, kept as it was,
        and the user told which one."""
        for refused in self.settings.update(raw):
            log.warning("%s", refused)
            self.show(f"ModelRouter: {refused}", types.MessageType.Warning)

    def configure_logging(self) -> None:
        """Log to the client, and to the log file when one is set. Never to stdout."""
        root = logging.getLogger("modelrouter")
        root.setLevel(logging.INFO)
        if not any(isinstance(h, ClientLogHandler) for h in root.handlers):
            handler = ClientLogHandler(self, asyncio.get_running_loop())
            handler.setFormatter(logging.Formatter("%(message)s"))
            root.addHandler(handler)
        if self._file_handler is not None:
            root.removeHandler(self._file_handler)
            self._file_handler.close()
            self._file_handler = None
        if self.settings.log_file:
            try:
                path = Path(os.path.expanduser(self.settings.log_file))
                path.parent.mkdir(parents=True, exist_ok=True)
                handler = logging.FileHandler(path, encoding="utf-8")
            except OSError as exc:
                log.warning("cannot write log file %s: %s", self.settings.log_file, exc)
                return
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            root.addHandler(handler)
            self._file_handler = handler

    async def pull_configuration(self) -> None:
        """Read the "modelrouter" section via `workspace/configuration`, when supported."""
        caps = self.client_capabilities.workspace
        if not (caps and caps.configuration):
            return
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    types.ConfigurationParams(
                        items=[types.ConfigurationItem(section="modelrouter")]
                    )
                ),
                CLIENT_REPLY_SECONDS,
            )
        except Exception as exc:
            log.info("workspace/configuration failed: %s", exc)
            return
        if result:
            before = (self.settings.rules_file, self.settings.log_file)
            self.update_settings(result[0] or {})
            if self._cli_rules and not self.settings.rules_file:
                self.settings.rules_file = self._cli_rules
            if before[1] != self.settings.log_file:
                self.configure_logging()
            if before[0] != self.settings.rules_file:
                self.reload_rules()

    # --- rules ----------------------------------------------------------------------------

    def reload_rules(self) -> bool:
        """(Re)load the rules file; on errors keep the last good rules and publish the
        problems as diagnostics on the file(s) they point at. Returns True on success."""
        from modelrouter.rules import RulesError, find_rules_file, load_rules

        path = find_rules_file(self.settings.rules_file, self.root)
        self.rules_path = path
        self._rules_mtime = _mtime(path)
        try:
            rules = load_rules(path)
        except RulesError as exc:
            self.rules_errors = [str(p) for p in exc.problems]
            self._publish_rules_problems(exc.problems)
            kept = " — keeping the last good rules" if self.rules is not None else ""
            log.error("rules file has errors%s:\n%s", kept, "\n".join(self.rules_errors))
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"ModelRouter: {self.rules_errors[0]}"
                    + (
                        f" (+{len(self.rules_errors) - 1} more)"
                        if len(self.rules_errors) > 1
                        else ""
                    )
                    + kept,
                )
            )
            return False
        self.rules = rules
        self.rules_errors = []
        self.forget_plans()
        self._publish_rules_problems([])
        if self._engine is not None:
            self._engine.rules = rules
        log.info("rules loaded from %s", path)
        self.send_status()
        return True

    def _publish_rules_problems(self, problems: list[Any]) -> None:
        by_uri: dict[str, list[types.Diagnostic]] = {}
        for p in problems:
            uri = from_fs_path(str(Path(p.file).resolve())) or p.file
            line, col = max(0, p.line - 1), max(0, p.col - 1)
            by_uri.setdefault(uri, []).append(
                types.Diagnostic(
                    range=types.Range(
                        start=types.Position(line=line, character=col),
                        end=types.Position(line=line, character=col + 1),
                    ),
                    message=p.message + (f" ({p.hint})" if p.hint else ""),
                    severity=types.DiagnosticSeverity.Error,
                    source="modelrouter",
                )
            )
        for uri in self._rules_problem_uris - by_uri.keys():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
        for uri, diags in by_uri.items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diags)
            )
        self._rules_problem_uris = set(by_uri)

    def rules_changed_on_disk(self) -> bool:
        """Whether the rules file's modification time moved since the last load."""
        return self.rules_path is not None and _mtime(self.rules_path) != self._rules_mtime

    def start_watching(self) -> None:
        """Poll the rules file so edits from any tool reload it (file watchers of clients
        are optional and often limited to the workspace)."""
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch())

    def stop_watching(self) -> None:
        """Stop polling the rules file."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(RULES_POLL_SECONDS)
            if self.rules_changed_on_disk():
                self.reload_rules()

    async def register_file_watcher(self) -> None:
        """Ask the client to report changes to the rules file, when it can."""
        caps = self.client_capabilities.workspace
        watched = caps.did_change_watched_files if caps else None
        if not (watched and watched.dynamic_registration) or self.rules_path is None:
            return
        pattern = str(self.rules_path.resolve()).replace("\\", "/")
        try:
            await asyncio.wait_for(
                self.client_register_capability_async(
                    types.RegistrationParams(
                        registrations=[
                            types.Registration(
                                id="modelrouter-rules",
                                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                    watchers=[types.FileSystemWatcher(glob_pattern=pattern)]
                                ),
                            )
                        ]
                    )
                ),
                CLIENT_REPLY_SECONDS,
            )
        except Exception as exc:
            log.info("client could not watch the rules file: %s", exc)

    # --- status ---------------------------------------------------------------------------

    def status(self) -> Status:
        """The payload of `modelrouter.status` and the `modelrouter/status` notification."""
        running = self._jobs.running_backend() if self._jobs else None
        return Status(
            working=running is not None,
            backend=running[0] if running else None,
            model=running[1] if running else None,
            last_backend=self.last_backend,
            last_model=self.last_model,
            spend_today_usd=self.spend_today(),
        )

    async def current_status(self) -> Status:
        """`status()` for a request: the spend freshly read when the ledger answers within
        STATUS_READ_WAIT_S, else the last value (a locked ledger must not hold the reply)."""
        self.spend_today()  # starts a read unless one is running
        if self._spend_reading is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._spend_reading), STATUS_READ_WAIT_S)
        return self.status()

    def spend_today(self) -> float:
        """Spend since local midnight as last read from the ledger (0 without one).

        Never reads on the event loop: it starts a read in a worker thread and returns the
        last value; when the new one differs, the status is sent again.
        """
        ledger = self._ledger or None
        if ledger is None:
            return 0.0
        if self._spend_reading is None or self._spend_reading.done():
            with contextlib.suppress(RuntimeError):  # no running loop: keep the last value
                self._spend_reading = asyncio.get_running_loop().create_task(
                    self._read_spend(ledger)
                )
        return self._spend_today

    async def _read_spend(self, ledger: Any) -> None:
        now = time.localtime()
        midnight = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, -1))
        try:
            spend = round(await ledger.aspend_since(midnight), 6)
        except Exception:
            return
        if spend != self._spend_today:
            self._spend_today = spend
            self.send_status()

    def send_status(self) -> None:
        """Notify the client of the current status."""
        try:
            self.protocol.notify(STATUS_NOTIFICATION, self.status())
        except Exception as exc:
            log.debug("status notification failed: %s", exc)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """`window/showMessage`."""
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))


def _plain(obj: Any) -> Any:
    """JSON-ready form of an lsprotocol object, as lsprotocol's converter makes it (camelCase
    names, default-valued optional fields left out) but without compiling a cattrs function
    per class: the `initialize` response would otherwise pay for compiling dozens of them
    before the editor hears back, which is most of a pygls server's start-up beyond imports.
    """
    if attrs.has(type(obj)):
        cls = type(obj)
        out = {}
        for a in attrs.fields(cls):
            value = getattr(obj, a.name)
            default = a.default.factory() if isinstance(a.default, attrs.Factory) else a.default
            if value == default and not is_special_property(cls, a.name):
                continue
            name = a.name[:-1] if a.name.endswith("_") else a.name
            head, *rest = name.split("_")
            out[head + "".join(p.title() for p in rest)] = _plain(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def converter_factory() -> Any:
    """pygls' converter, with the fast path for the `initialize` response."""
    converter = default_converter()
    converter.register_unstructure_hook(types.ServerCapabilities, _plain)
    converter.register_unstructure_hook(types.InitializeResult, _plain)
    return converter


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None
