"""The compiled system contracts shipped inside this package (ABI, bytecode, NatSpec)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["Artifact", "artifact_names", "load_artifact"]

_DIR = Path(__file__).with_name("artifacts")


@dataclass(frozen=True, slots=True)
class Artifact:
    """One deployable contract as built from ``contracts/src`` (see ``citrate contracts build``)."""

    name: str
    source_name: str
    compiler_version: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    userdoc: dict[str, Any]
    immutable_references: dict[str, Any]

    @property
    def creation_code(self) -> bytes:
        return bytes.fromhex(self.bytecode.removeprefix("0x"))

    def matches_runtime_code(self, code: bytes) -> bool:
        """True when ``code`` (``eth_getCode``) is this contract's runtime code: equal
        everywhere except the ``immutable`` values its constructor wrote."""
        want = bytearray(bytes.fromhex(self.deployed_bytecode.removeprefix("0x")))
        got = bytearray(code)
        if len(want) != len(got):
            return False
        for refs in self.immutable_references.values():
            for ref in refs:
                start, length = int(ref["start"]), int(ref["length"])
                got[start : start + length] = bytes(length)
        return want == got


def artifact_names() -> tuple[str, ...]:
    """Names of every shipped contract, sorted."""
    return tuple(sorted(p.stem for p in _DIR.glob("*.json")))


@cache
def load_artifact(name: str) -> Artifact:
    """A shipped contract by name (``ModelRegistry``); `KeyError` names the known ones."""
    path = _DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(
            f"no compiled contract named {name!r} ships with citrate-contracts "
            f"(have: {', '.join(artifact_names()) or 'none'})"
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=raw["contractName"],
        source_name=raw["sourceName"],
        compiler_version=raw["compiler"]["version"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        userdoc=raw.get("userdoc", {}),
        immutable_references=raw.get("immutableReferences", {}),
    )
