"""Every error a public API of citrate-store can raise.

The tree is rooted in :class:`ContentStoreError`. Errors caused by a value the caller passed are
also ``ValueError`` (:class:`ContentStoreValueError`), a block that is not there is also a
``LookupError``, so callers that only know the builtins still catch them. Messages name the
offending value in backticks and end with a ``hint:`` when the caller can act on it.

(The base is not called ``StoreError``: ``citrate_native.errors`` already has one, for the
chain database, and the node imports both.)
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "BlockNotFound",
    "ContentStoreError",
    "ContentStoreValueError",
    "CorruptBlock",
    "InvalidCid",
    "InvalidDag",
    "NotPinned",
    "StoreClosed",
    "StoreLocked",
    "UnsupportedContent",
]


class ContentStoreError(Exception):
    """Base class of every citrate-store error."""


class ContentStoreValueError(ContentStoreError, ValueError):
    """A value passed by the caller (a CID, an option, an offset) was rejected."""


class InvalidCid(ContentStoreValueError):
    """A string is not a CID, or names a codec or hash function this store does not hold."""


class UnsupportedContent(ContentStoreValueError):
    """The CID is valid but its content is not a UnixFS file (a directory, a symlink, ...)."""


class NotPinned(ContentStoreValueError):
    """`pin_rm` of a CID that has no recursive pin.

    Attributes:
        cid: The CID, as the store writes it (CIDv1, base32).
    """

    def __init__(self, cid: str) -> None:
        super().__init__(
            f"`{cid}` is not pinned or pinned indirectly; hint: `pins()` (or /api/v0/pin/ls) "
            "lists the recursive pins, and only those can be removed"
        )
        self.cid = cid

    def __reduce__(self) -> tuple[type[NotPinned], tuple[str]]:
        return (type(self), (self.cid,))


class BlockNotFound(ContentStoreError, LookupError):
    """A block the operation needs is not in the store.

    Attributes:
        cid: The missing block.
        wanted_by: The DAG root whose traversal needed it, when that is a different CID.
    """

    def __init__(self, cid: str, wanted_by: str | None = None) -> None:
        via = f" (part of `{wanted_by}`)" if wanted_by and wanted_by != cid else ""
        super().__init__(
            f"block `{cid}`{via} is not in the store; hint: add the original content again "
            "(the CID is the same for the same bytes), or check that the CID is right"
        )
        self.cid = cid
        self.wanted_by = wanted_by

    def __str__(self) -> str:
        # LookupError would otherwise print the message in quotes, like KeyError.
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[BlockNotFound], tuple[str, str | None]]:
        return (type(self), (self.cid, self.wanted_by))


class CorruptBlock(ContentStoreError):
    """A block's bytes on disk do not hash to its CID; they are never returned.

    Attributes:
        cid: The block that failed verification.
        path: The file that holds it.
    """

    def __init__(self, cid: str, path: Path, detail: str = "its content does not match") -> None:
        super().__init__(
            f"block `{cid}` is corrupt: {detail} (file `{path}`); its bytes were not served. "
            "hint: add the original content again to repair it (the same bytes give the same "
            "block), or run `repo gc` after unpinning to drop it"
        )
        self.cid = cid
        self.path = path
        self.detail = detail

    def __reduce__(self) -> tuple[type[CorruptBlock], tuple[str, Path, str]]:
        return (type(self), (self.cid, self.path, self.detail))


class InvalidDag(ContentStoreError):
    """A block hashes correctly but is not a well-formed dag-pb/UnixFS node."""


class StoreLocked(ContentStoreError):
    """Another process (or another open `ContentStore` in this one) holds the store."""


class StoreClosed(ContentStoreError):
    """The `ContentStore` was closed; open a new one."""


class ApiError(ContentStoreError):
    """A Kubo-compatible HTTP API answered with an error.

    Attributes:
        status: The HTTP status code (0 when there was no HTTP answer).
        server_message: The server's own ``Message`` (or body), without our context.
    """

    def __init__(self, message: str, status: int = 0, server_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = message if server_message is None else server_message

    def __reduce__(self) -> tuple[type[ApiError], tuple[str, int, str]]:
        return (type(self), (str(self), self.status, self.server_message))


class ApiUnavailable(ApiError):
    """The HTTP API could not be reached at all (nothing listening, timeout, broken stream)."""
