"""The node's AI endpoints: an OpenAI-compatible REST API and two JSON-RPC methods, answered by
the local inference runtime of `citrate-compute` (llama.cpp and MiniLM) in the node's process.

REST, on the JSON-RPC port (the official `openai` client works against `http://HOST:PORT/v1`;
the node checks no API key, as its JSON-RPC checks none, so any key string will do):

- ``GET /v1/models`` and ``GET /v1/models/{id}``: the chat and the embedding model. Answered
  without loading any weights.
- ``POST /v1/chat/completions``: OpenAI's request and response; ``"stream": true`` answers with
  server-sent events as OpenAI sends them (``chat.completion.chunk`` objects whose
  ``choices[0].delta`` carries the text, a last chunk with the ``finish_reason``, a usage chunk
  when ``stream_options.include_usage`` is set, then ``data: [DONE]``). An unset temperature is
  1, as in OpenAI's API; send 0 for greedy, repeatable answers.
- ``POST /v1/embeddings``: a string or a list of strings; ``encoding_format`` ``float`` or
  ``base64`` (little-endian float32, which the `openai` client asks for by default).

Errors have OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: 400 for a bad
request, 404 for an unknown model or endpoint, 413/415 as for JSON-RPC, 429 when too many AI
requests wait, 503 when the runtime (`citrate-compute`, llama-cpp-python, PyTorch or a model
package) is not installed, with the command that installs it. Never a made-up answer.

JSON-RPC: ``citrate_chatCompletion(request)`` answers what the REST endpoint answers (without
streaming); ``citrate_getTextEmbedding(text_or_texts[, model])`` the vector, or the list of
vectors.

The rules of the JSON-RPC port hold here too: the Host allowlist, CORS (preflights also allow
the ``Authorization`` header browsers' OpenAI clients send), ``application/json`` bodies only,
and the body-size limit. `citrate-compute` is imported on the first AI request, and models load
on their first use, so the node starts as fast without it. Generation runs on a small thread
pool of its own, never on the event loop (block production and RPC go on) nor on the loop's
default executor (which the chain's writes use); the runtime serialises calls on each model.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import logging
import struct
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from aiohttp import web

from citrate_node.errors import INVALID_PARAMS, SERVER_ERROR, RpcError

log = logging.getLogger("citrate.ai")

#: AI requests in progress or waiting at once; more get 429.
MAX_PENDING = 16
#: Threads per model kind (chat, embedding): a model runs one call at a time, so requests for
#: one kind queue on its own pool and never take the other kind's thread.
WORKERS = 1
INSTALL_HINT = "pip install 'citrate-node[ai]' (citrate-compute with its `local` and `ml` extras)"
OWNED_BY = "citrate"
_IGNORED_CHAT_FIELDS = frozenset(
    {
        "user",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "prompt_cache_key",
        "safety_identifier",
    }
)
_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stream",
        "stream_options",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "logit_bias",
    }
    | _IGNORED_CHAT_FIELDS
)
_EMBEDDING_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


class AiError(Exception):
    """An error answer of the AI endpoints, in OpenAI's terms (HTTP status, type, param, code)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def to_openai(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_rpc(self) -> RpcError:
        """The JSON-RPC error: -32602 for what the caller sent, -32000 for the node's state."""
        code = INVALID_PARAMS if self.status < 429 else SERVER_ERROR
        data = {"status": self.status, "type": self.type, "param": self.param, "code": self.code}
        return RpcError(code, self.message, data)


def _bad(message: str, param: str | None = None, code: str | None = None) -> AiError:
    return AiError(400, message, param=param, code=code)


def _unavailable(message: str) -> AiError:
    return AiError(503, message, type="server_error", code="runtime_unavailable")


def _compute_error(exc: Exception) -> AiError:
    """Map an error of citrate-compute to the answer the client gets."""
    from citrate_compute.errors import ComputeValueError, RuntimeUnavailable, UnknownModel

    message = getattr(exc, "message", str(exc))
    hint = getattr(exc, "hint", None)
    text = f"{message} (hint: {hint})" if hint else message
    if isinstance(exc, UnknownModel):
        return AiError(404, text, param="model", code="model_not_found")
    if isinstance(exc, ComputeValueError):
        return _bad(text)
    if isinstance(exc, RuntimeUnavailable):
        return _unavailable(text)
    log.error("the local runtime failed: %s", text)
    return AiError(500, f"the local runtime failed: {message}", type="server_error")


