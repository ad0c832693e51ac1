"""Content-store tools: `upload_ipfs`, `get_ipfs`, `pin_ipfs`.

They talk to the Kubo RPC API at `settings.ipfs_url` through `ctx.ipfs()`: the embedded store
that `citrate devnet` serves, or a configured Kubo daemon (the wire format is the same). Files
are read from and written to the agent's workspace only, with the same resolve-then-check rule
as `execute_command` (symlinks pointing outside are refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from citrate_agent.errors import AgentError, ToolArgumentError
from citrate_agent.schema import object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_store.errors import ApiError, ApiUnavailable, ContentStoreError

#: `get_ipfs` returns content as text up to this many bytes; larger or binary content is saved.
TEXT_LIMIT = 64 * 1024
#: `upload_ipfs` content given inline (text) is limited to this many characters.
CONTENT_LIMIT = 1024 * 1024
#: `pin_ipfs` lists at most this many pins.
PIN_LIST_LIMIT = 1000
#: Where `get_ipfs` saves content when no `save_as` is given (then `<dir>/<cid>`).
DOWNLOAD_DIR = "ipfs"

# Multibase text of a CID (base32 `b...`, base58btc `Qm...`/`z...`, base36 `k...`), optionally
# as an `/ipfs/<cid>` path. The store judges the rest; this only keeps junk out of the request.
_CID_TEXT = re.compile(r"^(/ipfs/)?[A-Za-z0-9]{10,200}$")
CID: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 206,
    "description": "A CID as `upload_ipfs` returns it (`bafk...`, `bafy...`; `Qm...` works too).",
}


# -- helpers -------------------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    """`url` without user:password, so it can go into messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _store_unreachable(ctx: ToolContext) -> AgentError:
    return AgentError(
        f"the content store at `{_safe_url(ctx.settings.ipfs_url)}` cannot be reached",
        hint="start the devnet (`citrate devnet`, which serves the store on port 5001), or set "
        "the agent setting `ipfs_url` to a running Kubo API",
    )


def _store_failed(
    ctx: ToolContext, what: str, err: ContentStoreError, hint: str | None = None
) -> NoReturn:
    if isinstance(err, ApiUnavailable):
        raise _store_unreachable(ctx) from None
    detail = err.server_message if isinstance(err, ApiError) and err.server_message else str(err)
    # The embedded store ends its messages with its own "; hint: ..." (Kubo does not).
    detail, _, store_hint = detail.partition("; hint: ")
    raise AgentError(
        f"the content store refused to {what}: {detail.strip()}",
        hint=hint or store_hint.strip() or "check the CID (copy it as `upload_ipfs` returned it)",
    ) from None


def _check_cid(tool: str, cid: str) -> str:
    cid = cid.strip()
    if not _CID_TEXT.match(cid):
        raise ToolArgumentError(
            tool,
            [f"cid: `{cid[:80]}` is not a CID"],
            hint="pass a CID as `upload_ipfs` returns it (`bafk...`/`bafy...`, or `Qm...`)",
        )
    return cid.removeprefix("/ipfs/")


def workspace_path(ctx: ToolContext, tool: str, name: str, value: str) -> Path:
    """Resolve `value` (relative to the workspace) and require it to stay inside.

    Raises:
        ToolArgumentError: `value` is empty, starts with `~`, has a `..` component, or resolves
            (through symlinks) outside the workspace.
    """
    workspace = ctx.workspace
    hint = "give a path relative to the workspace, without `..`"
    if not value or value.startswith("~") or ".." in PurePosixPath(value).parts:
        raise ToolArgumentError(tool, [f"{name}: `{value}` is not a workspace path"], hint=hint)
    resolved = Path(os.path.realpath(workspace / value))
    if not resolved.is_relative_to(workspace):
        raise ToolArgumentError(
            tool, [f"{name}: `{value}` is outside the workspace `{workspace}`"], hint=hint
        )
    return resolved


def _relative(ctx: ToolContext, path: Path) -> str:
    return str(path.relative_to(ctx.workspace))


