"""TEST DOUBLES: small HTTP servers on 127.0.0.1 speaking the OpenAI and Anthropic wire formats.

These are not the real services. Each test scripts the answers (a queue of `Reply` objects,
served in order) and then inspects `server.requests` to assert exactly what the SDK sent
(headers, tools, schemas). When the queue is empty, `GET …/models` answers a model list and
anything else answers 500, so an unscripted request is visible in the test.

Reply kinds: `Json` (any status, body, extra headers), `Raw` (any bytes, e.g. HTML or broken
JSON), `Sse` (a server-sent event stream, optionally cut off before its end), `Hang` (never
answers until the server stops: for timeouts).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Json:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    body: bytes
    status: int = 200
    content_type: str = "text/html"


@dataclass(frozen=True)
class Sse:
    events: list[tuple[str | None, str]]  # (event name or None, data)
    truncate: bool = False  # close the connection without the stream's proper end


@dataclass(frozen=True)
class Hang:
    pass


Reply = Json | Raw | Sse | Hang


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


class WireServer:
    """A scriptable HTTP server on 127.0.0.1 (a random free port)."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            Recorded(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, body)
        )
        reply = self.replies.popleft() if self.replies else self._default(h)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(h, reply)

    def _default(self, h: BaseHTTPRequestHandler) -> Reply:
        if h.command == "GET" and h.path.split("?")[0].endswith("/models"):
            return Json({"data": [{"id": "model-a", "object": "model"}], "object": "list"})
        return Json({"error": {"message": "no scripted reply", "type": "test"}}, status=500)

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply, Hang):
            self._stop.wait(60)
            return
        if isinstance(reply, Json):
            data = json.dumps(reply.body).encode()
            h.send_response(reply.status)
            h.send_header("content-type", "application/json")
            for name, value in reply.headers.items():
                h.send_header(name, value)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if isinstance(reply, Raw):
            h.send_response(reply.status)
            h.send_header("content-type", reply.content_type)
            h.send_header("content-length", str(len(reply.body)))
            h.end_headers()
            h.wfile.write(reply.body)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for event, data in reply.events:
            text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
            h.wfile.write(text.encode())
            h.wfile.flush()
        # With `truncate` the caller built the events without their end; closing the
        # connection (HTTP/1.0) is all that remains either way.


# ------------------------------------------------------------------ OpenAI wire format


def openai_chunk(delta: dict[str, Any], finish: str | None = None, model: str = "m") -> str:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def openai_text_stream(*pieces: str, truncate: bool = False) -> Sse:
    events: list[tuple[str | None, str]] = [(None, openai_chunk({"role": "assistant"}))]
    events += [(None, openai_chunk({"content": p})) for p in pieces]
    if not truncate:
        events += [(None, openai_chunk({}, "stop")), (None, "[DONE]")]
    return Sse(events, truncate=truncate)


def openai_tool_stream(calls: list[tuple[str, str, list[str]]], text: str = "") -> Sse:
    """Tool calls as OpenAI streams them: id+name first, then the arguments in pieces."""
    events: list[tuple[str | None, str]] = [(None, openai_chunk({"role": "assistant"}))]
    if text:
        events.append((None, openai_chunk({"content": text})))
    for index, (call_id, name, pieces) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function"}
        head["function"] = {"name": name, "arguments": ""}
        events.append((None, openai_chunk({"tool_calls": [head]})))
        for piece in pieces:
            part = {"index": index, "function": {"arguments": piece}}
            events.append((None, openai_chunk({"tool_calls": [part]})))
    events += [(None, openai_chunk({}, "tool_calls")), (None, "[DONE]")]
    return Sse(events)


def openai_completion(text: str) -> Json:
    return Json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def openai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Json:
    return Json(
        {"error": {"message": message, "type": "error", "code": None}},
        status=status,
        headers=headers or {},
    )


# --------------------------------------------------------------- Anthropic wire format


def _a(event: str, **data: Any) -> tuple[str, str]:
    return event, json.dumps({"type": event, **data})


def anthropic_start(model: str = "claude-test") -> tuple[str, str]:
    return _a(
        "message_start",
        message={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 1},
        },
    )


def anthropic_end(stop_reason: str) -> list[tuple[str | None, str]]:
    return [
        _a(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage={"output_tokens": 7},
        ),
        _a("message_stop"),
    ]


def anthropic_text_stream(*pieces: str, truncate: bool = False) -> Sse:
    events: list[tuple[str | None, str]] = [
        anthropic_start(),
        _a("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        ("ping", json.dumps({"type": "ping"})),
    ]
    for p in pieces:
        events.append(_a("content_block_delta", index=0, delta={"type": "text_delta", "text": p}))
    if truncate:
        return Sse(events, truncate=True)
    events.append(_a("content_block_stop", index=0))
    events += anthropic_end("end_turn")
    return Sse(events)


def anthropic_tool_stream(calls: list[tuple[str, str, list[str]]], text: str = "") -> Sse:
    events: list[tuple[str | None, str]] = [anthropic_start()]
    index = 0
    if text:
        events.append(
            _a("content_block_start", index=0, content_block={"type": "text", "text": ""})
        )
        events.append(
            _a("content_block_delta", index=0, delta={"type": "text_delta", "text": text})
        )
        events.append(_a("content_block_stop", index=0))
        index = 1
    for call_id, name, pieces in calls:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append(_a("content_block_start", index=index, content_block=block))
        for piece in pieces:
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(_a("content_block_delta", index=index, delta=delta))
        events.append(_a("content_block_stop", index=index))
        index += 1
    events += anthropic_end("tool_use")
    return Sse(events)


def anthropic_error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> Json:
    return Json(
        {"type": "error", "error": {"type": kind, "message": message}},
        status=status,
        headers=headers or {},
    )


def anthropic_models() -> Json:
    return Json(
        {
            "data": [
                {
                    "id": "claude-test",
                    "type": "model",
                    "display_name": "Claude Test",
                    "created_at": "2025-01-01T00:00:00Z",
                }
            ],
            "has_more": False,
            "first_id": "claude-test",
            "last_id": "claude-test",
        }
    )
