"""Contract ABIs for the tools: find a function, read JSON arguments, encode, decode.

The model writes contract arguments as JSON, so every value goes through `coerce_args` first:
addresses are checked (EIP-55 checksum), integers come from JSON numbers or decimal/hex strings
(never through floats), bytes from 0x hex, tuples from arrays or objects keyed by component
name. Results come back JSON-friendly: integers that may pass 2^53 as decimal strings, bytes as
0x hex, addresses checksummed, tuples as objects by component name when every component has a
name. Every problem raises `ToolArgumentError` naming the argument, so the model can fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from citrate_agent.errors import AgentError, ToolArgumentError
from citrate_agent.schema import address_problem
from citrate_agent.units import parse_amount

Abi = list[dict[str, Any]]
AbiItem = Mapping[str, Any]

_ARRAY = re.compile(r"^(?P<inner>.+)\[(?P<size>\d*)\]$")
_INT = re.compile(r"^(?P<sign>u?)int(?P<bits>\d*)$")
_BYTES_N = re.compile(r"^bytes(?P<size>\d+)$")
_HEX = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")
_SELECTOR = re.compile(r"^0x[0-9a-fA-F]{8}$")
#: `uint`, `int` and `byte` as whole words in a signature (not `uint8`, not `bytes`).
_ALIASES = re.compile(r"(?<![A-Za-z0-9_])(uint|int|byte)(?![A-Za-z0-9_])")
_UNIT = re.compile(r"(salt|gwei|wei)\s*$", re.IGNORECASE)
#: JSON numbers are IEEE doubles in most readers: integers above this lose digits.
_JSON_SAFE = 2**53


class _Bad(Exception):
    """One argument's problem (turned into a `ToolArgumentError` by the public functions)."""


# ------------------------------------------------------------------------------ reading ABIs


