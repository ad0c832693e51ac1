"""Readable revert reasons: the system contracts' custom errors, plus any ABI the user brings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

AbiPairs = Iterable[tuple[str, Sequence[Mapping[str, Any]]]]


def describe_revert(
    data: str | None, fallback: str, *, abis: AbiPairs = (), contract: str | None = None
) -> str:
    """The decoded reason for revert `data`, or the node's own message when there is no data."""
    if not data or data == "0x":
        return fallback or "reverted without a reason (no revert data)"
    # Imported here: eth-abi takes a second to import, and `citrate` loads this module
    # (through the agent's settings) for every command.
    from citrate_contracts.errors import decode_revert

    try:
        return decode_revert(data, abis=abis, contract=contract).message
    except ValueError:
        return fallback


__all__ = ["AbiPairs", "describe_revert"]
