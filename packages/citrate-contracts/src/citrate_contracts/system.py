"""The system contracts and the one plan that deploys them, at genesis or on any EVM chain.

The plan is a list of calls from one account, the *admin*, which also deploys: nine contract
creations (nonces 0–8 of a fresh admin), then the role grants that let the marketplace, the
access control, the inference router and the LoRA factory report usage to the registry. A
contract's address is therefore ``CREATE(admin, position)``, the same on the devnet (where the
node runs the plan inside its genesis) and on a fresh deployer on anvil or any other chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp  # type: ignore[import-untyped]
from eth_abi.abi import encode
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from citrate_contracts.artifacts import load_artifact

__all__ = [
    "SYSTEM_CONTRACTS",
    "USAGE_REPORTERS",
    "PlannedCall",
    "SystemPlan",
    "SystemRoles",
    "create_address",
    "plan_system",
]

#: Deployment order (position = the admin's nonce when the plan starts from a fresh account).
SYSTEM_CONTRACTS: tuple[str, ...] = (
    "ModelRegistry",
    "ModelMarketplace",
    "ModelAccessControl",
    "InferenceRouter",
    "LoRAFactory",
    "ComputeMarket",
    "IPFSIncentives",
    "ColorCirclesNFT",
    "Counter",
)

#: Contracts granted the registry's USAGE_REPORTER_ROLE.
USAGE_REPORTERS: tuple[str, ...] = (
    "ModelMarketplace",
    "ModelAccessControl",
    "InferenceRouter",
    "LoRAFactory",
)


@dataclass(frozen=True, slots=True)
class SystemRoles:
    """The accounts the system contracts are configured with (checksummed addresses).

    ``admin`` deploys and holds every contract's admin role; ``treasury`` receives the
    platform fees; ``routing_pool`` receives ComputeMarket's 2 % routing incentive.
    """

    admin: str
    treasury: str
    routing_pool: str

    def __post_init__(self) -> None:
        for field_name in ("admin", "treasury", "routing_pool"):
            value = getattr(self, field_name)
            object.__setattr__(self, field_name, to_checksum_address(value))


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One transaction of the plan: a creation (``to`` is None, ``creates`` names it) or a call."""

    description: str
    to: str | None
    data: bytes
    creates: str | None = None
    value: int = 0


@dataclass(frozen=True, slots=True)
class SystemPlan:
    roles: SystemRoles
    addresses: dict[str, str]
    calls: tuple[PlannedCall, ...]


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract ``sender`` creates with ``nonce`` (CREATE)."""
    raw = keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:]
    return to_checksum_address(raw)


def _constructor_args(name: str, roles: SystemRoles, addresses: dict[str, str]) -> list[Any]:
    registry = addresses["ModelRegistry"]
    return {
        "ModelRegistry": [roles.admin, roles.treasury],
        "ModelMarketplace": [roles.admin, registry, roles.treasury],
        "ModelAccessControl": [roles.admin, registry, roles.treasury],
        "InferenceRouter": [roles.admin, registry, roles.treasury],
        "LoRAFactory": [roles.admin, registry, roles.treasury],
        "ComputeMarket": [roles.admin, roles.treasury, roles.routing_pool],
        "IPFSIncentives": [roles.admin],
        "ColorCirclesNFT": [],
        "Counter": [],
    }[name]


def _encode_constructor(name: str, args: Sequence[Any]) -> bytes:
    art = load_artifact(name)
    ctor = next((e for e in art.abi if e["type"] == "constructor"), None)
    types = [i["type"] for i in ctor["inputs"]] if ctor else []
    if len(types) != len(args):
        raise ValueError(
            f"{name}'s constructor takes ({', '.join(types)}) but the plan passes {len(args)} "
            "argument(s); update citrate_contracts.system with the contract"
        )
    return art.creation_code + encode(types, list(args))


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def plan_system(roles: SystemRoles, *, first_nonce: int = 0) -> SystemPlan:
    """Every transaction that deploys and wires the system contracts, in order.

    ``first_nonce`` is the admin's nonce when the plan starts (0 on a fresh account).
    """
    addresses = {
        name: create_address(roles.admin, first_nonce + i)
        for i, name in enumerate(SYSTEM_CONTRACTS)
    }
    calls = [
        PlannedCall(
            description=f"deploy {name}",
            to=None,
            data=_encode_constructor(name, _constructor_args(name, roles, addresses)),
            creates=name,
        )
        for name in SYSTEM_CONTRACTS
    ]
    role = keccak(text="USAGE_REPORTER_ROLE")
    for reporter in USAGE_REPORTERS:
        calls.append(
            PlannedCall(
                description=f"ModelRegistry.grantRole(USAGE_REPORTER_ROLE, {reporter})",
                to=addresses["ModelRegistry"],
                data=_selector("grantRole(bytes32,address)")
                + encode(["bytes32", "address"], [role, addresses[reporter]]),
            )
        )
    return SystemPlan(roles=roles, addresses=addresses, calls=tuple(calls))
