"""The Kubo RPC API subset, served from a `ContentStore` with aiohttp.

Endpoints (all ``POST``, as in Kubo; any other method gets 405):

- ``/api/v0/add`` — multipart/form-data, one or more parts named ``file``; query ``pin``,
  ``cid-version`` (1 only), ``raw-leaves`` (true only), ``only-hash``, ``hash`` (sha2-256
  only), ``chunker`` (size-262144 only). Uploads stream through the importer in 1 MiB steps;
  the whole request is committed at the end, or nothing is. Answers one JSON line per file,
  ``{"Name", "Hash", "Size"}``, Size being the cumulative DAG size as a string.
- ``/api/v0/cat?arg=CID`` (repeatable; ``offset``, ``length``) — the bytes, streamed. The DAG's
  interior blocks and the first leaf are verified before the 200 status is sent, so a missing
  or damaged block normally becomes a JSON error. A leaf found damaged later aborts the
  connection mid-body: the client sees a broken transfer, never a complete one.
- ``/api/v0/pin/add``, ``/api/v0/pin/rm`` — ``{"Pins": [CID]}``; recursive pins only.
- ``/api/v0/pin/ls`` (``arg``, ``type`` all|recursive|indirect|direct, ``stream``) —
  ``{"Keys": {CID: {"Type": "recursive"}}}``, or JSON lines ``{"Cid", "Type"}`` when streamed.
- ``/api/v0/repo/gc`` — JSON lines ``{"Key": {"/": CID}}`` of the removed blocks.
- ``/api/v0/version``.

Errors follow Kubo: ``{"Message": ..., "Code": 0|1, "Type": "error"}``, status 400 (Code 1) for
a missing argument or a bad option, 500 (Code 0) when the command itself fails. CIDs in answers
are CIDv1 base32, whatever form was asked for; options Kubo has and this store cannot honour
are refused rather than ignored, while unknown parameters are ignored, as Kubo does.

Safety: binds 127.0.0.1 by default; requests whose ``Host`` is not a loopback name, the bound
host or an allowed host are refused (DNS rebinding); requests carrying a browser ``Origin``
that is not explicitly allowed are refused (CSRF: an HTML form can POST multipart
cross-site without a CORS preflight, but the browser always adds ``Origin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import platform
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import BodyPartReader, web

from citrate_store import _cid
from citrate_store._defaults import DEFAULT_PORT
from citrate_store.errors import ContentStoreError, ContentStoreValueError
from citrate_store.store import ContentStore, PendingAdd
from citrate_store.unixfs import CHUNK_SIZE, FileImporter, ImportResult

__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK_HOSTS",
    "ServerThread",
    "StoreServer",
    "make_app",
    "start_server",
]

log = logging.getLogger("citrate.store.api")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_FEED_BYTES = 4 * CHUNK_SIZE  # upload bytes handed to the importer thread at a time
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_NO_CID_CHANGE = "hint: leave it out; this store imports exactly as `ipfs add --cid-version=1`"


def _package_version() -> str:
    try:
        return version("citrate-store")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0+unknown"


class _BadRequest(Exception):
    """An argument or option error: 400 with Code 1, as Kubo answers them."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> web.Response:
    # Compact, one line and a newline, as Go's json.Encoder writes Kubo's answers.
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"
    return web.Response(text=body, status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"Message": message, "Code": 1 if status < 500 else 0, "Type": "error"}, status)


