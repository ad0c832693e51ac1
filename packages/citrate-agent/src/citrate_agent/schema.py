"""JSON Schema checks for tool arguments, with Citrate's formats.

Every tool declares its arguments as a JSON Schema object (Draft 2020-12). The same schema goes
to the LLM (OpenAI `parameters`, Anthropic `input_schema`, the local model's grammar) and is
enforced here before the tool runs, so a model can never call a tool with arguments the tool
did not ask for. Formats (checked, not just annotations):

- `address`: 0x + 40 hex digits; mixed case must be the EIP-55 checksum (all lower or all upper
  case carries no checksum and is accepted, as in every Ethereum wallet).
- `amount`: a SALT amount as `citrate_agent.units.parse_amount` reads it ("1.5", "2 gwei").
- `hex`: 0x-prefixed hex of whole bytes. `bytes32`: exactly 32 bytes of hex.
- `block`: a block number, a 32-byte block hash, or latest / earliest / pending / safe / finalized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eth_utils.address import to_checksum_address
from jsonschema import Draft202012Validator, FormatChecker

from citrate_agent.errors import AgentError, ToolArgumentError
from citrate_agent.units import parse_amount

_HEX = re.compile(r"^0x([0-9a-fA-F]{2})*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")

FORMATS = FormatChecker(formats=())


def address_problem(value: str) -> str | None:
    """Why `value` is not a usable address, or None."""
    if not _ADDRESS.match(value):
        return f"`{value}` is not an address (0x followed by 40 hex digits)"
    body = value[2:]
    if body != body.lower() and body != body.upper() and to_checksum_address(value) != value:
        # Never offer the "corrected" form: a bad checksum means a mistyped character, and
        # the address the user meant is unknown.
        return (
            f"`{value}` fails its EIP-55 checksum, so a character is probably mistyped; copy the "
            "address again from its source"
        )
    return None


@FORMATS.checks("address", raises=ValueError)
def _is_address(value: object) -> bool:
    if not isinstance(value, str):
        return True
    problem = address_problem(value)
    if problem:
        raise ValueError(problem)
    return True


@FORMATS.checks("amount", raises=AgentError)
def _is_amount(value: object) -> bool:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        parse_amount(value)
    return True


@FORMATS.checks("hex", raises=ValueError)
def _is_hex(value: object) -> bool:
    if isinstance(value, str) and not _HEX.match(value):
        raise ValueError(f"`{_short(value)}` is not 0x-prefixed hex of whole bytes")
    return True


@FORMATS.checks("bytes32", raises=ValueError)
def _is_bytes32(value: object) -> bool:
    if isinstance(value, str) and not _BYTES32.match(value):
        raise ValueError(f"`{_short(value)}` is not 32 bytes of hex (0x + 64 hex digits)")
    return True


@FORMATS.checks("block", raises=ValueError)
def _is_block(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`{value}` is not a block number")
        return True
    if isinstance(value, str):
        text = value.strip().lower()
        if text in BLOCK_TAGS or (text.isascii() and text.isdigit()) or _BYTES32.match(text):
            return True
        if text.startswith("0x") and len(text) <= 18 and _HEX.match("0x" + text[2:].zfill(16)):
            return True
        raise ValueError(
            f"`{_short(value)}` is not a block: give a number, a 0x block hash, or one of "
            + ", ".join(BLOCK_TAGS)
        )
    return True


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


class SchemaCache:
    """Compiled validators, one per schema object (schemas are module constants)."""

    def __init__(self) -> None:
        self._validators: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}

    def validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            Draft202012Validator.check_schema(schema)
            entry = (schema, Draft202012Validator(schema, format_checker=FORMATS))
            self._validators[id(schema)] = entry
        return entry[1]


_CACHE = SchemaCache()


def validate_arguments(tool: str, schema: Mapping[str, Any], arguments: object) -> dict[str, Any]:
    """Check `arguments` against `schema`; return them as a dict.

    Raises:
        ToolArgumentError: listing every problem, each naming the argument.
    """
    if not isinstance(arguments, dict):
        raise ToolArgumentError(tool, [f"arguments must be a JSON object, not {_kind(arguments)}"])
    validator = _CACHE.validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path)
        message = _describe(error)
        problems.append(f"{where}: {message}" if where else message)
    if problems:
        raise ToolArgumentError(tool, problems)
    normalised: dict[str, Any] = _integral(arguments)
    return normalised


def _integral(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer; hand tools a real int for it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _describe(error: Any) -> str:
    if error.validator == "format" and error.cause is not None:
        cause = error.cause
        return cause.message if isinstance(cause, AgentError) else str(cause)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; the accepted arguments are: {', '.join(allowed) or 'none'}"
    return str(error.message)


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def object_schema(
    properties: Mapping[str, Any], required: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """A closed object schema (no extra arguments) with these properties."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


ADDRESS: dict[str, Any] = {"type": "string", "format": "address"}
AMOUNT: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
    "format": "amount",
}
HEX: dict[str, Any] = {"type": "string", "format": "hex"}
BYTES32: dict[str, Any] = {"type": "string", "format": "bytes32"}
BLOCK: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
    "format": "block",
}

__all__ = [
    "ADDRESS",
    "AMOUNT",
    "BLOCK",
    "BLOCK_TAGS",
    "BYTES32",
    "FORMATS",
    "HEX",
    "address_problem",
    "object_schema",
    "validate_arguments",
]
