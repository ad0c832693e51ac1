"""JSON-RPC 2.0 over HTTP and WebSocket on one port (as geth and anvil serve it).

Safety, by default: loopback only; a Host-header allowlist (DNS rebinding); POST bodies must be
``application/json`` (a web page cannot send that cross-site without a CORS preflight, which
is refused unless ``--cors-origin`` allows it); WebSocket origins must be loopback or allowed;
request-size and batch-size limits. The same port serves the OpenAI-compatible API under
``/v1/`` (`citrate_node.ai`), under the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import WSMsgType, web

from citrate_node import _native
from citrate_node.ai import AiService, OpenAiApi
from citrate_node.config import LOOPBACK_HOSTS, DevnetConfig
from citrate_node.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    InvalidParams,
    MethodNotFound,
    RpcError,
)
from citrate_node.methods import METHODS, Context, chain_error
from citrate_node.node import Node
from citrate_store import ContentStore, StoreServer, start_server

log = logging.getLogger("citrate.rpc")

WS_SEND_QUEUE = 4096  # notifications buffered per connection before it is dropped as too slow


def _error(req_id: Any, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_json()}


def _host_only(value: str) -> str:
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end >= 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RpcServer:
    """Dispatches JSON-RPC payloads for one node and serves them with aiohttp."""

    def __init__(self, node: Node, config: DevnetConfig) -> None:
        self.node = node
        self.config = config
        self._hosts = {h.lower() for h in config.hosts_allowed()}
        self._cors = set(config.cors_origins)
        # The OpenAI-compatible API and the AI JSON-RPC methods (loaded on first use).
        self.ai = AiService()

    # -- JSON-RPC --------------------------------------------------------------------------------

    async def _one(self, item: Any, ctx: Context) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return _error(None, RpcError(INVALID_REQUEST, "invalid request: expected an object"))
        notification = "id" not in item
        req_id = item.get("id")
        if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, str | int)):
            return _error(
                None, RpcError(INVALID_REQUEST, "invalid request: id must be a string or number")
            )
        if item.get("jsonrpc") != "2.0":
            return _error(
                req_id, RpcError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
            )
        method = item.get("method")
        if not isinstance(method, str):
            return _error(
                req_id, RpcError(INVALID_REQUEST, "invalid request: method must be a string")
            )
        try:
            fn = METHODS.get(method)
            if fn is None:
                raise MethodNotFound(method)
            params = item.get("params")
            if isinstance(params, dict):
                raise InvalidParams(f"{method} takes positional parameters (a JSON array)")
            result = await fn(params, ctx)
        except RpcError as err:
            return None if notification else _error(req_id, err)
        except _native.ChainError as err:
            try:
                mapped = chain_error(err)
            except Exception:
                log.exception("%s failed", method)
                mapped = RpcError(INTERNAL_ERROR, "internal error")
            return None if notification else _error(req_id, mapped)
        except _native.CitrateValueError as err:
            return None if notification else _error(req_id, chain_error(err))
        except Exception:
            log.exception("%s failed", method)
            return (
                None if notification else _error(req_id, RpcError(INTERNAL_ERROR, "internal error"))
            )
        return None if notification else {"jsonrpc": "2.0", "id": req_id, "result": result}

    async def handle_payload(self, body: bytes | str, ctx: Context) -> bytes | None:
        """Handle a request or a batch; None when nothing is to be sent back (notifications)."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            return orjson.dumps(_error(None, RpcError(PARSE_ERROR, f"parse error: {err}")))
        if isinstance(request, list):
            if not request:
                return orjson.dumps(_error(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(request) > self.config.max_batch:
                return orjson.dumps(
                    _error(
                        None,
                        RpcError(
                            INVALID_REQUEST,
                            f"batch too large: {len(request)} requests (limit "
                            f"{self.config.max_batch}); split it",
                        ),
                    )
                )
            replies = [r for r in [await self._one(item, ctx) for item in request] if r is not None]
            return orjson.dumps(replies) if replies else None
        reply = await self._one(request, ctx)
        return None if reply is None else orjson.dumps(reply)

    # -- HTTP ------------------------------------------------------------------------------------

    def _host_ok(self, request: web.Request) -> bool:
        if "*" in self._hosts:
            return True
        host = request.headers.get("Host")
        return host is None or _host_only(host).lower() in self._hosts

    def _origin_ok(self, origin: str) -> bool:
        if "*" in self._cors or origin in self._cors:
            return True
        host = urlsplit(origin).hostname or ""
        return host in LOOPBACK_HOSTS or f"[{host}]" in LOOPBACK_HOSTS

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or not self._cors or not ("*" in self._cors or origin in self._cors):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    async def http(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return web.Response(status=403, text="invalid host specified\n")
        if request.method == "OPTIONS":
            headers = self._cors_headers(request)
            return web.Response(status=204 if headers else 403, headers=headers)
        if request.method == "GET":
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self.websocket(request)
            return web.Response(
                status=405,
                text="Citrate JSON-RPC: POST application/json, or open a WebSocket here\n",
            )
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return web.Response(
                status=415, text="invalid content type, only application/json is supported\n"
            )
        length = request.content_length
        limit = self.config.max_body_bytes
        if length is not None and length > limit:
            return self._too_large(length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                return self._too_large(size)
            chunks.append(chunk)
        body = b"".join(chunks)
        reply = await self.handle_payload(body, Context(self.node, ai=self.ai))
        headers = {"Content-Type": "application/json", **self._cors_headers(request)}
        return web.Response(body=reply or b"", headers=headers)

    def _too_large(self, size: int) -> web.Response:
        err = RpcError(
            INVALID_REQUEST,
            f"request body too large: {size} bytes (limit {self.config.max_body_bytes})",
        )
        return web.Response(
            status=413, body=orjson.dumps(_error(None, err)), content_type="application/json"
        )

    # -- WebSocket -------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin):
            return web.Response(status=403, text=f"origin {origin} not allowed (--cors-origin)\n")
        ws = web.WebSocketResponse(max_msg_size=self.config.max_body_bytes, heartbeat=30)
        await ws.prepare(request)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=WS_SEND_QUEUE)
        closing: list[asyncio.Task[bool]] = []

        def send(message: dict[str, Any]) -> None:
            try:
                queue.put_nowait(orjson.dumps(message))
            except asyncio.QueueFull:
                # A client that does not read its notifications loses its subscriptions and
                # its connection rather than growing the node's memory without bound.
                log.warning("dropping a WebSocket client that does not read its notifications")
                self.node.drop_subscriptions(send)
                closing.append(
                    asyncio.get_running_loop().create_task(
                        ws.close(code=1008, message=b"notification backlog exceeded")
                    )
                )

        async def writer() -> None:
            while (data := await queue.get()) is not None:
                await ws.send_str(data.decode())

        writer_task = asyncio.get_running_loop().create_task(writer())
        ctx = Context(self.node, send, ai=self.ai)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT or msg.type == WSMsgType.BINARY:
                    reply = await self.handle_payload(msg.data, ctx)
                    if reply is not None:
                        await queue.put(reply)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.node.drop_subscriptions(send)
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer_task
        return ws

    def app(self) -> web.Application:
        # Bodies are bounded in `http` (to answer with a JSON-RPC error); aiohttp's own limit is
        # set just above so it never cuts in first.
        app = web.Application(client_max_size=self.config.max_body_bytes + 1024)
        app.router.add_route("*", "/", self.http)
        OpenAiApi(
            self.ai,
            host_ok=self._host_ok,
            cors_headers=self._cors_headers,
            max_body_bytes=self.config.max_body_bytes,
        ).add_routes(app)
        return app


class ListenError(Exception):
    """A port the node serves could not be bound (the message names it and what to do)."""


async def _listen(what: str, host: str, port: int, hint: str, start: Any) -> Any:
    try:
        return await start()
    except OSError as err:
        raise ListenError(
            f"cannot listen on {host}:{port} ({what}): {err.strerror or err}\nhint: {hint}"
        ) from None


async def serve(
    config: DevnetConfig, ready: Callable[[str, int, int | None], None] | None = None
) -> None:
    """Run the node (and its content store's API) until cancelled (SIGINT/SIGTERM in the CLI).

    ``ready(host, rpc_port, ipfs_port)`` is called once both listen (``ipfs_port`` is None
    when the content store is off).
    """
    node = Node(config)
    server = RpcServer(node, config)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
    store: ContentStore | None = None
    store_server: StoreServer | None = None
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await _listen(
            "JSON-RPC", config.host, config.port, "pick another --port (0 = any free)", site.start
        )
        port = config.port
        for sock in getattr(site._server, "sockets", None) or []:
            port = sock.getsockname()[1]
            break
        if config.ipfs_port is not None:
            store = ContentStore(config.data_dir / "ipfs")
            opened = store
            store_server = await _listen(
                "content store API",
                config.host,
                config.ipfs_port,
                "pick another --ipfs-port (0 = any free), or --no-ipfs",
                lambda: start_server(
                    opened, config.host, config.ipfs_port, allowed_hosts=config.allowed_hosts
                ),
            )
        node.start()
        if ready is not None:
            ready(config.host, port, store_server.port if store_server else None)
        await asyncio.Event().wait()
    finally:
        if store_server is not None:
            await store_server.close()
        if store is not None:
            store.close()
        await runner.cleanup()
        await node.close()
