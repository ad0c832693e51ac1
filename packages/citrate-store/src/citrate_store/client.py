"""`KuboClient`: a synchronous client of the Kubo RPC API (``/api/v0``).

It speaks Kubo's own wire format, so the same code works against the embedded store served by
`citrate devnet` and against a real Kubo daemon. Every add asks for ``cid-version=1`` and
``raw-leaves=true`` explicitly, so both produce the same CIDs (Kubo's own default is CIDv0).
Uploads are streamed (chunked multipart), downloads can be streamed with `KuboClient.iter_cat`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote_plus

import requests

from citrate_store._defaults import DEFAULT_API_URL, DEFAULT_PORT
from citrate_store.errors import ApiError, ApiUnavailable, ContentStoreValueError
from citrate_store.unixfs import CHUNK_SIZE, read_piece, reject_text

__all__ = ["DEFAULT_API_URL", "KuboClient"]

_ERROR_BODY_LIMIT = 64 * 1024


class KuboClient:
    """Talks to a Kubo-compatible RPC API.

    Example:
        >>> ipfs = KuboClient("http://127.0.0.1:5001")  # doctest: +SKIP
        >>> cid = ipfs.add(b"hello world")
        >>> ipfs.cat(cid)
        b'hello world'

    Args:
        base_url: The API's address, without ``/api/v0``.
        timeout: Seconds to wait to connect and between received bytes.
        headers: Extra request headers, e.g. ``Authorization`` for a Kubo with
            ``API.Authorizations``; they are never logged or put in error messages.
        session: A `requests.Session` to use; by default a private one that ignores proxy
            and ``.netrc`` settings from the environment, so credentials there are not sent to
            the API and a loopback API is not routed through a proxy.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ContentStoreValueError(
                f"`{base_url}` is not an http(s) URL; hint: pass e.g. `{DEFAULT_API_URL}`"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            session.trust_env = False
        self._session = session
        self._headers = dict(headers or {})

    def close(self) -> None:
        """Close the HTTP session (if this client created it)."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> KuboClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------------

    def _post(
        self,
        command: str,
        params: list[tuple[str, str]] | None = None,
        *,
        data: Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        url = f"{self.base_url}/api/v0/{command}"
        try:
            response = self._session.post(
                url,
                params=params,
                data=data,
                headers={**self._headers, **(headers or {})},
                timeout=self.timeout,
                stream=stream,
            )
        except requests.exceptions.Timeout:
            raise ApiUnavailable(
                f"the IPFS API at `{self.base_url}` did not answer /api/v0/{command} within "
                f"{self.timeout:g} s; hint: check that it is running and not overloaded"
            ) from None
        except requests.exceptions.RequestException as err:
            raise ApiUnavailable(
                f"cannot reach the IPFS API at `{self.base_url}` ({type(err).__name__}); hint: "
                f"start `citrate devnet` (it serves the API on port {DEFAULT_PORT}) or a Kubo "
                "daemon, or pass the right URL"
            ) from None
        if response.status_code >= 300:
            try:
                raise _api_error(command, response)
            finally:
                response.close()
        return response

    def _json(self, command: str, params: list[tuple[str, str]] | None = None) -> Any:
        response = self._post(command, params)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"/api/v0/{command} answered with something that is not JSON; hint: check that "
                f"`{self.base_url}` is an IPFS RPC API",
                response.status_code,
            ) from None

    def _lines(self, command: str, params: list[tuple[str, str]], **kw: Any) -> list[Any]:
        response = self._post(command, params, **kw)
        items = []
        for line in response.text.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise ApiError(
                    f"/api/v0/{command} answered a line that is not JSON: `{line[:200]}`",
                    response.status_code,
                ) from None
            if isinstance(item, dict) and item.get("Type") == "error":
                message = str(item.get("Message", ""))
                raise ApiError(
                    f"/api/v0/{command} failed: {message}", response.status_code, message
                )
            items.append(item)
        return items

    # -- commands --------------------------------------------------------------------------------

    def add(
        self,
        source: bytes | bytearray | memoryview | BinaryIO | Path,
        *,
        name: str | None = None,
        pin: bool = True,
        only_hash: bool = False,
    ) -> str:
        """Add a file; return its CID (``ipfs add --cid-version=1 --raw-leaves``).

        Args:
            source: Bytes, a binary stream (read and sent a chunk at a time), or a path.
            name: The file name the server reports; a path's own name by default.
            pin: Pin it recursively.
            only_hash: Compute the CID without storing anything.

        Raises:
            ApiError: The server refused the add (its ``Message`` is the error text).
            ApiUnavailable: The API could not be reached.
        """
        reject_text(source)
        if isinstance(source, Path):
            with source.open("rb") as handle:
                return self._add(handle, source.name if name is None else name, pin, only_hash)
        if isinstance(source, bytes | bytearray | memoryview):
            return self._add(bytes(source), name or "", pin, only_hash)
        return self._add(source, name or "", pin, only_hash)

    def _add(self, source: bytes | BinaryIO, name: str, pin: bool, only_hash: bool) -> str:
        boundary = secrets.token_hex(16)
        params = [
            ("cid-version", "1"),
            ("raw-leaves", "true"),
            ("pin", "true" if pin else "false"),
            ("only-hash", "true" if only_hash else "false"),
            ("progress", "false"),
        ]
        events = self._lines(
            "add",
            params,
            data=_multipart(boundary, name, source),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        hashes = [e["Hash"] for e in events if isinstance(e, dict) and e.get("Hash")]
        if len(hashes) != 1:
            raise ApiError(
                f"/api/v0/add answered {len(hashes)} CIDs for one file; hint: check that "
                f"`{self.base_url}` is an IPFS RPC API"
            )
        return str(hashes[0])

    def iter_cat(self, cid: str, *, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream a file's bytes as they arrive.

        Raises:
            ApiError: The server reported an error, or the transfer broke off or came up
                short (a server that finds a damaged block stops mid-stream).
            ApiUnavailable: The API could not be reached.
        """
        params = [("arg", cid)]
        if offset:
            params.append(("offset", str(offset)))
        if length is not None:
            params.append(("length", str(length)))
        response = self._post("cat", params, stream=True)
        announced = response.headers.get("X-Content-Length")
        received = 0
        try:
            for piece in response.iter_content(CHUNK_SIZE):
                received += len(piece)
                yield piece
        except requests.exceptions.RequestException:
            raise ApiError(
                f"the transfer of `{cid}` broke off after {received} bytes; the server may "
                "have found a damaged block (its log says which); hint: do not use the partial "
                "content; repair the content on the server and try again",
                response.status_code,
            ) from None
        finally:
            response.close()
        if announced is not None and announced.isdigit() and int(announced) != received:
            raise ApiError(
                f"the transfer of `{cid}` ended after {received} of {announced} bytes; hint: do "
                "not use the partial content; try again",
                response.status_code,
            )

    def cat(self, cid: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """A file's bytes (see `iter_cat` for the errors)."""
        return b"".join(self.iter_cat(cid, offset=offset, length=length))

    def pin_add(self, cid: str) -> list[str]:
        """Pin `cid` recursively; return the pinned CIDs as the server writes them."""
        return [str(c) for c in self._json("pin/add", [("arg", cid)]).get("Pins", [])]

    def pin_rm(self, cid: str) -> list[str]:
        """Remove the recursive pin of `cid`; return the unpinned CIDs."""
        return [str(c) for c in self._json("pin/rm", [("arg", cid)]).get("Pins", [])]

    def pin_ls(self, cid: str | None = None, *, type: str = "recursive") -> dict[str, str]:
        """Pins as ``{cid: type}``; `type` is ``recursive``, ``indirect``, ``direct`` or ``all``.

        With `cid`, only that CID (an error if it is not pinned).
        """
        params = [("type", type)]
        if cid is not None:
            params.append(("arg", cid))
        keys = self._json("pin/ls", params).get("Keys") or {}
        return {str(k): str(v.get("Type", "")) for k, v in keys.items()}

    def repo_gc(self) -> list[str]:
        """Run garbage collection on the server; return the removed CIDs."""
        items = self._lines("repo/gc", [])
        removed = []
        for item in items:
            if item.get("Error"):
                message = str(item["Error"])
                raise ApiError(f"/api/v0/repo/gc failed: {message}", 200, message)
            key = item.get("Key") or {}
            if "/" in key:
                removed.append(str(key["/"]))
        return removed

    def version(self) -> dict[str, Any]:
        """The server's ``/api/v0/version`` answer."""
        answer = self._json("version")
        return dict(answer) if isinstance(answer, dict) else {}


def _multipart(boundary: str, name: str, source: bytes | BinaryIO) -> Iterator[bytes]:
    # Kubo's multipart reader URL-unescapes file names with QueryUnescape, so escape with the
    # matching QueryEscape rules.
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{quote_plus(name)}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK_SIZE):
            yield source[start : start + CHUNK_SIZE]
    else:
        while piece := read_piece(source, CHUNK_SIZE):
            yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def _api_error(command: str, response: requests.Response) -> ApiError:
    body = bytearray()
    for piece in response.iter_content(8192):
        body += piece
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    text = bytes(body[:_ERROR_BODY_LIMIT]).decode("utf-8", "replace").strip()
    message = ""
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and isinstance(doc.get("Message"), str):
            message = doc["Message"]
    except ValueError:
        pass
    status = response.status_code
    if not message:
        message = text or response.reason or "no details"
        if status in (404, 405):
            message += f" (does `{response.url.split('?')[0]}` serve the IPFS RPC API?)"
    return ApiError(f"/api/v0/{command} failed ({status}): {message}", status, message)
