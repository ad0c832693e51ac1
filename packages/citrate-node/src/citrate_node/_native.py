"""The one module of citrate-node that imports the Rust core (`citrate_native`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from citrate_native import CallRequest, Chain, __version__, build_genesis, keccak256
from citrate_native.errors import (
    BlockNotFound,
    CallError,
    ChainError,
    CitrateValueError,
    ExecutionReverted,
    GenesisError,
    StoreError,
    TransactionRejected,
)

if TYPE_CHECKING:  # TypedDicts that exist only in the stub
    from citrate_native._core import DagBlock, DagStats, MinedRound, TxStatus

__all__ = [
    "BlockNotFound",
    "CallError",
    "CallRequest",
    "Chain",
    "ChainError",
    "CitrateValueError",
    "DagBlock",
    "DagStats",
    "ExecutionReverted",
    "GenesisError",
    "MinedRound",
    "StoreError",
    "TransactionRejected",
    "TxStatus",
    "__version__",
    "build_genesis",
    "keccak256",
]