def _host_only(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end >= 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


_Query = dict[str, list[str]]
"""Query parameters by name, every value in order (``arg`` repeats)."""


def _query(request: web.Request) -> _Query:
    query: _Query = {}
    for key, value in request.query.items():
        query.setdefault(key, []).append(value)
    return query


def _first(query: _Query, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def _bool(query: _Query, names: Iterable[str], default: bool) -> bool:
    for name in names:
        raw = _first(query, name)
        if raw is None:
            continue
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise _BadRequest(
            f'could not convert value "{raw}" to type "bool" (for option "-{name}"); '
            "hint: use true or false"
        )
    return default


def _int(query: _Query, name: str) -> int | None:
    raw = _first(query, name)
    if raw is None:
        return None
    try:
        return int(raw, 10)
    except ValueError:
        raise _BadRequest(
            f'could not convert value "{raw}" to type "int" (for option "-{name}"); '
            "hint: pass a whole number"
        ) from None


def _args(query: _Query, what: str) -> list[str]:
    args = query.get("arg", [])
    if not args:
        raise _BadRequest(f'argument "{what}" is required; hint: pass it as ?arg=<cid>')
    return list(args)


def _abort_all(adds: list[PendingAdd]) -> None:
    for add in adds:
        add.abort()


def _lines(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for item in items
    )


class _Api:
    def __init__(
        self,
        store: ContentStore,
        hosts: frozenset[str],
        origins: frozenset[str],
        max_add_bytes: int | None,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.origins = origins
        self.max_add_bytes = max_add_bytes
        self.commands: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "add": self.add,
            "cat": self.cat,
            "pin/add": self.pin_add,
            "pin/rm": self.pin_rm,
            "pin/ls": self.pin_ls,
            "repo/gc": self.repo_gc,
            "version": self.version,
        }

    # -- gatekeeping -----------------------------------------------------------------------------

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    def _cors(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or not self._origin_allowed(origin):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, X-Requested-With, Range, User-Agent",
            "Access-Control-Expose-Headers": "X-Stream-Output, X-Chunked-Output, X-Content-Length",
            "Vary": "Origin",
        }

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host")
        if "*" not in self.hosts and host is not None and _host_only(host) not in self.hosts:
            return _error(
                403,
                f"invalid host `{host}`; hint: use 127.0.0.1 or localhost, or start the "
                "server with this name in allowed_hosts",
            )
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin):
            # Kubo refuses browser requests from origins it was not configured to allow.
            return _error(
                403,
                f"origin `{origin}` is not allowed; hint: browser pages may not call this API "
                "unless the server is started with the origin in allowed_origins",
            )
        if request.method == "OPTIONS" and origin is not None:
            return web.Response(status=200, headers=self._cors(request))
        command = request.match_info.get("command", "").strip("/")
        handler = self.commands.get(command)
        if handler is None:
            return _error(
                404,
                f"unknown command `/api/v0/{command}`; hint: this store serves "
                + ", ".join(f"/api/v0/{name}" for name in sorted(self.commands)),
            )
        if request.method != "POST":
            refusal = _error(
                405,
                f"method {request.method} not allowed; hint: the IPFS RPC API takes POST",
            )
            refusal.headers["Allow"] = "POST"
            return refusal
        response: web.StreamResponse
        try:
            response = await handler(request)
        except _BadRequest as err:
            response = _error(err.status, str(err))
        except ContentStoreError as err:
            response = _error(500, str(err))
        except OSError as err:
            log.error("/api/v0/%s failed: %s", command, err)
            response = _error(500, f"the store could not complete the request: {err.strerror}")
        except Exception:
            log.exception("/api/v0/%s failed", command)
            response = _error(500, "internal error")
        if not response.prepared:
            response.headers.update(self._cors(request))
        return response

    # -- add -------------------------------------------------------------------------------------

    def _add_options(self, query: _Query) -> tuple[bool, bool]:
        cid_version = _int(query, "cid-version")
        if cid_version is not None and cid_version != 1:
            raise _BadRequest(
                f"cid-version={cid_version} is not supported: this store makes CIDv1 with raw "
                "leaves only; hint: pass cid-version=1 (or leave it out)"
            )
        if not _bool(query, ("raw-leaves",), True):
            raise _BadRequest(
                "raw-leaves=false is not supported: this store makes CIDv1 with raw leaves "
                "only; hint: pass raw-leaves=true (or leave it out)"
            )
        hash_name = (_first(query, "hash") or "sha2-256").lower()
        if hash_name != "sha2-256":
            raise _BadRequest(
                f"hash `{hash_name}` is not supported (sha2-256 only); {_NO_CID_CHANGE}"
            )
        chunker = _first(query, "chunker") or _first(query, "s") or f"size-{CHUNK_SIZE}"
        if chunker != f"size-{CHUNK_SIZE}":
            raise _BadRequest(
                f"chunker `{chunker}` is not supported (size-{CHUNK_SIZE} only); {_NO_CID_CHANGE}"
            )
        for names, what in (
            (("trickle", "t"), "the trickle layout"),
            (("wrap-with-directory", "w"), "wrapping in a directory"),
            (("inline",), "inlining blocks in CIDs"),
            (("nocopy",), "the filestore (nocopy)"),
            (("raw-leaves-only",), "raw-leaves-only"),
        ):
            if _bool(query, names, False):
                raise _BadRequest(f"{what} is not supported; {_NO_CID_CHANGE}")
        return _bool(query, ("pin",), True), _bool(query, ("only-hash", "n"), False)

    async def add(self, request: web.Request) -> web.StreamResponse:
        pin, only_hash = self._add_options(_query(request))
        if not request.content_type.startswith("multipart/"):
            raise _BadRequest(
                f"add takes a multipart/form-data body, not `{request.content_type}`; hint: "
                'send the file as a form field named "file"'
            )
        reader = await request.multipart()
        pending: list[tuple[str, PendingAdd | FileImporter]] = []
        received = 0
        try:
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise _BadRequest(
                        "nested multipart bodies (directories) are not supported; hint: add "
                        "each file on its own"
                    )
                name = self._check_part(part)
                sink: PendingAdd | FileImporter = (
                    FileImporter()
                    if only_hash
                    else await asyncio.to_thread(self.store.open_add, pin=pin)
                )
                pending.append((name, sink))
                received = await self._feed(part, sink, received)
            if not pending:
                raise _BadRequest(
                    'file argument "path" is required; hint: send the content as a '
                    'multipart/form-data field named "file"'
                )
            events = []
            for name, sink in pending:
                result: ImportResult = await asyncio.to_thread(
                    sink.finish if isinstance(sink, FileImporter) else sink.commit
                )
                events.append(
                    {"Name": name or result.cid, "Hash": result.cid, "Size": str(result.size)}
                )
        finally:
            # No-op for the committed ones. Shielded: when the client goes away the handler may
            # be cancelled, and the staged blocks must still be removed.
            adds = [sink for _, sink in pending if isinstance(sink, PendingAdd)]
            if adds:
                await asyncio.shield(asyncio.to_thread(_abort_all, adds))
        return web.Response(
            body=_lines(events),
            content_type="application/json",
            headers={"X-Chunked-Output": "1"},
        )

    def _check_part(self, part: BodyPartReader) -> str:
        if part.name is None or not (part.name == "file" or part.name.startswith("file-")):
            raise _BadRequest(
                f'unexpected form field `{part.name}`; hint: name the file field "file"'
            )
        ctype = part.headers.get("Content-Type", "application/octet-stream").lower()
        if ctype.startswith(("application/x-directory", "application/symlink")):
            raise _BadRequest(
                "directories and symlinks are not supported; hint: add each file on its own"
            )
        encoding = part.headers.get("Content-Transfer-Encoding", "binary").lower()
        if encoding not in ("binary", "8bit", "7bit") or part.headers.get("Content-Encoding"):
            raise _BadRequest(
                "encoded parts are not supported; hint: send the file bytes as they are"
            )
        # Kubo's clients escape names with Go's url.QueryEscape; Kubo reverses it the same way.
        name = unquote_plus(part.filename or "")
        if "/" in name.strip("/"):
            raise _BadRequest(
                f"`{name}` is a path inside a directory; hint: add each file on its own"
            )
        return name.strip("/")

    async def _feed(
        self, part: BodyPartReader, sink: PendingAdd | FileImporter, received: int
    ) -> int:
        buffer = bytearray()
        limit = self.max_add_bytes
        while chunk := await part.read_chunk(1 << 16):
            received += len(chunk)
            if limit is not None and received > limit:
                raise _BadRequest(
                    f"the upload exceeds the limit of {limit} bytes; hint: add a smaller file, "
                    "or raise the server's max_add_bytes",
                    status=413,
                )
            buffer += chunk
            if len(buffer) >= _FEED_BYTES:
                await asyncio.to_thread(sink.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await asyncio.to_thread(sink.write, bytes(buffer))
        return received

    # -- cat -------------------------------------------------------------------------------------

    def _cat_plan(
        self, cids: list[str], offset: int, length: int | None
    ) -> tuple[int, Iterator[bytes]]:
        """Verify what can be verified cheaply; return the byte count and the byte stream."""
        sizes = []
        for cid in cids:
            stat = self.store.stat(cid)
            self.store.check(cid, read_leaves=False)
            sizes.append(stat.file_size)
        total = max(0, sum(sizes) - offset)
        if length is not None:
            total = min(total, length)

        def stream() -> Iterator[bytes]:
            skip, left = offset, length
            for cid, size in zip(cids, sizes, strict=True):
                if left == 0:
                    return
                if skip >= size:
                    skip -= size
                    continue
                for piece in self.store.iter_cat(cid, offset=skip, length=left):
                    if left is not None:
                        left -= len(piece)
                    yield piece
                skip = 0

        return total, stream()

    async def cat(self, request: web.Request) -> web.StreamResponse:
        query = _query(request)
        cids = _args(query, "ipfs-path")
        offset = _int(query, "offset") or 0
        length = _int(query, "length")
        if offset < 0:
            raise _BadRequest(f"cannot specify negative offset ({offset}); hint: use 0 or more")
        if length is not None and length < 0:
            raise _BadRequest(f"cannot specify negative length ({length}); hint: use 0 or more")
        total, stream = await asyncio.to_thread(self._cat_plan, cids, offset, length)
        first = await asyncio.to_thread(next, stream, None)  # a bad first block is still a 500
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/plain",
                "X-Stream-Output": "1",
                "X-Content-Length": str(total),
                **self._cors(request),
            },
        )
        await response.prepare(request)
        piece = first
        try:
            while piece is not None:
                await response.write(piece)
                piece = await asyncio.to_thread(next, stream, None)
        except Exception as err:
            # The status line is gone; the only honest signal left is to break the transfer,
            # so no client takes the truncated body for the whole file.
            if isinstance(err, ContentStoreError):
                log.error("cat %s stopped: %s", ",".join(cids), err)
            elif not isinstance(err, ConnectionError):
                log.exception("cat %s failed", ",".join(cids))
            if request.transport is not None:
                request.transport.abort()
        return response

    # -- pins ------------------------------------------------------------------------------------

    def _recursive_only(self, query: _Query) -> None:
        if not _bool(query, ("recursive", "r"), True):
            raise _BadRequest(
                "direct pins are not supported; hint: pin recursively (leave recursive out)"
            )

    async def pin_add(self, request: web.Request) -> web.StreamResponse:
        query = _query(request)
        cids = _args(query, "ipfs-path")
        self._recursive_only(query)
        pinned = [await asyncio.to_thread(self.store.pin_add, cid) for cid in cids]
        return _json({"Pins": pinned})

    async def pin_rm(self, request: web.Request) -> web.StreamResponse:
        query = _query(request)
        cids = _args(query, "ipfs-path")
        self._recursive_only(query)
        removed = [await asyncio.to_thread(self.store.pin_rm, cid) for cid in cids]
        return _json({"Pins": removed})

    async def pin_ls(self, request: web.Request) -> web.StreamResponse:
        query = _query(request)
        kind = _first(query, "type") or "all"
        if kind not in ("all", "recursive", "indirect", "direct"):
            raise _BadRequest(
                f"invalid type '{kind}', must be one of {{direct, indirect, recursive, all}}"
            )
        stream = _bool(query, ("stream", "s"), False)
        keys = await asyncio.to_thread(self._pin_keys, query.get("arg", []), kind)
        if stream:
            return web.Response(
                body=_lines({"Cid": cid, "Type": kind} for cid, kind in keys.items()),
                content_type="application/json",
                headers={"X-Chunked-Output": "1"},
            )
        return _json({"Keys": {cid: {"Type": kind} for cid, kind in keys.items()}})

    def _pin_keys(self, args: list[str], kind: str) -> dict[str, str]:
        keys: dict[str, str] = {}
        if args:
            for arg in args:
                name = _cid.cid_to_str(_cid.parse_cid(arg))
                found = self.store.pin_type(name)
                if found is None or (kind != "all" and not found.startswith(kind)):
                    qualifier = "" if kind == "all" else f" as {kind}"
                    raise ContentStoreValueError(f"path '{arg}' is not pinned{qualifier}")
                keys[name] = found
            return keys
        if kind in ("all", "recursive"):
            keys.update((cid, "recursive") for cid in self.store.pins())
        if kind in ("all", "indirect"):
            keys.update((cid, "indirect") for cid in self.store.indirect_pins())
        return keys

    # -- misc ------------------------------------------------------------------------------------

    async def repo_gc(self, request: web.Request) -> web.StreamResponse:
        removed = await asyncio.to_thread(self.store.gc)
        return web.Response(
            body=_lines({"Key": {"/": cid}} for cid in removed),
            content_type="application/json",
            headers={"X-Chunked-Output": "1"},
        )

    async def version(self, request: web.Request) -> web.StreamResponse:
        return _json(
            {
                "Version": _package_version(),
                "Commit": "",
                "Repo": "citrate-store",
                "System": f"{platform.machine()}/{platform.system().lower()}",
                "Golang": "",
            }
        )


