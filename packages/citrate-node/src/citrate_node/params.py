"""Parsing of JSON-RPC parameters into Python values, with geth's rules and clear messages.

Each parser takes the raw JSON value and the parameter's name (for the message) and returns a
typed value or raises :class:`~citrate_node.errors.InvalidParams` (-32602).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from citrate_node.errors import InvalidParams

_HEX = re.compile(r"0[xX][0-9a-fA-F]*\Z")
MAX_UINT256 = (1 << 256) - 1
MAX_UINT64 = (1 << 64) - 1

BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def quantity(value: Any, name: str, *, maximum: int = MAX_UINT256) -> int:
    """A hex quantity ("0x1a"); plain non-negative JSON integers are accepted too, as anvil does."""
    if isinstance(value, bool):
        raise InvalidParams(f'{name}: expected a hex quantity such as "0x1", got {value!r}')
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        if not _HEX.match(value) or len(value) == 2:
            raise InvalidParams(
                f'{name}: expected a hex quantity such as "0x1", got {_describe(value)}'
            )
        if len(value) > 3 and value[2] == "0":
            raise InvalidParams(f"{name}: hex number with leading zero digits: {_describe(value)}")
        if len(value) > 66:
            raise InvalidParams(f"{name}: hex number > 256 bits: {_describe(value)}")
        number = int(value, 16)
    else:
        raise InvalidParams(
            f'{name}: expected a hex quantity such as "0x1", got {_describe(value)}'
        )
    if number < 0:
        raise InvalidParams(f"{name}: must not be negative, got {number}")
    if number > maximum:
        raise InvalidParams(f"{name}: {number} is out of range (maximum {maximum})")
    return number


def data(value: Any, name: str) -> bytes:
    """Hex bytes ("0x" followed by an even number of hex digits)."""
    if not isinstance(value, str) or not _HEX.match(value):
        raise InvalidParams(f"{name}: expected 0x-prefixed hex data, got {_describe(value)}")
    if len(value) % 2:
        raise InvalidParams(f"{name}: hex data has an odd number of digits: {_describe(value)}")
    return bytes.fromhex(value[2:])


def fixed(value: Any, name: str, size: int, what: str) -> bytes:
    raw = data(value, name)
    if len(raw) != size:
        raise InvalidParams(
            f"{name}: expected a {size}-byte {what} (0x + {2 * size} hex digits), "
            f"got {len(raw)} bytes"
        )
    return raw


def address(value: Any, name: str = "address") -> bytes:
    return fixed(value, name, 20, "address")


def hash32(value: Any, name: str = "hash") -> bytes:
    return fixed(value, name, 32, "hash")


def storage_slot(value: Any, name: str = "slot") -> bytes:
    """A storage key: hex of up to 32 bytes, any number of digits ("0x0" as geth accepts),
    left-padded to 32 bytes; a JSON integer is taken as the slot number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return quantity(value, name).to_bytes(32, "big")
    if not isinstance(value, str) or not _HEX.match(value) or len(value) == 2:
        raise InvalidParams(
            f"{name}: expected a 0x-prefixed hex storage slot, got {_describe(value)}"
        )
    digits = value[2:]
    if len(digits) > 64:
        raise InvalidParams(f"{name}: a storage slot is at most 32 bytes (64 hex digits)")
    return bytes.fromhex(digits.rjust(64, "0"))


def boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{name}: expected true or false, got {_describe(value)}")
    return value


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block parameter: a tag, a number, or a hash (EIP-1898)."""

    tag: str | None = None
    number: int | None = None
    hash: bytes | None = None


def block_ref(value: Any, name: str = "block") -> BlockRef:
    """ "latest" | "earliest" | "pending" | "safe" | "finalized" | hex number | EIP-1898 object."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return BlockRef(tag=value)
    if isinstance(value, dict):
        if "blockHash" in value:
            extra = set(value) - {"blockHash", "requireCanonical"}
            if extra:
                raise InvalidParams(f"{name}: unexpected field(s) {sorted(extra)} beside blockHash")
            if "requireCanonical" in value:
                boolean(value["requireCanonical"], f"{name}.requireCanonical")
            return BlockRef(hash=hash32(value["blockHash"], f"{name}.blockHash"))
        if "blockNumber" in value:
            if set(value) - {"blockNumber"}:
                raise InvalidParams(f"{name}: unexpected field(s) beside blockNumber")
            return block_ref(value["blockNumber"], f"{name}.blockNumber")
        raise InvalidParams(f"{name}: a block object needs blockHash or blockNumber")
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        return BlockRef(number=quantity(value, name, maximum=MAX_UINT64))
    raise InvalidParams(
        f"{name}: expected a block number (hex) or one of latest, earliest, pending, safe, "
        f"finalized; got {_describe(value)}"
    )