# -- upload --------------------------------------------------------------------------------------


def upload_ipfs(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Add a workspace file or inline text to the content store.

    Args:
        ctx: The tool context.
        args: exactly one of `path` (a workspace file) and `content` (text, stored as UTF-8);
            `pin` (default true).

    Returns:
        cid, size (bytes), pinned, the source (`path` or "content"), the API URL and how to
        fetch it back.

    Raises:
        ToolArgumentError: neither or both of path/content, a path outside the workspace or
            not a file.
        AgentError: the store is unreachable or refused the upload.
    """
    path_arg = args.get("path")
    content = args.get("content")
    pin = bool(args.get("pin", True))
    if (path_arg is None) == (content is None):
        raise ToolArgumentError(
            "upload_ipfs",
            ["give exactly one of `path` (a workspace file) and `content` (text)"],
        )
    ipfs = ctx.ipfs()
    source: dict[str, Any]
    try:
        if path_arg is not None:
            path = workspace_path(ctx, "upload_ipfs", "path", str(path_arg))
            if not path.is_file():
                raise ToolArgumentError(
                    "upload_ipfs",
                    [f"path: `{path_arg}` is not a file in the workspace"],
                    hint="list the workspace with `execute_command` (`ls`) to find the file",
                )
            size = path.stat().st_size
            cid = ipfs.add(path, pin=pin)
            source = {"path": _relative(ctx, path)}
        else:
            data = str(content).encode("utf-8")
            size = len(data)
            cid = ipfs.add(data, pin=pin)
            source = {"source": "content"}
    except ContentStoreError as err:
        _store_failed(ctx, "add the content", err)
    api = _safe_url(ctx.settings.ipfs_url)
    return {
        "cid": cid,
        "size": size,
        "pinned": pin,
        **source,
        "uri": f"ipfs://{cid}",
        "api_url": api,
        "hint": f"fetch it with `get_ipfs`, or `curl -X POST '{api}/api/v0/cat?arg={cid}'`",
    }


# -- get -----------------------------------------------------------------------------------------


def get_ipfs(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Fetch content by CID: as text when small UTF-8, else saved into the workspace.

    Args:
        ctx: The tool context.
        args: `cid`; optional `save_as` (a workspace path; forces saving, refuses to overwrite).

    Returns:
        `{cid, size, text}` for small UTF-8 content without `save_as`; otherwise
        `{cid, size, path, sha256, saved: true}` with the path relative to the workspace.

    Raises:
        ToolArgumentError: the CID is malformed, or `save_as` is outside the workspace or
            exists.
        AgentError: the store is unreachable, or does not have the CID.
    """
    cid = _check_cid("get_ipfs", str(args["cid"]))
    save_as = args.get("save_as")
    target: Path | None = None
    if save_as is not None:
        target = workspace_path(ctx, "get_ipfs", "save_as", str(save_as))
        if target.exists():
            raise ToolArgumentError(
                "get_ipfs",
                [f"save_as: `{save_as}` already exists"],
                hint="choose another file name (files are never overwritten)",
            )
    try:
        chunks = ctx.ipfs().iter_cat(cid)
        head = bytearray()
        for chunk in chunks:
            head += chunk
            if len(head) > TEXT_LIMIT:
                break
        else:
            if target is None:
                try:
                    text = bytes(head).decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    return {"cid": cid, "size": len(head), "text": text}
        if target is None:
            # Content-addressed: an existing file of this name holds the same bytes.
            target = workspace_path(ctx, "get_ipfs", "save_as", f"{DOWNLOAD_DIR}/{cid}")
        size, digest = _save(target, bytes(head), chunks)
    except ContentStoreError as err:
        _store_failed(ctx, f"return `{cid}`", err)
    return {
        "cid": cid,
        "size": size,
        "saved": True,
        "path": _relative(ctx, target),
        "sha256": "0x" + digest,
        "note": "saved to the workspace: the content is binary or larger than "
        f"{TEXT_LIMIT} bytes, or `save_as` was given",
    }


def _save(target: Path, head: bytes, rest: Iterator[bytes]) -> tuple[int, str]:
    """Write `head` then `rest` to `target` atomically; return the size and sha256 hex."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".get_ipfs-")
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in _chain(head, rest):
                handle.write(piece)
                digest.update(piece)
                size += len(piece)
        # Replaces a symlink at `target` itself, never the file it points to.
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    return size, digest.hexdigest()


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


# -- pins ----------------------------------------------------------------------------------------


def pin_ipfs(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Pin a CID, unpin it (`unpin: true`), or list the pins when no CID is given.

    Returns:
        `{cid, pinned}` after pinning or unpinning; `{pins, count, truncated}` when listing.

    Raises:
        ToolArgumentError: a malformed CID, or `unpin` without a CID.
        AgentError: the store is unreachable, does not have the CID, or it is not pinned.
    """
    cid_arg = args.get("cid")
    unpin = bool(args.get("unpin", False))
    ipfs = ctx.ipfs()
    if cid_arg is None:
        if unpin:
            raise ToolArgumentError("pin_ipfs", ["`unpin` needs a `cid`"])
        try:
            pins = sorted(ipfs.pin_ls())
        except ContentStoreError as err:
            _store_failed(ctx, "list the pins", err)
        return {
            "pins": pins[:PIN_LIST_LIMIT],
            "count": len(pins),
            "truncated": len(pins) > PIN_LIST_LIMIT,
        }
    cid = _check_cid("pin_ipfs", str(cid_arg))
    try:
        if unpin:
            ipfs.pin_rm(cid)
        else:
            ipfs.pin_add(cid)
    except ContentStoreError as err:
        hint = "`pin_ipfs` without a `cid` lists the pinned CIDs" if unpin else None
        _store_failed(ctx, f"{'unpin' if unpin else 'pin'} `{cid}`", err, hint)
    return {"cid": cid, "pinned": not unpin}


# -- the tools -----------------------------------------------------------------------------------

TOOLS: list[Tool] = [
    Tool(
        name="upload_ipfs",
        category="ipfs",
        description=(
            "Store a workspace file (`path`) or text (`content`) in the content store (IPFS) "
            "and pin it. Returns the CID and size; use it to publish data or model files."
        ),
        parameters=object_schema(
            {
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A file in the workspace, relative to its root.",
                },
                "content": {
                    "type": "string",
                    "maxLength": CONTENT_LIMIT,
                    "description": "Text to store (UTF-8) instead of a file.",
                },
                "pin": {
                    "type": "boolean",
                    "description": "Keep it from garbage collection (default true).",
                },
            }
        ),
        run=upload_ipfs,
    ),
    Tool(
        name="get_ipfs",
        category="ipfs",
        description=(
            "Fetch content by CID. Small UTF-8 text is returned as `text`; binary or large "
            f"content (over {TEXT_LIMIT} bytes) is saved into the workspace (`save_as`, default "
            f"`{DOWNLOAD_DIR}/<cid>`) and its path, size and sha256 are returned."
        ),
        parameters=object_schema(
            {
                "cid": CID,
                "save_as": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Save to this new workspace file instead of returning text.",
                },
            },
            required=("cid",),
        ),
        run=get_ipfs,
    ),
    Tool(
        name="pin_ipfs",
        category="ipfs",
        description=(
            "Pin a CID in the content store, or unpin it with `unpin: true`; without a CID, "
            "list the pinned CIDs."
        ),
        parameters=object_schema(
            {
                "cid": {**CID, "description": "The CID to pin or unpin; omit to list the pins."},
                "unpin": {
                    "type": "boolean",
                    "description": "Remove the pin instead of adding it (default false).",
                },
            }
        ),
        run=pin_ipfs,
    ),
]

__all__ = [
    "DOWNLOAD_DIR",
    "TEXT_LIMIT",
    "TOOLS",
    "get_ipfs",
    "pin_ipfs",
    "upload_ipfs",
    "workspace_path",
]
