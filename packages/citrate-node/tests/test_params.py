"""JSON-RPC parameter parsing: geth's rules, clear -32602 messages, and a fuzz test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citrate_node import params as p
from citrate_node.errors import INVALID_PARAMS, InvalidParams

ADDR = "0x" + "ab" * 20
HASH = "0x" + "cd" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0x0", 0), ("0x1", 1), ("0xff", 255), (5, 5), ("0X10", 16), ("0x" + "f" * 64, 2**256 - 1)],
)
def test_quantity_accepts(raw: Any, expected: int) -> None:
    assert p.quantity(raw, "q") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0x", "expected a hex quantity"),
        ("0x01", "leading zero"),
        ("12", "expected a hex quantity"),
        ("0xzz", "expected a hex quantity"),
        (True, "expected a hex quantity"),
        (1.5, "expected a hex quantity"),
        (-1, "must not be negative"),
        (None, "expected a hex quantity"),
        ("0x1" + "0" * 64, "> 256 bits"),
    ],
)
def test_quantity_rejects_with_a_reason(raw: Any, message: str) -> None:
    with pytest.raises(InvalidParams, match=message) as info:
        p.quantity(raw, "value")
    assert info.value.code == INVALID_PARAMS
    assert info.value.message.startswith("value:")


def test_quantity_range() -> None:
    with pytest.raises(InvalidParams, match="out of range"):
        p.quantity("0x10000000000000000", "nonce", maximum=p.MAX_UINT64)


def test_data_and_fixed_sizes() -> None:
    assert p.data("0x", "d") == b""
    assert p.data("0x00ff", "d") == b"\x00\xff"
    with pytest.raises(InvalidParams, match="odd number"):
        p.data("0x123", "d")
    with pytest.raises(InvalidParams, match="0x-prefixed hex"):
        p.data("1234", "d")
    assert p.address(ADDR) == bytes.fromhex("ab" * 20)
    with pytest.raises(InvalidParams, match="20-byte address"):
        p.address("0x1234")
    with pytest.raises(InvalidParams, match="32-byte hash"):
        p.hash32(ADDR)


def test_block_refs() -> None:
    for tag in ("latest", "earliest", "pending", "safe", "finalized"):
        assert p.block_ref(tag).tag == tag
    assert p.block_ref("0x10").number == 16
    assert p.block_ref({"blockNumber": "0x2"}).number == 2
    ref = p.block_ref({"blockHash": HASH, "requireCanonical": True})
    assert ref.hash == bytes.fromhex("cd" * 32)
    with pytest.raises(InvalidParams, match="one of latest"):
        p.block_ref("newest")
    with pytest.raises(InvalidParams, match="needs blockHash or blockNumber"):
        p.block_ref({})
    with pytest.raises(InvalidParams, match="expected true or false"):
        p.block_ref({"blockHash": HASH, "requireCanonical": "yes"})


def test_positional_counts() -> None:
    assert p.positional(None, "m", 0, 1) == [None]
    assert p.positional(["a"], "m", 1, 1) == ["a", None]
    with pytest.raises(InvalidParams, match="missing value for required argument 0"):
        p.positional([], "eth_getBalance", 1, 1)
    with pytest.raises(InvalidParams, match="too many arguments"):
        p.positional([1, 2, 3], "eth_getBalance", 1, 1)
    with pytest.raises(InvalidParams, match="positional parameters"):
        p.positional({"a": 1}, "eth_getBalance", 1, 1)


def test_call_args() -> None:
    args = p.call_args(
        {"from": ADDR, "to": ADDR, "input": "0x1234", "value": "0x5", "gas": "0x5208"}
    )
    assert (args.data, args.value, args.gas) == (b"\x12\x34", 5, 21000)
    assert p.call_args({"data": "0xab", "input": "0xab"}).data == b"\xab"
    with pytest.raises(InvalidParams, match='both "data" and "input"'):
        p.call_args({"data": "0xab", "input": "0xcd"})
    with pytest.raises(InvalidParams, match="both gasPrice and"):
        p.call_args({"gasPrice": "0x1", "maxFeePerGas": "0x2"})
    with pytest.raises(InvalidParams, match="higher than maxFeePerGas"):
        p.call_args({"maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"})
    with pytest.raises(InvalidParams, match=r"unknown field\(s\) \['form'\]"):
        p.call_args({"form": ADDR})
    with pytest.raises(InvalidParams, match="blob transactions"):
        p.call_args({"blobVersionedHashes": [HASH]})
    acl = p.call_args({"accessList": [{"address": ADDR, "storageKeys": [HASH]}]}).access_list
    assert acl == [(bytes.fromhex("ab" * 20), [bytes.fromhex("cd" * 32)])]


def test_log_filter() -> None:
    spec = p.log_filter(
        {"fromBlock": "0x1", "toBlock": "latest", "address": ADDR, "topics": [HASH, None, [HASH]]}
    )
    assert spec.from_block.number == 1
    assert spec.addresses == [bytes.fromhex("ab" * 20)]
    assert spec.topics == [[bytes.fromhex("cd" * 32)], None, [bytes.fromhex("cd" * 32)]]
    assert p.log_filter({"topics": [[HASH, None]]}).topics == [None]
    with pytest.raises(InvalidParams, match="cannot specify both blockHash"):
        p.log_filter({"blockHash": HASH, "fromBlock": "0x1"})
    with pytest.raises(InvalidParams, match="at most 4 topic"):
        p.log_filter({"topics": [None] * 5})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False)
    | st.text(max_size=80)
    | st.sampled_from(["0x", "0x0", "0x00", "latest", ADDR, HASH, "0x" + "f" * 70]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("from", "to", "data", "input", "value", "gas", "address", "topics"),
                    *("fromBlock", "toBlock", "blockHash", "blockNumber", "accessList", "x"),
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_parsers_never_fail_with_anything_but_invalid_params(value: Any) -> None:
    """Fuzz: any JSON value either parses or gives -32602 with a message (never a crash)."""
    parsers = [
        lambda v: p.quantity(v, "q"),
        lambda v: p.data(v, "d"),
        lambda v: p.address(v),
        lambda v: p.hash32(v),
        lambda v: p.block_ref(v),
        lambda v: p.call_args(v),
        lambda v: p.log_filter(v),
        lambda v: p.positional(v, "m", 1, 1),
        lambda v: p.access_list(v, "acl"),
    ]
    for parse in parsers:
        try:
            parse(value)
        except InvalidParams as err:
            assert err.code == INVALID_PARAMS
            assert err.message