def load_abi(value: object, source: str = "abi", *, tool: str = "contract") -> Abi:
    """Check and normalise an ABI: a JSON array, a JSON text of one, or an artifact object.

    Artifacts are objects with an `"abi"` key (solc standard-JSON contracts, Foundry and
    Hardhat artifacts); the key may hold the array or a JSON text of it (solc --combined-json).

    Args:
        value: the ABI as parsed JSON (or JSON text).
        source: what to call it in errors (`abi`, or the file's name).
        tool: the tool named in errors.

    Raises:
        ToolArgumentError: it is not an ABI (each problem is listed).
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ToolArgumentError(
                tool, [f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})"]
            ) from None
    if isinstance(value, Mapping) and "abi" in value:
        return load_abi(value["abi"], source, tool=tool)
    if not isinstance(value, list):
        raise ToolArgumentError(
            tool,
            [f"{source}: an ABI is a JSON array of function/event/error descriptions"],
            hint="pass the contract's ABI array, or a compiler artifact with an `abi` key",
        )
    problems: list[str] = []
    abi: Abi = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(f"{source}[{i}]: each ABI entry is an object")
            continue
        entry = dict(item)
        entry.setdefault("type", "function")  # the ABI spec's default
        kind = entry["type"]
        if kind in ("function", "event", "error") and not isinstance(entry.get("name"), str):
            problems.append(f"{source}[{i}]: a {kind} entry needs a `name`")
        for key in ("inputs", "outputs"):
            params = entry.get(key, [])
            if not isinstance(params, list) or not all(
                isinstance(p, Mapping) and isinstance(p.get("type"), str) for p in params
            ):
                problems.append(f"{source}[{i}].{key}: a list of parameters with a `type` each")
        abi.append(entry)
    if problems:
        raise ToolArgumentError(tool, problems)
    return abi


# ------------------------------------------------------------------------------ types


def _base_alias(t: str) -> str:
    """`uint` and `int` are `uint256` and `int256` (solc never writes them; people do)."""
    m = _ARRAY.match(t)
    if m:
        return f"{_base_alias(m['inner'])}[{m['size']}]"
    return {"uint": "uint256", "int": "int256", "byte": "bytes1"}.get(t, t)


def canonical_type(param: AbiItem) -> str:
    """The type as signatures and eth_abi write it: tuples expanded, `uint` → `uint256`."""
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", []))
        return f"({inner}){t[len('tuple') :]}"
    return _base_alias(t)


def signature(item: AbiItem) -> str:
    """`transfer(address,uint256)`."""
    return f"{item.get('name', '')}({','.join(canonical_type(p) for p in item.get('inputs', []))})"


def selector(item: AbiItem) -> bytes:
    """The 4-byte function selector (or the full 32-byte topic for an event: `event_topic`)."""
    return keccak(text=signature(item))[:4]


def event_topic(item: AbiItem) -> bytes:
    return keccak(text=signature(item))


def describe_function(item: AbiItem) -> str:
    """`transfer(address to, uint256 amount) returns (bool) [nonpayable]` for listings."""
    ins = ", ".join(
        f"{canonical_type(p)} {p['name']}" if p.get("name") else canonical_type(p)
        for p in item.get("inputs", [])
    )
    outs = ", ".join(
        f"{canonical_type(p)} {p['name']}" if p.get("name") else canonical_type(p)
        for p in item.get("outputs", [])
    )
    text = f"{item.get('name', '')}({ins})"
    if outs:
        text += f" returns ({outs})"
    return f"{text} [{mutability(item)}]"


def mutability(item: AbiItem) -> str:
    """`view`, `pure`, `payable` or `nonpayable` (old ABIs: `constant`/`payable` flags)."""
    state = item.get("stateMutability")
    if isinstance(state, str):
        return state
    if item.get("constant"):
        return "view"
    return "payable" if item.get("payable") else "nonpayable"


def is_read_only(item: AbiItem) -> bool:
    return mutability(item) in ("view", "pure")


def functions(abi: Sequence[AbiItem]) -> list[AbiItem]:
    return [item for item in abi if item.get("type", "function") == "function"]


def find_function(
    abi: Sequence[AbiItem], name: str, *, contract: str = "the contract", tool: str = "contract"
) -> AbiItem:
    """The function `name` (`transfer`), signature (`transfer(address,uint256)`) or selector.

    Raises:
        ToolArgumentError: no such function (the message lists every function), or the name
            is overloaded (the message lists the overloads' signatures).
    """
    wanted = name.strip()
    funcs = functions(abi)
    if "(" in wanted:
        compact = _ALIASES.sub(
            lambda m: {"uint": "uint256", "int": "int256", "byte": "bytes1"}[m[0]],
            re.sub(r"\s+", "", wanted),
        )
        matches = [f for f in funcs if signature(f) == compact]
    elif _SELECTOR.match(wanted):
        matches = [f for f in funcs if selector(f).hex() == wanted[2:].lower()]
    else:
        matches = [f for f in funcs if f.get("name") == wanted]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ToolArgumentError(
            tool,
            [
                f"function: `{wanted}` is overloaded in {contract}: "
                + "; ".join(f"`{signature(f)}`" for f in matches)
            ],
            hint="give the full signature as `function`, e.g. " + f"`{signature(matches[0])}`",
        )
    listing = "; ".join(describe_function(f) for f in funcs) or "none"
    raise ToolArgumentError(
        tool,
        [f"function: {contract} has no function `{wanted}`; its functions are: {listing}"],
        hint="use one of the listed names (or a full signature when a name is overloaded)",
    )


def constructor(abi: Sequence[AbiItem]) -> AbiItem | None:
    for item in abi:
        if item.get("type") == "constructor":
            return item
    return None


# ------------------------------------------------------------------------------ JSON → ABI


def coerce_args(
    params: Sequence[AbiItem], args: object, *, what: str = "the function", tool: str = "contract"
) -> list[Any]:
    """Turn JSON `args` into the Python values eth_abi encodes for `params`.

    `args` is an array in parameter order or an object keyed by parameter name.

    Raises:
        ToolArgumentError: listing every argument that does not fit its type.
    """
    expected = ", ".join(
        f"{canonical_type(p)} {p['name']}" if p.get("name") else canonical_type(p) for p in params
    )
    if args is None:
        args = []
    if isinstance(args, Mapping):
        names = [str(p.get("name") or "") for p in params]
        if not all(names):
            raise ToolArgumentError(
                tool,
                [f"args: {what} has unnamed parameters ({expected}); pass args as an array"],
            )
        unknown = sorted(set(args) - set(names))
        missing = [n for n in names if n not in args]
        if unknown or missing:
            problems = []
            if missing:
                problems.append(f"args: missing {', '.join(missing)}")
            if unknown:
                problems.append(f"args: {what} has no parameter {', '.join(unknown)}")
            raise ToolArgumentError(tool, problems, hint=f"{what} takes ({expected})")
        args = [args[n] for n in names]
    if not isinstance(args, list | tuple):
        raise ToolArgumentError(tool, [f"args: a JSON array of arguments for ({expected})"])
    if len(args) != len(params):
        raise ToolArgumentError(
            tool,
            [f"args: {what} takes {len(params)} argument(s) ({expected}), got {len(args)}"],
            hint=f"pass one value per parameter: ({expected})",
        )
    out: list[Any] = []
    problems = []
    for i, (param, value) in enumerate(zip(params, args, strict=True)):
        label = f"args[{i}]" + (f" ({param['name']})" if param.get("name") else "")
        try:
            out.append(_coerce(str(param["type"]), param.get("components", []), value, label))
        except _Bad as exc:
            problems.append(str(exc))
    if problems:
        raise ToolArgumentError(tool, problems, hint=f"{what} takes ({expected})")
    return out


def _show(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else "0x" + value.hex()
    return text if len(text) <= 80 else text[:80] + "…"


def _coerce(t: str, components: Sequence[AbiItem], value: object, where: str) -> Any:
    t = _base_alias(t)
    array = _ARRAY.match(t)
    if array:
        if not isinstance(value, list | tuple):
            raise _Bad(f"{where}: {t} needs a JSON array, got {_show(value)}")
        if array["size"] and len(value) != int(array["size"]):
            raise _Bad(f"{where}: {t} needs exactly {array['size']} items, got {len(value)}")
        return [
            _coerce(array["inner"], components, item, f"{where}[{i}]")
            for i, item in enumerate(value)
        ]
    if t == "tuple":
        return _coerce_tuple(components, value, where)
    if t == "address":
        if not isinstance(value, str):
            raise _Bad(f"{where}: an address is a 0x string, got {_show(value)}")
        problem = address_problem(value)
        if problem:
            raise _Bad(f"{where}: {problem}")
        return to_checksum_address(value)
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Bad(f"{where}: a bool is true or false, got {_show(value)}")
    if t == "string":
        if not isinstance(value, str):
            raise _Bad(f"{where}: a string argument needs a JSON string, got {_show(value)}")
        return value
    if t == "bytes":
        return _hex_bytes(value, where, None)
    m = _BYTES_N.match(t)
    if m and 1 <= int(m["size"]) <= 32:
        return _hex_bytes(value, where, int(m["size"]))
    m = _INT.match(t)
    if m:
        bits = int(m["bits"] or 256)
        if bits % 8 or not 8 <= bits <= 256:
            raise _Bad(f"{where}: `{t}` is not an ABI integer type")
        return _integer(value, where, t, signed=not m["sign"], bits=bits)
    raise _Bad(f"{where}: the ABI type `{t}` is not supported by the agent's tools")


def _coerce_tuple(components: Sequence[AbiItem], value: object, where: str) -> tuple[Any, ...]:
    names = [str(c.get("name") or "") for c in components]
    shape = ", ".join(
        f"{canonical_type(c)} {n}".strip() for c, n in zip(components, names, strict=True)
    )
    if isinstance(value, Mapping):
        if not all(names):
            raise _Bad(f"{where}: this tuple ({shape}) has unnamed fields; pass a JSON array")
        missing = [n for n in names if n not in value]
        unknown = sorted(set(value) - set(names))
        if missing or unknown:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if unknown:
                parts.append("unknown " + ", ".join(unknown))
            raise _Bad(f"{where}: tuple ({shape}): {'; '.join(parts)}")
        items = [value[n] for n in names]
    elif isinstance(value, list | tuple):
        if len(value) != len(components):
            raise _Bad(f"{where}: tuple ({shape}) needs {len(components)} values, got {len(value)}")
        items = list(value)
    else:
        raise _Bad(f"{where}: tuple ({shape}) needs a JSON object or array, got {_show(value)}")
    return tuple(
        _coerce(str(c["type"]), c.get("components", []), item, f"{where}.{n or i}")
        for i, (c, n, item) in enumerate(zip(components, names, items, strict=True))
    )


def _hex_bytes(value: object, where: str, size: int | None) -> bytes:
    kind = "bytes" if size is None else f"bytes{size}"
    if not isinstance(value, str) or not _HEX.match(value):
        raise _Bad(f"{where}: {kind} needs 0x-prefixed hex of whole bytes, got {_show(value)}")
    data = bytes.fromhex(value[2:])
    if size is not None and len(data) != size:
        raise _Bad(
            f"{where}: {kind} needs exactly {size} bytes ({2 * size} hex digits), got {len(data)}"
        )
    return data


def _integer(value: object, where: str, t: str, *, signed: bool, bits: int) -> int:
    number: int
    if isinstance(value, bool):
        raise _Bad(f"{where}: {t} needs a number, got {_show(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        # repr() is the shortest text that reads back as this float: what the model wrote.
        number = _integral(Decimal(repr(value)), value, where, t)
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if _UNIT.search(text) and not signed:
            try:
                number = parse_amount(text)
            except AgentError as exc:
                raise _Bad(f"{where}: {exc.message}") from None
        elif re.fullmatch(r"-?0[xX][0-9a-fA-F]+", text):
            number = int(text, 16)
        else:
            try:
                number = _integral(Decimal(text), value, where, t)
            except InvalidOperation:
                raise _Bad(
                    f"{where}: {t} needs an integer (a JSON number, or a decimal or 0x hex "
                    f"string), got {_show(value)}"
                ) from None
    else:
        raise _Bad(f"{where}: {t} needs an integer, got {_show(value)}")
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if not low <= number <= high:
        raise _Bad(f"{where}: {number} is outside {t} ({low} to {high})")
    return number


def _integral(number: Decimal, raw: object, where: str, t: str) -> int:
    if not number.is_finite() or number != number.to_integral_value():
        raise _Bad(f"{where}: {t} needs a whole number, got {_show(raw)}")
    return int(number)


# ------------------------------------------------------------------------------ encoding


def encode_args(params: Sequence[AbiItem], values: Sequence[Any]) -> bytes:
    """ABI-encode already coerced values (see `coerce_args`)."""
    try:
        return encode([canonical_type(p) for p in params], list(values))
    except (EncodingError, TypeError, ValueError) as exc:  # coercion should have caught it
        raise AgentError(f"the arguments could not be ABI-encoded: {exc}") from None


def encode_call(item: AbiItem, args: object, *, tool: str = "contract") -> tuple[bytes, list[Any]]:
    """Calldata (selector + arguments) for function `item`, and the coerced values."""
    params = item.get("inputs", [])
    values = coerce_args(params, args, what=f"`{signature(item)}`", tool=tool)
    return selector(item) + encode_args(params, values), values


def encode_constructor(abi: Sequence[AbiItem], args: object, *, tool: str = "contract") -> bytes:
    """The ABI-encoded constructor arguments to append to the creation code."""
    ctor = constructor(abi)
    params = ctor.get("inputs", []) if ctor else []
    if not params and args in (None, [], {}):
        return b""
    values = coerce_args(params, args, what="the constructor", tool=tool)
    return encode_args(params, values)


def contract_address(sender: str, nonce: int) -> str:
    """The address a CREATE from `sender` at `nonce` gets: keccak(rlp([sender, nonce]))[12:]."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + bytes.fromhex(sender[2:]) + encoded_nonce
    # The payload is at most 21 + 9 bytes, so the short list header always applies.
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


# ------------------------------------------------------------------------------ ABI → JSON


def to_json(param: AbiItem, value: Any) -> Any:
    """A decoded value as JSON: see the module docs for the rules."""
    return _to_json(str(param["type"]), param.get("components", []), value)


def _to_json(t: str, components: Sequence[AbiItem], value: Any) -> Any:
    t = _base_alias(t)
    array = _ARRAY.match(t)
    if array:
        return [_to_json(array["inner"], components, v) for v in value]
    if t == "tuple":
        names = [str(c.get("name") or "") for c in components]
        items = [
            _to_json(str(c["type"]), c.get("components", []), v)
            for c, v in zip(components, value, strict=True)
        ]
        if all(names) and len(set(names)) == len(names):
            return dict(zip(names, items, strict=True))
        return items
    if t == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        m = _INT.match(t)
        bits = int(m["bits"] or 256) if m else 256
        return value if bits <= 48 else str(value)
    return value


def decode_outputs(item: AbiItem, data: bytes) -> list[dict[str, Any]]:
    """The return values of `item` as `[{"name", "type", "value"}]` (JSON values).

    Raises:
        AgentError: the data does not decode as the outputs (wrong ABI, or no contract there).
    """
    params = item.get("outputs", [])
    types = [canonical_type(p) for p in params]
    if not params:
        return []
    try:
        values = decode(types, data)
    except (DecodingError, OverflowError, ValueError) as exc:
        raise AgentError(
            f"`{signature(item)}` returned {len(data)} byte(s) that do not decode as "
            f"({','.join(types)}): {exc}",
            hint="the ABI probably does not match the contract at this address",
        ) from None
    return [
        {"name": p.get("name") or "", "type": t, "value": to_json(p, v)}
        for p, t, v in zip(params, types, values, strict=True)
    ]


def outputs_result(outputs: Sequence[Mapping[str, Any]]) -> Any:
    """The one value, or an object by name when every output is named, else an array."""
    if len(outputs) == 1:
        return outputs[0]["value"]
    names = [str(o["name"]) for o in outputs]
    if names and all(names) and len(set(names)) == len(names):
        return {o["name"]: o["value"] for o in outputs}
    return [o["value"] for o in outputs]


def decode_event(abi: Sequence[AbiItem], topics: Sequence[str], data: str) -> dict[str, Any] | None:
    """A log decoded against `abi`: `{"event", "signature", "args"}`, or None if no event fits.

    Indexed parameters of dynamic types (strings, bytes, arrays, tuples) are stored as their
    keccak hash, so they come back as that 0x hash.
    """
    if not topics:
        return None
    topic0 = bytes.fromhex(topics[0][2:])
    for item in abi:
        if item.get("type") != "event" or item.get("anonymous") or event_topic(item) != topic0:
            continue
        params = item.get("inputs", [])
        indexed = [p for p in params if p.get("indexed")]
        plain = [p for p in params if not p.get("indexed")]
        if len(indexed) != len(topics) - 1:
            continue
        try:
            body = decode([canonical_type(p) for p in plain], bytes.fromhex(data[2:]))
            values: dict[int, Any] = {}
            for p, topic in zip(indexed, topics[1:], strict=True):
                t = canonical_type(p)
                raw = bytes.fromhex(topic[2:])
                dynamic = t in ("string", "bytes") or t.startswith("(") or t.endswith("]")
                values[id(p)] = "0x" + raw.hex() if dynamic else to_json(p, decode([t], raw)[0])
            for p, v in zip(plain, body, strict=True):
                values[id(p)] = to_json(p, v)
        except (DecodingError, OverflowError, ValueError):
            continue
        args = {str(p.get("name") or f"arg{i}"): values[id(p)] for i, p in enumerate(params)}
        return {"event": item["name"], "signature": signature(item), "args": args}
    return None


__all__ = [
    "Abi",
    "canonical_type",
    "coerce_args",
    "constructor",
    "contract_address",
    "decode_event",
    "decode_outputs",
    "describe_function",
    "encode_args",
    "encode_call",
    "encode_constructor",
    "event_topic",
    "find_function",
    "functions",
    "is_read_only",
    "load_abi",
    "mutability",
    "outputs_result",
    "selector",
    "signature",
    "to_json",
]
