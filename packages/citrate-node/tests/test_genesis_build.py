"""Genesis predeploys through the binding: `citrate_native.build_genesis` and a `Chain` opened
with its result (code, storage, nonces and balances at block 0)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from citrate_native import CallRequest, Chain, build_genesis, keccak256
from citrate_native.errors import ChainError, CitrateValueError, GenesisError, StoreError

CHAIN_ID = 1337
TIMESTAMP = 1_700_000_000
GAS = 30_000_000
ETH = 10**18
DEPLOYER = bytes.fromhex("d0" * 20)
USER = bytes.fromhex("05" * 20)

# Runtime: return sload(0).
RUNTIME = bytes.fromhex("60005460005260206000f3")


def init_code(runtime: bytes = RUNTIME, value: int = 42) -> bytes:
    """sstore(0, value) then return `runtime` (value < 256, runtime < 256 bytes)."""
    prelude = bytes([0x60, value, 0x60, 0x00, 0x55])
    copy_len = 12
    copy = bytes([0x60, len(runtime), 0x60, len(prelude) + copy_len, 0x60, 0x00, 0x39])
    ret = bytes([0x60, len(runtime), 0x60, 0x00, 0xF3])
    assert len(copy + ret) == copy_len
    return prelude + copy + ret + runtime


def error_string(message: str) -> bytes:
    """ABI encoding of `Error(message)` (message at most 32 bytes)."""
    body = (32).to_bytes(32, "big") + len(message).to_bytes(32, "big")
    return bytes.fromhex("08c379a0") + body + message.encode().ljust(32, b"\0")


def reverting_init(message: str) -> bytes:
    """Init code that reverts with `Error(message)`."""
    data = error_string(message)
    code = bytearray()
    for offset in range(0, len(data), 32):
        code += b"\x7f" + data[offset : offset + 32].ljust(32, b"\0")
        code += bytes([0x60, offset, 0x52])  # PUSH1 offset MSTORE
    code += bytes([0x60, len(data), 0x60, 0x00, 0xFD])  # REVERT(0, len)
    return bytes(code)


def create_address(sender: bytes, nonce: int) -> bytes:
    """keccak256(rlp([sender, nonce]))[12:] for nonce < 128, RLP written out by hand."""
    assert nonce < 0x80
    rlp = bytes([0xD6, 0x94]) + sender + (bytes([nonce]) if nonce else b"\x80")
    return keccak256(rlp)[12:]


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def state_root(chain: Chain, number: int = 0) -> str:
    block = chain.block_by_number(number, False)
    assert block is not None
    root: str = json.loads(block)["stateRoot"]
    return root


def open_chain(path: Path, alloc: Any) -> Chain:
    return Chain(path, genesis_alloc=alloc, genesis_timestamp=TIMESTAMP)


@pytest.fixture
def predeployed() -> list[tuple[bytes, int, int, bytes, dict[int, int]]]:
    alloc = [(DEPLOYER, ETH), (USER, 5 * ETH)]
    return build_genesis(CHAIN_ID, alloc, [(DEPLOYER, None, init_code(), 0)], TIMESTAMP, GAS)


def test_build_genesis_result(
    predeployed: list[tuple[bytes, int, int, bytes, dict[int, int]]],
) -> None:
    counter = create_address(DEPLOYER, 0)
    assert predeployed == sorted(
        [
            (DEPLOYER, ETH, 1, b"", {}),  # nonce used by the CREATE, no fee charged
            (USER, 5 * ETH, 0, b"", {}),
            (counter, 0, 1, RUNTIME, {0: 42}),
        ]
    )
    # The result is a fixed point: building again without calls gives it back.
    assert build_genesis(CHAIN_ID, predeployed, [], TIMESTAMP, GAS) == predeployed


def test_calls_run_in_order_with_increasing_nonces() -> None:
    calls: list[tuple[bytes, bytes | None, bytes, int]]
    calls = [(DEPLOYER, None, init_code(value=v), 0) for v in (1, 2, 3)]
    calls.append((DEPLOYER, USER, b"", 7))  # a plain transfer
    out = build_genesis(CHAIN_ID, [(DEPLOYER, ETH)], calls, TIMESTAMP, GAS)
    accounts = {a[0]: a for a in out}
    for nonce, value in enumerate((1, 2, 3)):
        assert accounts[create_address(DEPLOYER, nonce)][4] == {0: value}
    assert accounts[DEPLOYER][1:3] == (ETH - 7, 4)
    assert accounts[USER] == (USER, 7, 0, b"", {})


def test_chain_serves_predeploys_at_block_zero(
    tmp_path: Path, predeployed: list[tuple[bytes, int, int, bytes, dict[int, int]]]
) -> None:
    counter = create_address(DEPLOYER, 0)
    plain = open_chain(tmp_path / "plain", [(DEPLOYER, ETH), (USER, 5 * ETH)])
    chain = open_chain(tmp_path / "chain", predeployed)
    assert chain.code(counter, 0) == RUNTIME
    assert chain.storage_at(counter, word(0), 0) == word(42)
    assert chain.nonce(counter, 0) == 1
    assert chain.nonce(DEPLOYER, 0) == 1
    assert chain.balance(DEPLOYER, 0) == ETH
    assert chain.balance(USER, 0) == 5 * ETH
    assert chain.call(CallRequest(to=counter), 0) == word(42)
    assert state_root(chain) != state_root(plain)
    assert chain.genesis_hash != plain.genesis_hash
    # Mining on top keeps the predeploy; reopening serves it from the store.
    chain.mine()
    assert chain.code(counter, 1) == RUNTIME
    chain.close()
    chain = open_chain(tmp_path / "chain", predeployed)
    assert chain.code(counter, 0) == RUNTIME
    assert chain.storage_at(counter, word(0), 1) == word(42)
    chain.close()
    # A different predeploy set is a different genesis.
    other = [(a, b, n, c, {0: 41} if s else s) for a, b, n, c, s in predeployed]
    with pytest.raises(StoreError, match="different genesis"):
        open_chain(tmp_path / "chain", other)
    with pytest.raises(StoreError, match="different genesis"):
        open_chain(tmp_path / "chain", [(DEPLOYER, ETH), (USER, 5 * ETH)])


def test_balance_tuples_and_full_tuples_mix(tmp_path: Path) -> None:
    big = 2**200
    alloc: list[Any] = [
        (USER, 5),
        (USER, 7),  # plain balances for one address are summed, as before
        (DEPLOYER, big, 3, RUNTIME, {1: 2**255, 2: 0}),
        [bytes(20), 1],  # lists are accepted too
    ]
    chain = open_chain(tmp_path / "c", alloc)
    assert chain.balance(USER, 0) == 12
    assert chain.balance(DEPLOYER, 0) == big
    assert chain.nonce(DEPLOYER, 0) == 3
    assert chain.code(DEPLOYER, 0) == RUNTIME
    assert chain.storage_at(DEPLOYER, word(1), 0) == word(2**255)
    assert chain.storage_at(DEPLOYER, word(2), 0) == word(0)
    assert build_genesis(CHAIN_ID, alloc, [], TIMESTAMP, GAS) == [
        (bytes(20), 1, 0, b"", {}),
        (USER, 12, 0, b"", {}),
        (DEPLOYER, big, 3, RUNTIME, {1: 2**255}),
    ]


def test_reverting_call_raises_genesis_error() -> None:
    calls = [(DEPLOYER, None, init_code(), 0), (DEPLOYER, None, reverting_init("boom"), 0)]
    with pytest.raises(GenesisError) as info:
        build_genesis(CHAIN_ID, [], calls, TIMESTAMP, GAS)
    err = info.value
    assert isinstance(err, ChainError)
    assert err.index == 1
    assert err.data == error_string("boom")
    message = str(err)
    assert message.startswith("genesis call 1 (create by ")
    assert "0x" + create_address(DEPLOYER, 1).hex() in message.lower()
    assert "reverted: boom" in message
    assert "0x" + error_string("boom").hex() in message
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 (our own bytes)
    assert (type(copy), str(copy), copy.index, copy.data) == (GenesisError, message, 1, err.data)


def test_halting_and_invalid_calls_raise_genesis_error() -> None:
    endless = bytes([0x5B, 0x60, 0x00, 0x56])  # JUMPDEST PUSH1 0 JUMP
    with pytest.raises(GenesisError, match="out of gas") as info:
        build_genesis(CHAIN_ID, [], [(DEPLOYER, None, endless, 0)], TIMESTAMP, 100_000)
    assert info.value.index == 0 and info.value.data == b""
    assert "hint: raise `gas_limit`" in str(info.value)
    too_big = bytes([0x61, 0x60, 0x01, 0x60, 0x00, 0xF3])  # RETURN(0, 24577): over EIP-170
    with pytest.raises(GenesisError, match="max code size exceeded"):
        build_genesis(CHAIN_ID, [], [(DEPLOYER, None, too_big, 0)], TIMESTAMP, GAS)
    with pytest.raises(GenesisError, match="insufficient funds"):
        build_genesis(CHAIN_ID, [], [(DEPLOYER, USER, b"", 1)], TIMESTAMP, GAS)


@pytest.mark.parametrize(
    ("alloc", "error", "message"),
    [
        ([(USER,)], TypeError, r"`alloc\[0\]` must be a tuple .* got 1 items"),
        ([(USER, 1, 0, b"")], TypeError, "got 4 items"),
        (["x"], TypeError, "got str"),
        ([(USER[:19], 1)], CitrateValueError, r"`alloc\[0\] address` must be 20 bytes"),
        ([(USER, -1)], CitrateValueError, r"`alloc\[0\] balance` must be a non-negative"),
        ([(USER, True)], TypeError, "got bool"),
        ([(USER, 1, 2**64, b"", {})], CitrateValueError, r"`alloc\[0\] nonce` must be in"),
        ([(USER, 1, 0, "00", {})], TypeError, r"`alloc\[0\] code` must be bytes"),
        ([(USER, 1, 0, b"", [1])], TypeError, r"must be a dict \{slot: value\}"),
        ([(USER, 1, 0, b"", {1: 2**256})], CitrateValueError, r"storage\[0x1\]"),
        (
            [(USER, 1), (USER, 0, 0, RUNTIME, {})],
            CitrateValueError,
            "more than once, and one of its entries has code",
        ),
        ([(USER, 0, 0, bytes.fromhex("ef0100"), {})], CitrateValueError, "EIP-7702"),
    ],
)
def test_bad_alloc_entries(alloc: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build_genesis(CHAIN_ID, alloc, [], TIMESTAMP, GAS)


def test_bad_alloc_does_not_create_a_chain(tmp_path: Path) -> None:
    with pytest.raises(CitrateValueError, match=r"`genesis_alloc\[1\] address`"):
        open_chain(tmp_path / "c", [(USER, 1), (b"\x01", 1)])
    with pytest.raises(CitrateValueError, match="more than once"):
        open_chain(tmp_path / "c", [(USER, 0, 1, b"", {}), (USER, 0, 1, b"", {})])
    assert not (tmp_path / "c" / "chain.redb").exists()


def test_bad_calls() -> None:
    with pytest.raises(CitrateValueError, match=r"`calls\[0\] to` must be 20 bytes"):
        build_genesis(CHAIN_ID, [], [(DEPLOYER, b"\x01", b"", 0)], TIMESTAMP, GAS)
    with pytest.raises(CitrateValueError, match="`gas_limit` must be in"):
        build_genesis(CHAIN_ID, [], [], TIMESTAMP, -1)