def positional(params: Any, method: str, required: int, optional: int = 0) -> list[Any]:
    """The positional parameter list, padded with None for missing optional ones."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParams(f"{method} takes positional parameters (a JSON array)")
    if len(params) < required:
        raise InvalidParams(
            f"{method}: missing value for required argument {len(params)} "
            f"(expects {required}{f' to {required + optional}' if optional else ''})"
        )
    if len(params) > required + optional:
        raise InvalidParams(
            f"{method}: too many arguments, want at most {required + optional}, got {len(params)}"
        )
    return params + [None] * (required + optional - len(params))


@dataclass(frozen=True, slots=True)
class CallArgs:
    """A transaction-shaped object (eth_call, eth_estimateGas, eth_createAccessList)."""

    from_: bytes | None = None
    to: bytes | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None
    access_list: list[tuple[bytes, list[bytes]]] | None = None


_CALL_FIELDS = frozenset(
    {
        "from",
        "to",
        "gas",
        "gasPrice",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "value",
        "data",
        "input",
        "nonce",
        "accessList",
        "type",
        "chainId",
        "blobVersionedHashes",
        "maxFeePerBlobGas",
    }
)


def access_list(value: Any, name: str) -> list[tuple[bytes, list[bytes]]]:
    if not isinstance(value, list):
        raise InvalidParams(f"{name}: expected a list of {{address, storageKeys}} objects")
    out: list[tuple[bytes, list[bytes]]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "address" not in item:
            raise InvalidParams(f"{name}[{i}]: expected an object with address and storageKeys")
        keys = item.get("storageKeys", [])
        if not isinstance(keys, list):
            raise InvalidParams(f"{name}[{i}].storageKeys: expected a list of 32-byte hashes")
        out.append(
            (
                address(item["address"], f"{name}[{i}].address"),
                [hash32(k, f"{name}[{i}].storageKeys[{j}]") for j, k in enumerate(keys)],
            )
        )
    return out


def call_args(value: Any, name: str = "transaction") -> CallArgs:
    if not isinstance(value, dict):
        raise InvalidParams(f"{name}: expected a transaction object, got {_describe(value)}")
    unknown = set(value) - _CALL_FIELDS
    if unknown:
        raise InvalidParams(f"{name}: unknown field(s) {sorted(unknown)}")
    if value.get("blobVersionedHashes") or value.get("maxFeePerBlobGas") is not None:
        raise InvalidParams(f"{name}: blob transactions (EIP-4844) are not supported")
    payload = b""
    if (
        value.get("data") is not None
        and value.get("input") is not None
        and value["data"] != value["input"]
    ):
        raise InvalidParams(
            f'{name}: both "data" and "input" are set and not equal. Please use "input" '
            "to pass transaction call data"
        )
    for key in ("input", "data"):
        if value.get(key) is not None:
            payload = data(value[key], f"{name}.{key}")
            break

    def opt(key: str, maximum: int = MAX_UINT256) -> int | None:
        raw = value.get(key)
        return None if raw is None else quantity(raw, f"{name}.{key}", maximum=maximum)

    gas_price = opt("gasPrice")
    max_fee = opt("maxFeePerGas")
    max_tip = opt("maxPriorityFeePerGas")
    if gas_price is not None and (max_fee is not None or max_tip is not None):
        raise InvalidParams(
            f"{name}: both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"
        )
    if max_fee is not None and max_tip is not None and max_tip > max_fee:
        raise InvalidParams(
            f"{name}: maxPriorityFeePerGas ({max_tip}) is higher than maxFeePerGas ({max_fee})"
        )
    return CallArgs(
        from_=None if value.get("from") is None else address(value["from"], f"{name}.from"),
        to=None if value.get("to") is None else address(value["to"], f"{name}.to"),
        gas=opt("gas", MAX_UINT64),
        gas_price=gas_price,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        value=opt("value") or 0,
        data=payload,
        nonce=opt("nonce", MAX_UINT64),
        access_list=None
        if value.get("accessList") is None
        else access_list(value["accessList"], f"{name}.accessList"),
    )


@dataclass(frozen=True, slots=True)
class LogFilter:
    from_block: BlockRef
    to_block: BlockRef
    block_hash: bytes | None
    addresses: list[bytes]
    topics: list[list[bytes] | None]


def log_filter(value: Any, name: str = "filter") -> LogFilter:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidParams(f"{name}: expected a filter object, got {_describe(value)}")
    unknown = set(value) - {"fromBlock", "toBlock", "blockHash", "address", "topics"}
    if unknown:
        raise InvalidParams(f"{name}: unknown field(s) {sorted(unknown)}")
    block_hash = None
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise InvalidParams(
                f"{name}: cannot specify both blockHash and fromBlock/toBlock, choose one or the "
                "other"
            )
        block_hash = hash32(value["blockHash"], f"{name}.blockHash")

    def ref(key: str) -> BlockRef:
        raw = value.get(key)
        return BlockRef(tag="latest") if raw is None else block_ref(raw, f"{name}.{key}")

    raw_address = value.get("address")
    if raw_address is None:
        addresses: list[bytes] = []
    elif isinstance(raw_address, list):
        addresses = [address(a, f"{name}.address[{i}]") for i, a in enumerate(raw_address)]
    else:
        addresses = [address(raw_address, f"{name}.address")]
    raw_topics = value.get("topics")
    topics: list[list[bytes] | None] = []
    if raw_topics is not None:
        if not isinstance(raw_topics, list):
            raise InvalidParams(f"{name}.topics: expected a list")
        if len(raw_topics) > 4:
            raise InvalidParams(f"{name}.topics: at most 4 topic positions, got {len(raw_topics)}")
        for i, topic in enumerate(raw_topics):
            if topic is None:
                topics.append(None)
            elif isinstance(topic, list):
                if not topic:
                    topics.append(None)
                else:
                    topics.append(
                        [
                            hash32(t, f"{name}.topics[{i}][{j}]")
                            for j, t in enumerate(topic)
                            if t is not None
                        ]
                        if None not in topic
                        else None
                    )
            else:
                topics.append([hash32(topic, f"{name}.topics[{i}]")])
    return LogFilter(ref("fromBlock"), ref("toBlock"), block_hash, addresses, topics)


def hexq(number: int) -> str:
    """A quantity as JSON-RPC hex."""
    return hex(number)


def hexb(raw: bytes) -> str:
    return "0x" + raw.hex()