def make_app(
    store: ContentStore,
    *,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    max_add_bytes: int | None = None,
) -> web.Application:
    """The aiohttp application serving the Kubo API subset from `store`.

    Args:
        store: The open store to serve.
        host: The address the app will be bound to; its name is accepted as a Host header.
        allowed_hosts: More Host header names to accept (besides loopback names); ``"*"``
            disables the check.
        allowed_origins: Browser origins (``"https://app.example"``) allowed to call the API;
            ``"*"`` allows all. None by default, as in Kubo.
        max_add_bytes: Largest upload accepted by ``/api/v0/add`` (None: no limit).
    """
    hosts = frozenset({*LOOPBACK_HOSTS, _host_only(host), *(_host_only(h) for h in allowed_hosts)})
    api = _Api(store, hosts, frozenset(allowed_origins), max_add_bytes)
    app = web.Application()
    app.router.add_route("*", "/api/v0/{command:.*}", api.dispatch)
    return app


class StoreServer:
    """A running API server; see `start_server`.

    Attributes:
        host: The bound address.
        port: The bound port (the real one when 0 was asked for).
    """

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The base URL to give `KuboClient`, e.g. ``http://127.0.0.1:5001``."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop listening; requests in flight get 5 s to finish, then are dropped."""
        await self._runner.cleanup()


