"""The built-in job handlers: inference and embedding, as pure functions over `LocalRuntime`.

The worker process (`citrate_compute.worker`) calls `handler(ctx) -> bytes` with the job's input
document (already fetched and verified against its content hash) and returns the output
document. Both documents are JSON; the output is canonical (sorted keys, no spaces, UTF-8) so
that the same provider software gives the same bytes for the same job, and verification can
compare hashes.

Input documents:

- inference: `{"messages": [{"role": "user", "content": "..."}], "max_tokens": 64,
  "temperature": 0, "seed": 0}`, or `"prompt": "..."` instead of `messages`; optional
  `top_p` and `stop`. Defaults: 256 tokens, temperature 0, the task's seed.
- embedding: `{"input": ["text", ...]}` or `{"input": "text"}`.

Output documents:

- inference: `{"completion_tokens", "finish_reason", "model", "prompt_tokens", "text"}`
- embedding: `{"dims": 384, "embeddings": [[...]], "model"}`, floats rounded to 6 decimals.

Every wrong document is refused with `MalformedInput` naming the field and what to send.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from citrate_compute.errors import ComputeValueError, MalformedInput, UnknownModel
from citrate_compute.runtime import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_MAX_TOKENS,
    EMBEDDING_ALIASES,
    EMBEDDING_DIMS,
    EMBEDDING_MAX_TOKENS,
    MAX_EMBED_TEXTS,
    MAX_SEED,
    N_CTX,
    ChatResult,
    LocalRuntime,
    _check_stop,
    _Sampling,
    normalize_messages,
)

#: Largest input document a handler reads (the runtime's own limits bind well before this).
MAX_INPUT_BYTES = 4 * 1024 * 1024
#: Decimals kept of each embedding float: the output is the same on every run of the same
#: software, and small enough to hash and store.
EMBEDDING_DECIMALS = 6
_INFERENCE_KEYS = frozenset(
    {"messages", "prompt", "max_tokens", "temperature", "top_p", "seed", "stop"}
)
_EMBEDDING_KEYS = frozenset({"input"})
_PROGRESS_STEP = 0.05


class HandlerContext(Protocol):
    """What a handler gets from the worker (`citrate_compute.worker.HandlerContext`)."""

    @property
    def input(self) -> bytes: ...

    @property
    def model(self) -> str: ...

    @property
    def seed(self) -> int: ...

    @property
    def workdir(self) -> Path: ...

    @property
    def report_progress(self) -> Callable[[float], None]: ...


def canonical_json(obj: Any) -> bytes:
    """`obj` as canonical JSON bytes: sorted keys, no spaces, UTF-8 (not ASCII escapes)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _document(raw: bytes, job: str, keys: frozenset[str], example: str) -> dict[str, Any]:
    if len(raw) > MAX_INPUT_BYTES:
        raise MalformedInput(
            f"the {job} input is {len(raw)} bytes; at most {MAX_INPUT_BYTES}",
            hint="send less text per job",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(
            f"the {job} input is not UTF-8 text (byte {exc.start} is invalid)",
            hint=f"the input must be a UTF-8 JSON object such as {example}",
        ) from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise MalformedInput(
            f"the {job} input is not JSON: {exc}",
            hint=f"the input must be a JSON object such as {example}",
        ) from None
    if not isinstance(doc, dict):
        raise MalformedInput(
            f"the {job} input must be a JSON object, got {_json_type(doc)}",
            hint=f"send a JSON object such as {example}",
        )
    unknown = sorted(set(doc) - keys)
    if unknown:
        raise MalformedInput(
            f"the {job} input has unknown fields: {', '.join(f'`{k}`' for k in unknown)}",
            hint=f"the fields are {', '.join(f'`{k}`' for k in sorted(keys))}",
        )
    return doc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not a JSON number")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _integer(doc: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInput(f"`{key}` must be an integer, got {_json_type(value)}")
    if not lo <= value <= hi:
        raise MalformedInput(f"`{key}` {value} is outside {lo}..{hi}")
    return value


def _number(doc: dict[str, Any], key: str, default: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedInput(f"`{key}` must be a number, got {_json_type(value)}")
    return float(value)


def _runtime_for(ctx: HandlerContext, kind: str) -> LocalRuntime:
    """The runtime that serves the job's model (a model id, or a GGUF path for inference)."""
    # The provider fixes the thread count (the same job must give the same bytes on its
    # machines): the task's `threads`, which the sandbox also exports as OMP_NUM_THREADS.
    threads = getattr(ctx, "threads", None)
    if not isinstance(threads, int) or threads < 1:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else None
    device = str(getattr(ctx, "device", "cpu0"))
    torch_device = f"cuda:{device[3:] or 0}" if device.startswith("gpu") else "cpu"
    name = ctx.model.strip()
    if kind == "inference":
        if name in ("", DEFAULT_CHAT_MODEL):
            return LocalRuntime(n_threads=threads)
        if name.endswith(".gguf") or "/" in name:
            if not Path(name).expanduser().is_file():
                # The provider's configuration is wrong, not the requester's document.
                raise UnknownModel(
                    f"the model file `{name}` configured for this job does not exist",
                    hint="fix the provider's model configuration",
                )
            return LocalRuntime(gguf=name, n_threads=threads)
        raise UnknownModel(
            f"the inference model `{name}` is not served by this provider",
            hint=f"use `{DEFAULT_CHAT_MODEL}` or a GGUF file the provider configured",
        )
    if name == "" or name.lower() in EMBEDDING_ALIASES:
        return LocalRuntime(n_threads=threads, embedding_device=torch_device)
    raise UnknownModel(
        f"the embedding model `{name}` is not served by this provider",
        hint=f"use `{DEFAULT_EMBEDDING_MODEL}`",
    )


def _as_malformed(exc: ComputeValueError) -> MalformedInput:
    return MalformedInput(exc.message, hint=exc.hint)


def _inference_request(raw: bytes, default_seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked inference document and its sampling settings (no model needed)."""
    example = '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}'
    doc = _document(raw, "inference", _INFERENCE_KEYS, example)
    has_messages, has_prompt = "messages" in doc, "prompt" in doc
    if has_messages == has_prompt:
        raise MalformedInput(
            "the inference input needs exactly one of `messages` and `prompt`"
            + (" (it has both)" if has_messages else ""),
            hint=f'send {example}, or {{"prompt": "text to continue"}}',
        )
    settings: dict[str, Any] = {
        # Never more than the context window: such a job could only fail after assignment.
        "max_tokens": _integer(doc, "max_tokens", DEFAULT_MAX_TOKENS, 1, N_CTX - 1),
        "temperature": _number(doc, "temperature", 0.0),
        "top_p": _number(doc, "top_p", 1.0),
        "seed": _integer(doc, "seed", default_seed, 0, MAX_SEED),
    }
    if "stop" in doc:
        stop = doc["stop"]
        if not isinstance(stop, str | list):
            raise MalformedInput(
                f"`stop` must be a string or an array of strings, got {_json_type(stop)}"
            )
        settings["stop"] = stop
    if has_prompt and not isinstance(doc["prompt"], str):
        raise MalformedInput(f"`prompt` must be a string, got {_json_type(doc['prompt'])}")
    try:
        # The same checks the runtime makes, so a provider can refuse before it bids.
        _Sampling.check(
            settings["max_tokens"], settings["temperature"], settings["top_p"],
            settings["seed"], 0.0, 0.0,
        )  # fmt: skip
        _check_stop(settings.get("stop"))
        if has_messages:
            normalize_messages(doc["messages"])
    except ComputeValueError as exc:
        raise _as_malformed(exc) from None
    return doc, settings


def _embedding_texts(raw: bytes) -> list[str]:
    """The checked texts of an embedding document (no model needed)."""
    example = '{"input": ["first text", "second text"]}'
    doc = _document(raw, "embedding", _EMBEDDING_KEYS, example)
    if "input" not in doc:
        raise MalformedInput("the embedding input has no `input`", hint=f"send {example}")
    texts = doc["input"]
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list):
        raise MalformedInput(
            f"`input` must be a string or an array of strings, got {_json_type(texts)}",
            hint=f"send {example}",
        )
    if not texts:
        raise MalformedInput("`input` is an empty array", hint="send at least one text")
    if len(texts) > MAX_EMBED_TEXTS:
        raise MalformedInput(
            f"`input` has {len(texts)} texts; at most {MAX_EMBED_TEXTS} per job",
            hint="split them over several jobs",
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise MalformedInput(f"`input[{i}]` must be a string, got {_json_type(text)}")
        if not text:
            raise MalformedInput(f"`input[{i}]` is an empty string", hint="leave it out")
    _check_word_pieces(texts)
    return texts


@functools.cache
def _minilm_tokenizer() -> Any:
    """MiniLM's own tokenizer (the `tokenizers` library, no model weights), or None."""
    try:
        from tokenizers import Tokenizer

        from citrate_compute.runtime import _minilm_path

        tokenizer = Tokenizer.from_file(str(_minilm_path() / "tokenizer.json"))
    except Exception:  # not installed or unreadable: the handler itself will say so
        return None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _check_word_pieces(texts: list[str]) -> None:
    """Refuse texts MiniLM cannot read whole, as the runtime will (without loading PyTorch)."""
    tokenizer = _minilm_tokenizer()
    if tokenizer is None:
        return
    for i, encoding in enumerate(tokenizer.encode_batch(texts)):
        if len(encoding.ids) > EMBEDDING_MAX_TOKENS:
            raise MalformedInput(
                f"`input[{i}]` is {len(encoding.ids)} word pieces; "
                f"`{DEFAULT_EMBEDDING_MODEL}` reads at most {EMBEDDING_MAX_TOKENS}",
                hint="split the text into shorter passages (about 150 words each)",
            )


def validate_input(job_type: int, raw: bytes) -> None:
    """Check a job's input document without loading a model, as the handler will.

    A provider calls this before it bids: a job it would have to fail after winning it can
    only end in a timeout (the ComputeMarket has no way to decline an assigned job), which
    slashes the provider.

    Raises:
        MalformedInput: the document is wrong (the message names the field).
        UnsupportedJobType: no built-in handler runs this job type.
    """
    if job_type == 0:
        _inference_request(raw, 0)
    elif job_type == 1:
        _embedding_texts(raw)
    else:
        from citrate_compute.errors import UnsupportedJobType

        raise UnsupportedJobType(
            f"job type {job_type} has no built-in handler",
            hint="only inference (0) and embedding (1) jobs run on the built-in runtime",
        )


def inference(ctx: HandlerContext) -> bytes:
    """Generate text for an inference job; returns the canonical output document.

    Raises:
        MalformedInput: the input document is wrong (the message names the field).
        UnknownModel: the job's model is not served here.
        RuntimeUnavailable: llama.cpp or the model is not installed.
    """
    doc, settings = _inference_request(ctx.input, ctx.seed)
    has_messages = "messages" in doc
    runtime = _runtime_for(ctx, "inference")
    ctx.report_progress(0.0)
    try:
        if has_messages:
            stream = runtime.chat_stream(doc["messages"], **settings)
        else:
            stream = runtime.complete_stream(doc["prompt"], **settings)
    except UnknownModel:
        raise
    except ComputeValueError as exc:
        raise _as_malformed(exc) from None
    result = _run(stream, settings["max_tokens"], ctx.report_progress)
    ctx.report_progress(1.0)
    return canonical_json(
        {
            "model": result.model,
            "text": result.text,
            "finish_reason": result.finish_reason,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
        }
    )


def _run(stream: Any, max_tokens: int, report: Callable[[float], None]) -> ChatResult:
    reported = 0.0
    with stream:
        for done, _ in enumerate(stream, start=1):
            # A delta is usually one token; this is a progress hint, not a count.
            fraction = min(done / max_tokens, 0.99)
            if fraction - reported >= _PROGRESS_STEP:
                report(fraction)
                reported = fraction
    result: ChatResult = stream.result
    return result


def embedding(ctx: HandlerContext) -> bytes:
    """Embed the texts of an embedding job; returns the canonical output document.

    Raises:
        MalformedInput: the input document is wrong (the message names the field).
        UnknownModel: the job's model is not served here.
        RuntimeUnavailable: torch, sentence-transformers or the model is not installed.
    """
    texts = _embedding_texts(ctx.input)
    runtime = _runtime_for(ctx, "embedding")
    ctx.report_progress(0.0)
    try:
        result = runtime.embeddings(texts)
    except UnknownModel:
        raise
    except ComputeValueError as exc:
        raise _as_malformed(exc) from None
    ctx.report_progress(1.0)
    return canonical_json(
        {
            "model": result.model,
            "dims": EMBEDDING_DIMS,
            "embeddings": [[round(x, EMBEDDING_DECIMALS) for x in v] for v in result.vectors],
        }
    )


__all__ = [
    "EMBEDDING_DECIMALS",
    "MAX_INPUT_BYTES",
    "HandlerContext",
    "canonical_json",
    "embedding",
    "inference",
    "validate_input",
]
