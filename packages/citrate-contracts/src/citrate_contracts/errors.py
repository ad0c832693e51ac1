"""Turn EVM revert data into a readable message.

A revert carries ABI-encoded data: Solidity's ``Error(string)``, ``Panic(uint256)``, or a
custom error (4-byte selector + arguments). Given the ABIs that may have produced it (every
system contract's by default), `decode_revert` names the error, decodes its arguments and
renders the error's NatSpec ``@notice`` (shipped in the artifacts' ``userdoc``) with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from citrate_contracts.artifacts import artifact_names, load_artifact

__all__ = ["PANIC_REASONS", "DecodedRevert", "ErrorCatalog", "decode_revert"]

#: Solidity's panic codes (docs: "Panic via assert and Error via require").
PANIC_REASONS: dict[int, str] = {
    0x00: "generic compiler-inserted panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "conversion to an invalid enum value",
    0x22: "incorrectly encoded storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory (too large an allocation)",
    0x51: "call to a zero-initialised internal function",
}

_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]
_BACKTICK = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


@dataclass(frozen=True, slots=True)
class DecodedRevert:
    """A decoded revert: ``name`` (``InsufficientFee``, ``Error``, ``Panic`` or ``unknown``),
    its ``args`` by parameter name, the contracts that define it, and ``message``."""

    name: str
    args: dict[str, Any]
    message: str
    data: bytes
    contracts: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.message


def _type_str(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(_type_str(c) for c in param.get("components", []))
        return f"({inner}){t[len('tuple') :]}"
    return t


def _format(value: Any, abi_type: str) -> str:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_format(v, "") for v in value) + "]"
    return str(value)


@dataclass(frozen=True, slots=True)
class _ErrorDef:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]
    notice: str | None
    contract: str


class ErrorCatalog:
    """Custom errors by selector, gathered from ABIs (with their NatSpec notices)."""

    def __init__(self) -> None:
        self._by_selector: dict[bytes, list[_ErrorDef]] = {}

    @classmethod
    def system(cls) -> ErrorCatalog:
        """Every error of every contract shipped in this package."""
        catalog = cls()
        for name in artifact_names():
            art = load_artifact(name)
            catalog.add(name, art.abi, art.userdoc)
        return catalog

    def add(
        self,
        contract: str,
        abi: Sequence[Mapping[str, Any]],
        userdoc: Mapping[str, Any] | None = None,
    ) -> None:
        notices = (userdoc or {}).get("errors", {})
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(_type_str(p) for p in item.get("inputs", []))
            signature = f"{item['name']}({','.join(types)})"
            docs = notices.get(signature) or [{}]
            definition = _ErrorDef(
                name=str(item["name"]),
                types=types,
                names=tuple(str(p.get("name") or f"arg{i}") for i, p in enumerate(item["inputs"])),
                notice=docs[0].get("notice"),
                contract=contract,
            )
            known = self._by_selector.setdefault(keccak(text=signature)[:4], [])
            if definition not in known:
                known.append(definition)

    def copy(self) -> ErrorCatalog:
        """An independent catalog with the same errors (to extend without changing this one)."""
        other = ErrorCatalog()
        other._by_selector = {k: list(v) for k, v in self._by_selector.items()}
        return other

    def lookup(self, selector: bytes) -> list[_ErrorDef]:
        return list(self._by_selector.get(selector, []))


@cache
def _system_catalog() -> ErrorCatalog:
    return ErrorCatalog.system()


def _checksummed(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("address[") and isinstance(value, tuple | list):
        return tuple(to_checksum_address(v) for v in value)
    return value


def _render(notice: str, shown: Mapping[str, str]) -> str:
    """The notice with each `` `name` `` of an argument replaced by its value."""
    return _BACKTICK.sub(lambda m: shown.get(m.group(1), m.group(0)), notice)


def _as_bytes(data: bytes | str) -> bytes:
    if isinstance(data, bytes):
        return data
    text = data.removeprefix("0x")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"revert data is not hex: {data[:80]!r}") from None


def decode_revert(
    data: bytes | str,
    catalog: ErrorCatalog | None = None,
    *,
    abis: Iterable[tuple[str, Sequence[Mapping[str, Any]]]] = (),
    contract: str | None = None,
) -> DecodedRevert:
    """Decode revert ``data`` (bytes or ``0x`` hex).

    ``catalog`` defaults to every system contract's errors; ``abis`` adds ``(contract name,
    abi)`` pairs (a contract the user deployed). When several contracts define an error with
    the same selector, the definition of ``contract`` (the one called) wins. Address arguments
    come back checksummed. Never raises for unknown data: the result is then named
    ``unknown`` and says so.
    """
    raw = _as_bytes(data)
    if catalog is None:
        catalog = _system_catalog()
    extra = list(abis)
    if extra:
        merged = catalog.copy()
        for name, abi in extra:
            merged.add(name, abi)
        catalog = merged
    if not raw:
        return DecodedRevert(
            "empty", {}, "reverted without a reason (no revert data)", raw, contracts=()
        )
    selector, body = raw[:4], raw[4:]
    if selector == _ERROR_STRING:
        try:
            (reason,) = decode(["string"], body)
        except DecodingError:
            pass
        else:
            return DecodedRevert("Error", {"reason": reason}, f"reverted: {reason}", raw)
    if selector == _PANIC:
        try:
            (code,) = decode(["uint256"], body)
        except DecodingError:
            pass
        else:
            reason = PANIC_REASONS.get(code, "unknown panic code")
            return DecodedRevert("Panic", {"code": code}, f"panic 0x{code:02x}: {reason}", raw)
    candidates = sorted(catalog.lookup(selector), key=lambda d: d.contract != contract)
    for definition in candidates:
        try:
            values = decode(list(definition.types), body)
        except (DecodingError, OverflowError):
            continue
        args = {
            n: _checksummed(v, t)
            for n, v, t in zip(definition.names, values, definition.types, strict=True)
        }
        shown = {
            n: _format(v, t)
            for n, v, t in zip(definition.names, values, definition.types, strict=True)
        }
        if definition.notice:
            text = _render(definition.notice, shown)
        else:
            text = ", ".join(f"{k}={v}" for k, v in shown.items()) or "(no arguments)"
        contracts = tuple(
            d.contract
            for d in catalog.lookup(selector)
            if (d.name, d.types) == (definition.name, definition.types)
        )
        return DecodedRevert(definition.name, args, f"{definition.name}: {text}", raw, contracts)
    return DecodedRevert(
        "unknown",
        {},
        f"reverted with unrecognised error data 0x{raw.hex()} (selector 0x{selector.hex()}; "
        "pass the contract's ABI to decode it)",
        raw,
    )