async def start_server(
    store: ContentStore,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    max_add_bytes: int | None = None,
) -> StoreServer:
    """Serve `store` on `host`:`port` inside the running event loop.

    Port 0 picks a free port; read it from the returned `StoreServer.port`. Give one address
    (``127.0.0.1``, not ``localhost``, which may bind IPv4 and IPv6 on different free ports).
    The store's blocking work runs in the loop's default executor, so the loop stays
    responsive. Close the server before the store.

    Raises:
        OSError: The address cannot be bound (in use, or not an address of this machine).
    """
    app = make_app(
        store,
        host=host,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        max_add_bytes=max_add_bytes,
    )
    # Uploads and downloads in flight get a few seconds to finish when the server stops; an
    # interrupted add leaves nothing behind, so there is no reason to wait aiohttp's minute.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    server = site._server
    for sock in getattr(server, "sockets", None) or []:
        bound = sock.getsockname()[1]
        break
    return StoreServer(runner, host, bound)


class ServerThread:
    """`start_server` on a private event loop in a background thread, for synchronous code.

    Example:
        >>> with ContentStore(root) as store:  # doctest: +SKIP
        ...     with ServerThread(store, port=0) as server:
        ...         KuboClient(server.url).add(b"hello")

    Raises:
        OSError: The address cannot be bound.
    """

    def __init__(
        self,
        store: ContentStore,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        **options: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._server: StoreServer | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(store, host, port, options),
            name="citrate-store-api",
            daemon=True,
        )
        self._thread.start()
        self._started.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def _run(self, store: ContentStore, host: str, port: int, options: dict[str, Any]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(start_server(store, host, port, **options))
        except BaseException as err:
            self._failure = err
            self._started.set()
            self._loop.close()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._server.close())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None
        return self._server.port

    @property
    def url(self) -> str:
        """The base URL to give `KuboClient`."""
        assert self._server is not None
        return self._server.url

    def stop(self) -> None:
        """Stop the server and its thread. Safe to call twice."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