# ------------------------------------------------------------------------------ request parsing


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _optional_int(body: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"`{key}` must be an integer, got {_type_name(value)}", key)
    if not lo <= value <= hi:
        raise _bad(f"`{key}` is {value}; it must be between {lo} and {hi}", key)
    return value


def _optional_number(
    body: Mapping[str, Any], key: str, lo: float, hi: float, default: float
) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"`{key}` must be a number, got {_type_name(value)}", key)
    if not lo <= value <= hi:
        raise _bad(f"`{key}` is {value}; it must be between {lo:g} and {hi:g}", key)
    return float(value)


def _model_name(body: Mapping[str, Any], default: str | None) -> str | None:
    model = body.get("model")
    if model is None:
        if default is None:
            raise _bad("you must provide a model parameter (`model`): see GET /v1/models", "model")
        return default
    if not isinstance(model, str) or not model:
        raise _bad(f"`model` must be a non-empty string, got {_type_name(model)}", "model")
    return model


class ChatRequest:
    """A checked chat completion request."""

    def __init__(self, body: Any, *, model_required: bool = True) -> None:
        from citrate_compute.errors import ComputeValueError
        from citrate_compute.runtime import MAX_SEED, MAX_STOP, normalize_messages

        if not isinstance(body, dict):
            raise _bad(f"the request body must be a JSON object, got {_type_name(body)}")
        unknown = sorted(set(body) - _CHAT_FIELDS)
        if unknown:
            raise _bad(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
        self.model = _model_name(body, None if model_required else "")
        if "messages" not in body:
            raise _bad("`messages` is required: a list of {role, content} objects", "messages")
        try:
            self.messages = normalize_messages(body["messages"])
        except ComputeValueError as exc:
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            raise _bad(f"{exc.message}{hint}", "messages") from None
        for key in ("max_completion_tokens", "max_tokens"):
            self.max_tokens = _optional_int(body, key, 1, 1 << 20)
            if self.max_tokens is not None:
                break
        self.temperature = _optional_number(body, "temperature", 0.0, 2.0, 1.0)
        self.top_p = _optional_number(body, "top_p", 0.0, 1.0, 1.0)
        if self.top_p == 0.0:
            raise _bad("`top_p` must be above 0", "top_p")
        self.presence_penalty = _optional_number(body, "presence_penalty", -2.0, 2.0, 0.0)
        self.frequency_penalty = _optional_number(body, "frequency_penalty", -2.0, 2.0, 0.0)
        self.seed = _optional_int(body, "seed", 0, MAX_SEED)
        n = _optional_int(body, "n", 1, 128)
        if n not in (None, 1):
            raise _bad("`n` must be 1: the local runtime makes one choice per request", "n")
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise _bad(f"`stream` must be a boolean, got {_type_name(stream)}", "stream")
        self.stream = bool(stream)
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise _bad("`stream_options` must be an object", "stream_options")
        include = (options or {}).get("include_usage")
        if include is not None and not isinstance(include, bool):
            raise _bad("`stream_options.include_usage` must be a boolean", "stream_options")
        self.include_usage = bool(include)
        stop = body.get("stop")
        if stop is not None:
            stops = [stop] if isinstance(stop, str) else stop
            if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
                raise _bad("`stop` must be a non-empty string or a list of them", "stop")
            if len(stops) > MAX_STOP:
                raise _bad(f"`stop` has {len(stops)} sequences; at most {MAX_STOP}", "stop")
        self.stop: str | list[str] | None = stop
        if body.get("logprobs"):
            raise _bad("`logprobs` is not supported by the local runtime", "logprobs")
        if body.get("top_logprobs") is not None:
            raise _bad("`top_logprobs` is not supported by the local runtime", "top_logprobs")
        if body.get("logit_bias"):
            raise _bad("`logit_bias` is not supported by the local runtime", "logit_bias")
        for key in ("tools", "functions"):
            if body.get(key):
                raise _bad(f"`{key}` (tool calling) is not supported by the local runtime", key)
        for key in ("tool_choice", "function_call"):
            if body.get(key) not in (None, "none"):
                raise _bad(f"`{key}` is not supported by the local runtime", key)
        fmt = body.get("response_format")
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
            raise _bad(
                'only `response_format` {"type": "text"} is supported by the local runtime',
                "response_format",
            )

    def settings(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }


def _embedding_texts(value: Any, param: str = "input") -> tuple[list[str], bool]:
    """The texts to embed and whether one string (not a list) was sent."""
    if isinstance(value, str):
        if not value:
            raise _bad(f"`{param}` is an empty string: send text to embed", param)
        return [value], True
    if not isinstance(value, list):
        raise _bad(
            f"`{param}` must be a string or a list of strings, got {_type_name(value)}", param
        )
    if not value:
        raise _bad(f"`{param}` is an empty list: send at least one text", param)
    for i, item in enumerate(value):
        if isinstance(item, int | list) and not isinstance(item, bool):
            raise _bad(
                f"`{param}` holds token ids; this node's embedding model takes text only",
                param,
            )
        if not isinstance(item, str):
            raise _bad(f"`{param}[{i}]` must be a string, got {_type_name(item)}", param)
        if not item:
            raise _bad(f"`{param}[{i}]` is an empty string: leave it out", param)
    return value, False


# ------------------------------------------------------------------------------ the service


class AiService:
    """The runtime behind the endpoints, its thread pool, and the count of requests in flight.

    Args:
        gguf: a GGUF file to serve instead of the default chat model.
        n_threads: CPU threads for llama.cpp and PyTorch (None: their defaults; llama.cpp's
            takes half the cores, leaving the rest to the chain).
        max_pending: AI requests in progress or waiting at once before 429.
    """

    def __init__(
        self,
        *,
        gguf: str | None = None,
        n_threads: int | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.gguf = gguf
        self.n_threads = n_threads
        self.max_pending = max_pending
        self._runtime: Any = None
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._pending = 0
        self._closing = threading.Event()

    # -- plumbing ---------------------------------------------------------------------------

    def runtime(self) -> Any:
        """The `citrate_compute.runtime.LocalRuntime` (created on first use; loads nothing).

        Raises:
            AiError: 503 when citrate-compute is not installed.
        """
        with self._lock:
            if self._runtime is None:
                try:
                    module = importlib.import_module("citrate_compute.runtime")
                except ImportError:
                    raise _unavailable(
                        "the node's AI endpoints need the citrate-compute package, which is not "
                        f"installed (hint: {INSTALL_HINT})"
                    ) from None
                self._runtime = module.LocalRuntime(gguf=self.gguf, n_threads=self.n_threads)
            return self._runtime

    def _executor(self, kind: str) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(kind)
            if pool is None:
                pool = self._pools[kind] = ThreadPoolExecutor(
                    WORKERS, thread_name_prefix=f"citrate-ai-{kind}"
                )
            return pool

    async def _run(self, kind: str, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor(kind), fn)

    def _acquire(self) -> None:
        # Counted on the event loop's thread only, so no lock.
        if self._pending >= self.max_pending:
            raise AiError(
                429,
                f"the node is busy with {self._pending} AI requests; retry in a moment",
                type="rate_limit_error",
                code="rate_limit_exceeded",
            )
        self._pending += 1

    def _release(self) -> None:
        self._pending -= 1

    @property
    def closing(self) -> threading.Event:
        """Set when the node shuts down: running generations stop at their next token."""
        return self._closing

    def close(self) -> None:
        """Stop running generations (at their next token) and the thread pool."""
        self._closing.set()
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- models -----------------------------------------------------------------------------

    def model_objects(self) -> list[dict[str, Any]]:
        """OpenAI model objects of the models that can run here (no weights are loaded).

        Raises:
            AiError: 503 when none can (the message says what to install).
        """
        infos = self.runtime().models()
        available = [m for m in infos if m.available]
        if not available:
            reasons = "; ".join(f"{m.id}: {m.reason}" for m in infos)
            raise _unavailable(f"no local model can run on this node ({reasons})")
        return [
            {
                "id": m.id,
                "object": "model",
                "created": 0,
                "owned_by": OWNED_BY,
                "kind": m.kind,
                "context_length": m.context_length,
                **({"dims": m.dims} if m.dims is not None else {}),
            }
            for m in available
        ]

    def model_object(self, model_id: str) -> dict[str, Any]:
        for model in self.model_objects():
            if model["id"] == model_id:
                return model
        raise self._not_found(model_id)

    def _not_found(self, model: str) -> AiError:
        served = ", ".join(f"`{m.id}`" for m in self.runtime().models())
        return AiError(
            404,
            f"The model `{model}` does not exist on this node; it serves {served}",
            param="model",
            code="model_not_found",
        )

    # -- chat -------------------------------------------------------------------------------

    def _check_chat_model(self, model: str | None) -> Any:
        runtime = self.runtime()
        if model:
            try:
                kind = runtime.model_kind(model)
            except Exception as exc:
                raise self._not_found(model) from exc
            if kind != "chat":
                raise _bad(
                    f"`{model}` is an embedding model; use `{runtime.chat_model_id}` for chat",
                    "model",
                )
        return runtime

    async def _open_stream(self, request: ChatRequest) -> Any:
        runtime = self._check_chat_model(request.model)
        try:
            # Loads the model on first use and renders the prompt: off the event loop too.
            return await self._run(
                "chat", lambda: runtime.chat_stream(request.messages, **request.settings())
            )
        except AiError:
            raise
        except Exception as exc:
            raise _compute_error(exc) from None

    async def completion(self, request: ChatRequest) -> dict[str, Any]:
        """The `chat.completion` object for a non-streaming request."""
        self._acquire()
        try:
            stream = await self._open_stream(request)
            cancel = threading.Event()
            try:
                result = await self._run("chat", lambda: self._drain(stream, cancel))
            except asyncio.CancelledError:
                cancel.set()
                raise
            except AiError:
                raise
            except Exception as exc:
                raise _compute_error(exc) from None
        finally:
            self._release()
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": result.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result),
        }

    def _drain(self, stream: Any, cancel: threading.Event) -> Any:
        with stream:
            for _ in stream:
                if cancel.is_set() or self._closing.is_set():
                    raise AiError(503, "the request was cancelled", type="server_error")
        return stream.result

    async def completion_chunks(self, request: ChatRequest) -> ChunkStream:
        """The `chat.completion.chunk` objects of a streaming request, as a `ChunkStream`.

        Returns once everything is checked and the model is loaded, so errors are raised here,
        before the first chunk. Close the stream (`aclose`) whether or not it was read.
        """
        self._acquire()
        try:
            stream = await self._open_stream(request)
        except BaseException:
            self._release()
            raise
        return ChunkStream(self, request, stream)

    # -- embeddings -------------------------------------------------------------------------

    async def embed(self, texts: list[str], model: str | None) -> Any:
        """`EmbeddingResult` of `texts` with `model` (None: the embedding model)."""
        runtime = self.runtime()
        if model is not None:
            try:
                kind = runtime.model_kind(model)
            except Exception as exc:
                raise self._not_found(model) from exc
            if kind != "embedding":
                raise _bad(
                    f"`{model}` is a chat model; use `{runtime.embedding_model_id}` for embeddings",
                    "model",
                )
        self._acquire()
        try:
            return await self._run("embedding", lambda: runtime.embeddings(texts))
        except AiError:
            raise
        except Exception as exc:
            raise _compute_error(exc) from None
        finally:
            self._release()

    async def embeddings_response(self, body: Any) -> dict[str, Any]:
        """The answer to a `/v1/embeddings` request body."""
        if not isinstance(body, dict):
            raise _bad(f"the request body must be a JSON object, got {_type_name(body)}")
        unknown = sorted(set(body) - _EMBEDDING_FIELDS)
        if unknown:
            raise _bad(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
        model = _model_name(body, None)
        if "input" not in body:
            raise _bad("`input` is required: a string or a list of strings", "input")
        texts, _ = _embedding_texts(body["input"])
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise _bad(f"`encoding_format` is {fmt!r}; use `float` or `base64`", "encoding_format")
        dims = _optional_int(body, "dimensions", 1, 1 << 16)
        result = await self.embed(texts, model)
        if dims is not None and dims != result.dims:
            raise _bad(
                f"`dimensions` is {dims}; `{result.model}` makes {result.dims}-dimensional "
                "embeddings only",
                "dimensions",
            )
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, fmt)}
            for i, vector in enumerate(result.vectors)
        ]
        usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
        return {"object": "list", "data": data, "model": result.model, "usage": usage}

    # -- JSON-RPC ---------------------------------------------------------------------------

    async def rpc_chat_completion(self, body: Any) -> dict[str, Any]:
        try:
            request = ChatRequest(body, model_required=False)
            if request.stream:
                raise _bad(
                    "citrate_chatCompletion does not stream: use POST /v1/chat/completions "
                    'with "stream": true',
                    "stream",
                )
            return await self.completion(request)
        except AiError as err:
            raise err.to_rpc() from None
        except ImportError:
            raise _missing_compute().to_rpc() from None

    async def rpc_text_embedding(self, value: Any, model: Any) -> Any:
        try:
            if model is not None and (not isinstance(model, str) or not model):
                raise _bad(f"the model must be a non-empty string, got {_type_name(model)}")
            texts, single = _embedding_texts(value, "text")
            result = await self.embed(texts, model)
        except AiError as err:
            raise err.to_rpc() from None
        except ImportError:
            raise _missing_compute().to_rpc() from None
        return result.vectors[0] if single else result.vectors


