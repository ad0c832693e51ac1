"""Hand-assembled test contracts (no solc on the machines yet).

Each contract is written as a list of EVM mnemonics with comments; `assemble` turns it into
bytes (resolving `Label` jump targets to 2-byte pushes) and `deploy_code` wraps a runtime in the
usual init code (optional constructor body, then CODECOPY + RETURN of the runtime). The
selectors and event topics are computed from their Solidity signatures so the web3.py ABIs
below match. `test_contracts.py` checks each contract's behaviour on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import function_signature_to_4byte_selector, keccak

# Opcode table: only what the contracts below use.
_OPS = {
    "STOP": 0x00,
    "ADD": 0x01,
    "MUL": 0x02,
    "EQ": 0x14,
    "ISZERO": 0x15,
    "SHR": 0x1C,
    "CALLER": 0x33,
    "CALLDATALOAD": 0x35,
    "CALLDATASIZE": 0x36,
    "CODECOPY": 0x39,
    "TIMESTAMP": 0x42,
    "NUMBER": 0x43,
    "POP": 0x50,
    "MSTORE": 0x52,
    "SLOAD": 0x54,
    "SSTORE": 0x55,
    "JUMP": 0x56,
    "JUMPI": 0x57,
    "JUMPDEST": 0x5B,
    "PUSH0": 0x5F,
    "DUP1": 0x80,
    "DUP2": 0x81,
    "SWAP1": 0x90,
    "LOG1": 0xA1,
    "LOG3": 0xA3,
    "RETURN": 0xF3,
    "REVERT": 0xFD,
    "INVALID": 0xFE,
}


@dataclass(frozen=True)
class Label:
    """A jump target: `Label("x")` as an operand pushes its offset, `Def("x")` places it."""

    name: str


@dataclass(frozen=True)
class Def:
    """Places a `Label` here (emits JUMPDEST)."""

    name: str


@dataclass(frozen=True)
class Push:
    """PUSHn of `value` (int or bytes) in the fewest bytes (at least `width`)."""

    value: int | bytes
    width: int = 1


Op = str | Push | Label | Def


def _push_bytes(p: Push) -> bytes:
    raw = p.value if isinstance(p.value, bytes) else p.value.to_bytes(32, "big").lstrip(b"\0")
    raw = raw.rjust(max(p.width, len(raw), 1), b"\0")
    if not 1 <= len(raw) <= 32:
        raise ValueError(f"push of {len(raw)} bytes")
    return bytes([0x5F + len(raw)]) + raw


def assemble(ops: list[Op]) -> bytes:
    """Assemble mnemonics; labels are 2-byte PUSH2 operands resolved in a second pass."""
    offsets: dict[str, int] = {}
    pos = 0
    for op in ops:  # first pass: sizes and label offsets
        if isinstance(op, Def):
            offsets[op.name] = pos
            pos += 1
        elif isinstance(op, Label):
            pos += 3
        elif isinstance(op, Push):
            pos += len(_push_bytes(op))
        else:
            pos += 1
    out = bytearray()
    for op in ops:
        if isinstance(op, Def):
            out.append(_OPS["JUMPDEST"])
        elif isinstance(op, Label):
            out += bytes([0x61]) + offsets[op.name].to_bytes(2, "big")
        elif isinstance(op, Push):
            out += _push_bytes(op)
        else:
            out.append(_OPS[op])
    return bytes(out)


def deploy_code(runtime: bytes, constructor: list[Op] | None = None) -> bytes:
    """Init code: run `constructor`, then return `runtime` (appended after the init code)."""
    body = assemble(constructor or [])
    # PUSH2 len, DUP1, PUSH2 offset, PUSH0, CODECOPY (mem[0:len] = code[offset:]), PUSH0, RETURN
    tail_len = 3 + 1 + 3 + 1 + 1 + 1 + 1
    offset = len(body) + tail_len
    tail = (
        bytes([0x61])
        + len(runtime).to_bytes(2, "big")
        + bytes([0x80, 0x61])
        + offset.to_bytes(2, "big")
        + bytes([0x5F, 0x39, 0x5F, 0xF3])
    )
    assert len(tail) == tail_len
    return body + tail + runtime


def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _dispatch(*routes: tuple[str, str]) -> list[Op]:
    """Selector dispatch: jump to label for each (signature, label); else revert empty."""
    ops: list[Op] = [Push(0), "CALLDATALOAD", Push(0xE0), "SHR"]  # selector on the stack
    for signature, label in routes:
        ops += ["DUP1", Push(selector(signature)), "EQ", Label(label), "JUMPI"]
    ops += ["PUSH0", "PUSH0", "REVERT"]
    return ops


_RETURN_TOP: list[Op] = [Push(0), "MSTORE", Push(32), Push(0), "RETURN"]  # return one word

# --- Store: a storage getter/setter and a counter, slot 0 (constructor stores 42) -----------
STORE_INITIAL = 42
STORE_RUNTIME = assemble(
    [
        *_dispatch(("get()", "get"), ("set(uint256)", "set"), ("increment()", "inc")),
        Def("get"),  # get() -> sload(0)
        Push(0),
        "SLOAD",
        *_RETURN_TOP,
        Def("set"),  # set(x): sstore(0, x)
        Push(4),
        "CALLDATALOAD",
        Push(0),
        "SSTORE",
        "STOP",
        Def("inc"),  # increment(): sstore(0, sload(0) + 1)
        Push(0),
        "SLOAD",
        Push(1),
        "ADD",
        Push(0),
        "SSTORE",
        "STOP",
    ]
)
STORE_DEPLOY = deploy_code(STORE_RUNTIME, [Push(STORE_INITIAL), Push(0), "SSTORE"])
STORE_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "get",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
        "stateMutability": "view",
    },
    {
        "type": "function",
        "name": "set",
        "inputs": [{"name": "x", "type": "uint256"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "increment",
        "inputs": [],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
]

# --- Emitter: ping(n) logs Ping(sender, n, 2n) then Pong(n) ---------------------------------
PING_SIG = "Ping(address,uint256,uint256)"  # event Ping(address indexed, uint256 indexed, uint256)
PONG_SIG = "Pong(uint256)"  # event Pong(uint256)
PING_TOPIC = keccak(text=PING_SIG)
PONG_TOPIC = keccak(text=PONG_SIG)
EMITTER_RUNTIME = assemble(
    [
        *_dispatch(("ping(uint256)", "ping")),
        Def("ping"),
        Push(4),
        "CALLDATALOAD",  # n
        "DUP1",
        "DUP1",
        "ADD",  # n, 2n
        Push(0),
        "MSTORE",  # mem[0] = 2n; stack: n
        "DUP1",  # n, n  (topic2 = n)
        "CALLER",  # topic1 = sender
        Push(PING_TOPIC),  # topic0
        Push(32),
        Push(0),  # LOG3(offset 0, size 32, topic0, sender, n)
        "LOG3",
        Push(0),
        "MSTORE",  # mem[0] = n
        Push(PONG_TOPIC),
        Push(32),
        Push(0),  # LOG1(offset 0, size 32, topic0)
        "LOG1",
        "STOP",
    ]
)
EMITTER_DEPLOY = deploy_code(EMITTER_RUNTIME)
EMITTER_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "ping",
        "inputs": [{"name": "n", "type": "uint256"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "event",
        "name": "Ping",
        "anonymous": False,
        "inputs": [
            {"name": "sender", "type": "address", "indexed": True},
            {"name": "n", "type": "uint256", "indexed": True},
            {"name": "doubled", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Pong",
        "anonymous": False,
        "inputs": [{"name": "n", "type": "uint256", "indexed": False}],
    },
]

# --- Reverter: fail() reverts Error("nope"); failCustom() reverts Nope(7); failEmpty() --------
REVERT_REASON = "nope"
# Error(string) = 0x08c379a0, offset 0x20, length 4, "nope" padded: 4 + 3 * 32 = 100 bytes.
ERROR_NOPE = (
    selector("Error(string)")
    + (32).to_bytes(32, "big")
    + len(REVERT_REASON).to_bytes(32, "big")
    + REVERT_REASON.encode().ljust(32, b"\0")
)
CUSTOM_ERROR_SIG = "Nope(uint256)"
CUSTOM_ERROR_CODE = 7
CUSTOM_ERROR = selector(CUSTOM_ERROR_SIG) + CUSTOM_ERROR_CODE.to_bytes(32, "big")  # 36 bytes
REVERTER_RUNTIME = assemble(
    [
        *_dispatch(("fail()", "fail"), ("failCustom()", "custom"), ("failEmpty()", "empty")),
        Def("fail"),
        # mem[0:100] = ERROR_NOPE, written as four words (the last one only partly used).
        Push(ERROR_NOPE[0:32]),
        Push(0),
        "MSTORE",
        Push(ERROR_NOPE[32:64]),
        Push(32),
        "MSTORE",
        Push(ERROR_NOPE[64:96]),
        Push(64),
        "MSTORE",
        Push(ERROR_NOPE[96:100].ljust(32, b"\0")),
        Push(96),
        "MSTORE",
        Push(len(ERROR_NOPE)),
        Push(0),
        "REVERT",
        Def("custom"),
        Push(CUSTOM_ERROR[0:32]),
        Push(0),
        "MSTORE",
        Push(CUSTOM_ERROR[32:36].ljust(32, b"\0")),
        Push(32),
        "MSTORE",
        Push(len(CUSTOM_ERROR)),
        Push(0),
        "REVERT",
        Def("empty"),
        "PUSH0",
        "PUSH0",
        "REVERT",
    ]
)
REVERTER_DEPLOY = deploy_code(REVERTER_RUNTIME)
REVERTER_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": name, "inputs": [], "outputs": [], "stateMutability": "view"}
    for name in ("fail", "failCustom", "failEmpty")
] + [
    {
        "type": "error",
        "name": "Nope",
        "inputs": [{"name": "code", "type": "uint256"}],
    }
]
