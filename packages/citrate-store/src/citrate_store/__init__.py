"""Citrate's content store: IPFS-compatible CIDs, pinning, GC and the Kubo RPC API subset.

- `ContentStore` keeps blocks on disk, verified on every read; `add` gives the CID that
  ``ipfs add --cid-version=1 --raw-leaves`` gives for the same bytes.
- `start_server` / `ServerThread` serve ``/api/v0/{add,cat,pin/add,pin/rm,pin/ls,repo/gc,
  version}`` from a store, as Kubo does.
- `KuboClient` talks to that API, or unchanged to a real Kubo daemon.
- `compute_cid` / `FileImporter` compute CIDs without a store.

Errors are in `citrate_store.errors`.
"""

from __future__ import annotations

from citrate_store._cid import cid_to_str as _cid_to_str
from citrate_store._cid import parse_cid as _parse_cid
from citrate_store.client import DEFAULT_API_URL, KuboClient
from citrate_store.errors import (
    ApiError,
    ApiUnavailable,
    BlockNotFound,
    ContentStoreError,
    ContentStoreValueError,
    CorruptBlock,
    InvalidCid,
    InvalidDag,
    NotPinned,
    StoreClosed,
    StoreLocked,
    UnsupportedContent,
)
from citrate_store.server import DEFAULT_PORT, ServerThread, StoreServer, make_app, start_server
from citrate_store.store import ContentStore, FileStat, PendingAdd
from citrate_store.unixfs import CHUNK_SIZE, MAX_LINKS, FileImporter, ImportResult, compute_cid

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_API_URL",
    "DEFAULT_PORT",
    "MAX_LINKS",
    "ApiError",
    "ApiUnavailable",
    "BlockNotFound",
    "ContentStore",
    "ContentStoreError",
    "ContentStoreValueError",
    "CorruptBlock",
    "FileImporter",
    "FileStat",
    "ImportResult",
    "InvalidCid",
    "InvalidDag",
    "KuboClient",
    "NotPinned",
    "PendingAdd",
    "ServerThread",
    "StoreClosed",
    "StoreLocked",
    "StoreServer",
    "UnsupportedContent",
    "compute_cid",
    "make_app",
    "normalize_cid",
    "start_server",
]


def normalize_cid(cid: str) -> str:
    """`cid` (any multibase, CIDv0 or v1, or ``/ipfs/<cid>``) as CIDv1 base32.

    Raises:
        InvalidCid: Not a CID, or not raw/dag-pb with sha2-256.
    """
    return _cid_to_str(_parse_cid(cid))