def _missing_compute() -> AiError:
    return _unavailable(
        "the node's AI endpoints need the citrate-compute package, which is not installed "
        f"(hint: {INSTALL_HINT})"
    )


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(result: Any) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _encode(vector: list[float], fmt: str) -> Any:
    if fmt == "float":
        return vector
    # What OpenAI sends for base64: the float32 values, little-endian.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


class ChunkStream:
    """The chunks of one streaming chat completion; a thread of the service's pool generates.

    Iterate with `async for`; `aclose()` stops the generation (at its next token) and frees
    the request's slot, whether the stream was read, partly read, or not at all.
    """

    def __init__(self, service: AiService, request: ChatRequest, stream: Any) -> None:
        self._service = service
        self._request = request
        self._stream = stream
        self._cancel = threading.Event()
        self._future: asyncio.Future[None] | None = None
        self._closed = False
        self._gen = self._generate()
        runtime = service.runtime()
        self._base = {
            "id": _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": runtime.chat_model_id,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra = {"usage": None} if self._request.include_usage else {}
        return {**self._base, "choices": [choice], **extra}

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._gen

    async def _generate(self) -> AsyncGenerator[dict[str, Any], None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stream, cancel, closing = self._stream, self._cancel, self._service.closing

        def put(item: tuple[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                with stream:
                    for delta in stream:
                        if cancel.is_set() or closing.is_set():
                            put(("error", AiError(503, "generation stopped", type="server_error")))
                            return
                        put(("delta", delta))
                put(("done", stream.result))
            except Exception as exc:  # reported in the stream, where OpenAI reports errors
                put(("error", exc))

        self._future = loop.run_in_executor(self._service._executor("chat"), produce)
        yield self._chunk({"role": "assistant", "content": ""}, None)
        while True:
            kind, value = await queue.get()
            if kind == "delta":
                yield self._chunk({"content": value}, None)
            elif kind == "done":
                yield self._chunk({}, value.finish_reason)
                if self._request.include_usage:
                    yield {**self._base, "choices": [], "usage": _usage(value)}
                return
            else:
                raise value if isinstance(value, AiError) else _compute_error(value)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel.set()
        try:
            await self._gen.aclose()
            if self._future is None:
                self._stream.close()  # never started: no thread is running it
            else:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._future)
        finally:
            self._service._release()


_default: AiService | None = None


def default_service() -> AiService:
    """A process-wide service for callers that have none of their own."""
    global _default
    if _default is None:
        _default = AiService()
    return _default


# ------------------------------------------------------------------------------ HTTP


class OpenAiApi:
    """The `/v1/...` routes, with the JSON-RPC port's Host, CORS and body-size rules."""

    def __init__(
        self,
        service: AiService,
        *,
        host_ok: Callable[[web.Request], bool],
        cors_headers: Callable[[web.Request], dict[str, str]],
        max_body_bytes: int,
    ) -> None:
        self.service = service
        self._host_ok = host_ok
        self._cors_headers = cors_headers
        self._max_body = max_body_bytes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/v1/{tail:.*}", self.handle)

        async def close(_: web.Application) -> None:
            self.service.close()

        app.on_cleanup.append(close)

    def _error(self, request: web.Request, err: AiError) -> web.Response:
        return web.Response(
            status=err.status,
            body=orjson.dumps(err.to_openai()),
            content_type="application/json",
            headers=self._cors_headers(request),
        )

    def _json(self, request: web.Request, obj: Any) -> web.Response:
        return web.Response(
            body=orjson.dumps(obj),
            content_type="application/json",
            headers=self._cors_headers(request),
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            err = AiError(403, "invalid host specified", code="invalid_host")
            return web.Response(
                status=403, body=orjson.dumps(err.to_openai()), content_type="application/json"
            )
        if request.method == "OPTIONS":
            return self._preflight(request)
        path = "/" + request.match_info["tail"].rstrip("/")
        routes: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]]
        routes = {
            ("GET", "/models"): self._models,
            ("POST", "/chat/completions"): self._chat,
            ("POST", "/embeddings"): self._embeddings,
        }
        try:
            handler = routes.get((request.method, path))
            if handler is None and request.method == "GET" and path.startswith("/models/"):
                model_id = path[len("/models/") :]
                return self._json(request, self.service.model_object(model_id))
            if handler is None:
                methods = [m for (m, p) in routes if p == path]
                if methods:
                    raise AiError(
                        405,
                        f"{request.method} is not allowed on /v1{path}; use {methods[0]}",
                        code="method_not_allowed",
                    )
                raise AiError(
                    404,
                    f"/v1{path} is not an endpoint of this node: it serves /v1/models, "
                    "/v1/chat/completions and /v1/embeddings",
                    code="unknown_url",
                )
            return await handler(request)
        except AiError as err:
            return self._error(request, err)
        except ImportError:
            return self._error(request, _missing_compute())

    def _preflight(self, request: web.Request) -> web.Response:
        headers = self._cors_headers(request)
        if not headers:
            return web.Response(status=403)
        # Browsers' OpenAI clients send a bearer token and their own x-stainless-* headers.
        asked = request.headers.get("Access-Control-Request-Headers")
        headers["Access-Control-Allow-Headers"] = asked or "Content-Type, Authorization"
        headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return web.Response(status=204, headers=headers)

    async def _body(self, request: web.Request) -> Any:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise AiError(
                415,
                "invalid content type: send the request as application/json",
                code="unsupported_media_type",
            )
        length = request.content_length
        if length is not None and length > self._max_body:
            raise self._too_large(length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large(size)
            chunks.append(chunk)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as err:
            raise _bad(f"the request body is not valid JSON: {err}") from None

    def _too_large(self, size: int) -> AiError:
        return AiError(
            413,
            f"request body too large: {size} bytes (limit {self._max_body})",
            code="request_too_large",
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return self._json(request, {"object": "list", "data": self.service.model_objects()})

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return self._json(request, await self.service.embeddings_response(body))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        chat = ChatRequest(body)
        if not chat.stream:
            return self._json(request, await self.service.completion(chat))
        chunks = await self.service.completion_chunks(chat)
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    **self._cors_headers(request),
                }
            )
            await response.prepare(request)
            try:
                async for item in chunks:
                    await response.write(b"data: " + orjson.dumps(item) + b"\n\n")
            except AiError as err:
                # The headers are out: report in the stream, where the openai client looks.
                await response.write(b"data: " + orjson.dumps(err.to_openai()) + b"\n\n")
            else:
                await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            log.debug("the client of a chat completion stream went away")
        finally:
            await chunks.aclose()
        return response


__all__ = [
    "MAX_PENDING",
    "AiError",
    "AiService",
    "ChatRequest",
    "ChunkStream",
    "OpenAiApi",
    "default_service",
]
