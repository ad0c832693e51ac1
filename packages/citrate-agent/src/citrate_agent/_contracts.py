"""Citrate's system contracts by name: the one way the tools find and call them.

The address of each system contract (ModelRegistry, ModelMarketplace, Counter, ...) comes from
the node's `citrate_getSystemContracts`, asked once per `ToolContext`; its ABI from the
artifacts `citrate_contracts` ships. Encoding and decoding go through `citrate_agent.abi`, like
every other contract call the tools make, so values come back in its JSON form (checksummed
addresses, 0x hex bytes, integers above 2^48 as decimal strings, structs as objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from citrate_agent import abi as abi_mod
from citrate_agent.errors import AgentError, RpcError
from citrate_agent.units import salt

if TYPE_CHECKING:
    from citrate_agent.tools.base import ToolContext

#: Where the `{name: address}` answer is kept in `ToolContext.extras`.
_CACHE = "system_contracts"


class SystemContractsUnavailableError(AgentError):
    """The node answers but has no such Citrate system contract (or none: not a Citrate node)."""

    kind = "no_system_contracts"


def system_addresses(ctx: ToolContext) -> dict[str, str]:
    """`{name: checksummed address}` of the node's system contracts, asked once per context.

    A node that answers `citrate_getSystemContracts` with an error is not a Citrate node (anvil,
    a plain Ethereum node): it has no system contracts, and the answer is empty.

    Raises:
        ChainUnavailableError: the node cannot be reached (nothing is cached then).
    """
    cached = ctx.extras.get(_CACHE)
    if isinstance(cached, dict):
        return cached
    try:
        raw = ctx.chain.request("citrate_getSystemContracts")
    except RpcError:
        raw = {}
    found: dict[str, str] = {
        str(k): to_checksum_address(str(v)) for k, v in dict(raw or {}).items()
    }
    ctx.extras[_CACHE] = found
    return found


def system_names_by_address(ctx: ToolContext) -> dict[str, str]:
    """`{lower-case address: name}` of the node's system contracts (empty if not Citrate)."""
    return {address.lower(): name for name, address in system_addresses(ctx).items()}


def system_abi(name: str) -> abi_mod.Abi:
    """The shipped ABI of the system contract `name`.

    Raises:
        AgentError: this version of Citrate ships no contract of that name.
    """
    from citrate_contracts.artifacts import load_artifact

    try:
        return list(load_artifact(name).abi)
    except KeyError:
        raise AgentError(
            f"the node lists a system contract `{name}` that this version of Citrate has no "
            "ABI for",
            hint="pass the contract's `abi` or `abi_file`",
        ) from None


@dataclass(frozen=True)
class SystemContract:
    """A system contract: its address and ABI, with encoded calls and decoded results."""

    name: str
    address: str
    abi: abi_mod.Abi

    @property
    def abis(self) -> tuple[tuple[str, abi_mod.Abi], ...]:
        """For `TxPlan.abis` / `ChainClient.call`: decodes this contract's revert reasons."""
        return ((self.name, self.abi),)

    def _calldata(self, function: str, args: tuple[Any, ...]) -> tuple[abi_mod.AbiItem, bytes]:
        item = abi_mod.find_function(self.abi, function, contract=self.name, tool=self.name)
        data, _ = abi_mod.encode_call(item, list(args), tool=self.name)
        return item, data

    def encode(self, function: str, *args: Any) -> bytes:
        """Calldata for `function(*args)`; struct arguments may be dicts keyed by field."""
        return self._calldata(function, args)[1]

    def call(self, ctx: ToolContext, function: str, *args: Any) -> Any:
        """Call a view function at the latest block; its result as `abi.outputs_result` gives it
        (one output bare, several as an object by name).

        Raises:
            TransactionRevertedError: the call reverted (the reason decoded).
            ChainUnavailableError: the node cannot be reached.
        """
        item, data = self._calldata(function, args)
        raw = ctx.chain.call(
            {"to": self.address, "data": "0x" + data.hex()},
            "latest",
            abis=self.abis,
            contract=self.name,
        )
        return abi_mod.outputs_result(abi_mod.decode_outputs(item, raw))

    def events(self, receipt: Mapping[str, Any], event: str) -> list[dict[str, Any]]:
        """The arguments of each `event` log this contract emitted in `receipt`."""
        out = []
        for log in receipt.get("logs", []):
            if str(log.get("address", "")).lower() != self.address.lower():
                continue
            topics = [str(t) for t in log.get("topics", [])]
            decoded = abi_mod.decode_event(self.abi, topics, str(log.get("data", "0x")))
            if decoded is not None and decoded["event"] == event:
                out.append(decoded["args"])
        return out


def system_contract(ctx: ToolContext, name: str) -> SystemContract:
    """The system contract `name` of the connected chain.

    Raises:
        ChainUnavailableError: the node cannot be reached.
        SystemContractsUnavailableError: the node has no such system contract.
    """
    addresses = system_addresses(ctx)
    address = addresses.get(name)
    if address is None:
        missing = f"has no `{name}` system contract" if addresses else "has no system contracts"
        raise SystemContractsUnavailableError(
            f"the node at `{ctx.chain.url}` {missing}",
            hint="connect the agent to a Citrate node that runs the system contracts "
            "(`citrate devnet` starts one)",
        )
    return SystemContract(name, address, system_abi(name))


# ------------------------------------------------------------------ marketplace shapes

CATEGORIES = (
    "language",
    "vision",
    "audio",
    "multimodal",
    "code",
    "embedding",
    "image-generation",
    "reinforcement-learning",
    "time-series",
    "tabular",
    "other",
)


def category_name(number: int) -> str:
    return CATEGORIES[number] if 0 <= number < len(CATEGORIES) else str(number)


def listing_json(listing: Mapping[str, Any]) -> dict[str, Any]:
    """A marketplace `Listing` struct as the tools show it."""
    reviews = int(listing["reviewCount"])
    total_rating = int(listing["totalRating"])
    return {
        "model_id": listing["modelId"],
        "seller": listing["seller"],
        "category": int(listing["category"]),
        "category_name": category_name(int(listing["category"])),
        "active": bool(listing["active"]),
        "featured": bool(listing["featured"]),
        "listed_at": int(listing["listedAt"]),
        "price_wei": str(listing["basePrice"]),
        "price_salt": salt(int(listing["basePrice"])),
        "bulk_price_wei": str(listing["discountPrice"]),
        "bulk_price_salt": salt(int(listing["discountPrice"])),
        "bulk_minimum_quantity": str(listing["minimumBulkSize"]),
        "total_sales": str(listing["totalSales"]),
        "total_units": str(listing["totalUnits"]),
        "total_revenue_salt": salt(int(listing["totalRevenue"])),
        "average_rating": round(total_rating * 100 // reviews / 100, 2) if reviews else None,
        "review_count": reviews,
        "unverified_review_count": int(listing["unverifiedReviewCount"]),
        "metadata_uri": listing["metadataURI"],
    }


__all__ = [
    "CATEGORIES",
    "SystemContract",
    "SystemContractsUnavailableError",
    "category_name",
    "listing_json",
    "system_abi",
    "system_addresses",
    "system_contract",
    "system_names_by_address",
]
