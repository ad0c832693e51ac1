"""Unit tests of citrate_agent.abi: find functions, read JSON arguments, encode, decode."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rlp  # type: ignore[import-untyped]
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from citrate_agent import abi
from citrate_agent.errors import AgentError, ToolArgumentError
from citrate_contracts.artifacts import load_artifact

ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _p(t: str, name: str = "", **kw: Any) -> dict[str, Any]:
    return {"type": t, "name": name, **kw}


ORDER = _p(
    "tuple",
    "order",
    components=[_p("address", "maker"), _p("uint256", "amount"), _p("bytes32[]", "tags")],
)
TOKEN_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "transfer",
        "inputs": [_p("address", "to"), _p("uint256", "amount")],
        "outputs": [_p("bool")],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "transfer",
        "inputs": [_p("address", "to"), _p("uint256", "amount"), _p("bytes", "data")],
        "outputs": [_p("bool")],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "balanceOf",
        "inputs": [_p("address", "who")],
        "outputs": [_p("uint256", "balance")],
        "stateMutability": "view",
    },
    {
        "type": "function",
        "name": "place",
        "inputs": [ORDER, _p("int8", "side"), _p("bool", "flag")],
        "outputs": [_p("uint64", "id"), _p("string", "note")],
        "stateMutability": "payable",
    },
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            _p("address", "from", indexed=True),
            _p("address", "to", indexed=True),
            _p("uint256", "value", indexed=False),
        ],
    },
    {
        "type": "event",
        "name": "Noted",
        "anonymous": False,
        "inputs": [_p("string", "topic", indexed=True), _p("bytes", "body", indexed=False)],
    },
    {"type": "constructor", "inputs": [_p("string", "name"), _p("uint8", "decimals")]},
]


def _problems(exc: pytest.ExceptionInfo[ToolArgumentError]) -> str:
    return " | ".join(exc.value.problems)


# ------------------------------------------------------------------------------ find_function


def test_find_function_by_name_signature_and_selector() -> None:
    assert abi.find_function(TOKEN_ABI, "balanceOf")["inputs"][0]["name"] == "who"
    two = abi.find_function(TOKEN_ABI, "transfer(address, uint256)")
    assert abi.signature(two) == "transfer(address,uint256)"
    three = abi.find_function(TOKEN_ABI, "transfer(address,uint,bytes)")  # `uint` alias
    assert len(three["inputs"]) == 3
    nested = abi.find_function(TOKEN_ABI, "place((address, uint, bytes32[]), int8, bool)")
    assert nested["name"] == "place"
    trailing = [
        {
            "type": "function",
            "name": "g",
            "inputs": [_p("uint256"), _p("tuple", components=[_p("uint8"), _p("uint8")])],
        }
    ]
    assert abi.find_function(trailing, "g(uint,(uint8,uint8))") is trailing[0]
    by_selector = abi.find_function(TOKEN_ABI, "0xa9059cbb")
    assert by_selector is two
    assert abi.signature(abi.find_function(TOKEN_ABI, "place")) == (
        "place((address,uint256,bytes32[]),int8,bool)"
    )


def test_overloaded_name_lists_the_signatures() -> None:
    with pytest.raises(ToolArgumentError) as exc:
        abi.find_function(TOKEN_ABI, "transfer", contract="Token", tool="call_contract")
    text = _problems(exc)
    assert "overloaded" in text
    assert "`transfer(address,uint256)`" in text and "`transfer(address,uint256,bytes)`" in text
    assert exc.value.tool == "call_contract"
    assert "full signature" in (exc.value.hint or "")


def test_unknown_function_lists_every_function() -> None:
    with pytest.raises(ToolArgumentError) as exc:
        abi.find_function(TOKEN_ABI, "mint", contract="Token")
    text = _problems(exc)
    assert "Token has no function `mint`" in text
    assert "balanceOf(address who) returns (uint256 balance) [view]" in text
    assert "place((address,uint256,bytes32[]) order, int8 side, bool flag)" in text
    with pytest.raises(ToolArgumentError, match="functions are: none"):
        abi.find_function([], "x")


# ------------------------------------------------------------------------------ coercion


@pytest.mark.parametrize(
    ("t", "value", "expected"),
    [
        ("uint256", 5, 5),
        ("uint256", "123456789012345678901234567890", 123456789012345678901234567890),
        ("uint256", "0xff", 255),
        ("uint256", 1e18, 10**18),
        ("uint256", "2.5e18", 25 * 10**17),
        ("uint256", "1.5 SALT", 15 * 10**17),
        ("uint256", "2 gwei", 2 * 10**9),
        ("uint", "1_000", 1000),
        ("int8", -128, -128),
        ("int256", "-42", -42),
        ("int16", "-0x10", -16),
        ("bool", True, True),
        ("bool", "false", False),
        ("string", "héllo", "héllo"),
        ("bytes", "0x", b""),
        ("bytes", "0xdeadbeef", b"\xde\xad\xbe\xef"),
        ("bytes4", "0x01ffc9a7", b"\x01\xff\xc9\xa7"),
        ("address", ALICE.lower(), ALICE),
        ("address", "0x" + ALICE[2:].upper(), ALICE),
        ("uint8[2]", [1, "2"], [1, 2]),
        ("address[]", [ALICE, BOB], [ALICE, BOB]),
        ("uint256[][]", [[1], [], [2, 3]], [[1], [], [2, 3]]),
    ],
)
def test_coerce_accepts(t: str, value: object, expected: object) -> None:
    assert abi.coerce_args([_p(t, "x")], [value]) == [expected]


@pytest.mark.parametrize(
    ("t", "value", "message"),
    [
        ("uint256", -1, "outside uint256"),
        ("uint8", 256, "outside uint8 (0 to 255)"),
        ("int8", 128, "outside int8 (-128 to 127)"),
        ("uint256", 1.5, "whole number"),
        ("uint256", "12abc", "needs an integer"),
        ("uint256", True, "needs a number"),
        ("uint256", None, "needs an integer"),
        ("uint256", "1.5 dollars", "needs an integer"),
        ("uint256", "0.0000000001 gwei", "is not an amount"),
        ("bool", 1, "true or false"),
        ("string", 5, "JSON string"),
        ("bytes", "deadbeef", "0x-prefixed hex"),
        ("bytes", "0xabc", "whole bytes"),
        ("bytes32", "0x1234", "exactly 32 bytes"),
        ("address", "0x1234", "is not an address"),
        ("address", ALICE.replace("F", "f", 1), "checksum"),
        ("address", 5, "0x string"),
        ("uint8[2]", [1], "exactly 2 items"),
        ("uint8[]", "1,2", "JSON array"),
        ("fixed128x18", 1, "not supported"),
    ],
)
def test_coerce_refuses_with_a_clear_problem(t: str, value: object, message: str) -> None:
    with pytest.raises(ToolArgumentError) as exc:
        abi.coerce_args([_p(t, "x")], [value], tool="write_contract")
    assert message in _problems(exc)
    assert _problems(exc).startswith("args[0] (x)")
    assert exc.value.tool == "write_contract"


def test_coerce_lists_every_bad_argument_and_arity() -> None:
    params = [_p("address", "to"), _p("uint256", "amount")]
    with pytest.raises(ToolArgumentError) as exc:
        abi.coerce_args(params, ["bob", "lots"])
    assert len(exc.value.problems) == 2
    assert "args[0] (to)" in exc.value.problems[0] and "args[1] (amount)" in exc.value.problems[1]
    assert "(address to, uint256 amount)" in (exc.value.hint or "")
    with pytest.raises(ToolArgumentError, match="takes 2 argument"):
        abi.coerce_args(params, [ALICE])
    with pytest.raises(ToolArgumentError, match="JSON array"):
        abi.coerce_args(params, "alice, 5")


def test_coerce_args_by_name() -> None:
    params = [_p("address", "to"), _p("uint256", "amount")]
    assert abi.coerce_args(params, {"amount": "7", "to": BOB}) == [BOB, 7]
    with pytest.raises(ToolArgumentError) as exc:
        abi.coerce_args(params, {"to": BOB, "amout": 7})
    assert "missing amount" in _problems(exc) and "no parameter amout" in _problems(exc)
    with pytest.raises(ToolArgumentError, match="unnamed parameters"):
        abi.coerce_args([_p("uint256")], {"x": 1})


def test_tuples_from_arrays_or_objects() -> None:
    tag = "0x" + "11" * 32
    as_object = {"maker": ALICE.lower(), "amount": "10", "tags": [tag]}
    as_array = [ALICE, 10, [tag]]
    want = (ALICE, 10, [bytes.fromhex("11" * 32)])
    assert abi.coerce_args([ORDER], [as_object]) == [want]
    assert abi.coerce_args([ORDER], [as_array]) == [want]
    with pytest.raises(ToolArgumentError) as exc:
        abi.coerce_args([ORDER], [{"maker": ALICE, "amount": 1}])
    assert "missing tags" in _problems(exc)
    with pytest.raises(ToolArgumentError) as exc:
        abi.coerce_args([ORDER], [{"maker": ALICE, "amount": -1, "tags": []}])
    assert "args[0] (order).amount: -1 is outside uint256" in _problems(exc)
    with pytest.raises(ToolArgumentError, match="needs 3 values"):
        abi.coerce_args([ORDER], [[ALICE, 1]])


# ------------------------------------------------------------------------------ encoding


def test_encode_call_matches_eth_abi() -> None:
    item = abi.find_function(TOKEN_ABI, "transfer(address,uint256)")
    data, values = abi.encode_call(item, [BOB.lower(), "1000000000000000000000"])
    assert values == [BOB, 10**21]
    assert data[:4] == keccak(text="transfer(address,uint256)")[:4] == bytes.fromhex("a9059cbb")
    assert data[4:] == encode(["address", "uint256"], [BOB, 10**21])


def test_encode_nested_tuple_round_trip() -> None:
    item = abi.find_function(TOKEN_ABI, "place")
    data, _ = abi.encode_call(item, [[ALICE, 3, []], -1, True])
    decoded = decode(["(address,uint256,bytes32[])", "int8", "bool"], data[4:])
    assert decoded == ((ALICE.lower(), 3, ()), -1, True)


def test_encode_constructor() -> None:
    assert abi.encode_constructor(TOKEN_ABI, ["Salt", 18]) == encode(
        ["string", "uint8"], ["Salt", 18]
    )
    assert abi.encode_constructor([], []) == b""
    assert abi.encode_constructor([], None) == b""
    with pytest.raises(ToolArgumentError, match="takes 0 argument"):
        abi.encode_constructor([], [1])
    with pytest.raises(ToolArgumentError, match="takes 2 argument"):
        abi.encode_constructor(TOKEN_ABI, ["Salt"])


def test_contract_address_matches_known_create_addresses() -> None:
    # anvil / hardhat: the first deployments of dev account 0.
    assert abi.contract_address(ALICE, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert abi.contract_address(ALICE, 1) == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    # A nonce needing the long form of RLP (>= 0x80) is encoded as its big-endian bytes.
    for nonce in (0x7F, 0x80, 0x1234, 2**40):
        expected = keccak(rlp.encode([bytes.fromhex(ALICE[2:]), nonce]))[12:]
        assert abi.contract_address(ALICE, nonce).lower() == "0x" + expected.hex()


# ------------------------------------------------------------------------------ decoding


def test_decode_outputs_json_friendly() -> None:
    item = abi.find_function(TOKEN_ABI, "place")
    data = encode(["uint64", "string"], [2**63, "ok"])
    outputs = abi.decode_outputs(item, data)
    assert outputs == [
        {"name": "id", "type": "uint64", "value": str(2**63)},
        {"name": "note", "type": "string", "value": "ok"},
    ]
    assert abi.outputs_result(outputs) == {"id": str(2**63), "note": "ok"}
    json.dumps(outputs)


def test_to_json_rules() -> None:
    assert abi.to_json(_p("uint8"), 7) == 7
    assert abi.to_json(_p("uint48"), 2**48 - 1) == 2**48 - 1
    assert abi.to_json(_p("uint256"), 7) == "7"
    assert abi.to_json(_p("int256"), -7) == "-7"
    assert abi.to_json(_p("address"), ALICE.lower()) == ALICE
    assert abi.to_json(_p("bytes32"), b"\x01" * 32) == "0x" + "01" * 32
    assert abi.to_json(_p("address[]"), [ALICE.lower()]) == [ALICE]
    assert abi.to_json(ORDER, (ALICE.lower(), 1, [b"\x00" * 32])) == {
        "maker": ALICE,
        "amount": "1",
        "tags": ["0x" + "00" * 32],
    }
    unnamed = _p("tuple", components=[_p("uint8"), _p("bool")])
    assert abi.to_json(unnamed, (1, False)) == [1, False]


def test_decode_outputs_single_unnamed_and_arrays_of_structs() -> None:
    registry = load_artifact("ModelRegistry").abi
    fee = abi.find_function(registry, "registrationFee")
    outs = abi.decode_outputs(fee, encode(["uint256"], [10**18]))
    assert abi.outputs_result(outs) == str(10**18)
    get_model = abi.find_function(registry, "getModel")
    types = [abi.canonical_type(p) for p in get_model["outputs"]]
    assert types[0].startswith("(")  # a struct with named fields comes back as an object
    unnamed_pair = {"outputs": [_p("uint8"), _p("bool")]}
    pair = abi.decode_outputs(unnamed_pair, encode(["uint8", "bool"], [3, True]))
    assert abi.outputs_result(pair) == [3, True]


def test_decode_outputs_that_do_not_fit_is_an_error() -> None:
    item = abi.find_function(TOKEN_ABI, "balanceOf")
    with pytest.raises(AgentError, match="do not decode as") as exc:
        abi.decode_outputs(item, b"")
    assert "ABI probably does not match" in (exc.value.hint or "")


def test_decode_event_with_indexed_and_hashed_topics() -> None:
    transfer = next(i for i in TOKEN_ABI if i.get("name") == "Transfer")
    topics = [
        "0x" + abi.event_topic(transfer).hex(),
        "0x" + "00" * 12 + ALICE[2:].lower(),
        "0x" + "00" * 12 + BOB[2:].lower(),
    ]
    data = "0x" + encode(["uint256"], [5 * 10**18]).hex()
    decoded = abi.decode_event(TOKEN_ABI, topics, data)
    assert decoded == {
        "event": "Transfer",
        "signature": "Transfer(address,address,uint256)",
        "args": {"from": ALICE, "to": BOB, "value": str(5 * 10**18)},
    }
    noted = next(i for i in TOKEN_ABI if i.get("name") == "Noted")
    topic = "0x" + keccak(text="hello").hex()
    decoded = abi.decode_event(
        TOKEN_ABI,
        ["0x" + abi.event_topic(noted).hex(), topic],
        "0x" + encode(["bytes"], [b"\x01"]).hex(),
    )
    assert decoded is not None and decoded["args"] == {"topic": topic, "body": "0x01"}
    assert abi.decode_event(TOKEN_ABI, ["0x" + "00" * 32], "0x") is None
    assert abi.decode_event(TOKEN_ABI, [], "0x") is None
    # Wrong number of topics for the event: not decoded rather than decoded wrongly.
    assert abi.decode_event(TOKEN_ABI, topics[:2], data) is None


# ------------------------------------------------------------------------------ load_abi


def test_load_abi_accepts_arrays_text_and_artifacts() -> None:
    assert abi.load_abi(TOKEN_ABI) == TOKEN_ABI
    assert abi.load_abi(json.dumps(TOKEN_ABI)) == TOKEN_ABI
    assert abi.load_abi({"abi": TOKEN_ABI, "bytecode": {"object": "0x00"}}) == TOKEN_ABI
    assert abi.load_abi({"abi": json.dumps(TOKEN_ABI)}) == TOKEN_ABI  # solc --combined-json
    # Entries without `type` are functions (the ABI spec's default).
    loaded = abi.load_abi([{"name": "f", "inputs": [], "outputs": []}])
    assert loaded[0]["type"] == "function"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"contracts": {}}, "JSON array"),
        ([1], "each ABI entry is an object"),
        ([{"type": "function", "inputs": []}], "needs a `name`"),
        ([{"type": "function", "name": "f", "inputs": [{"name": "x"}]}], "inputs"),
    ],
)
def test_load_abi_refuses(value: object, message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        abi.load_abi(value)


def test_describe_and_mutability_of_old_abis() -> None:
    old = {"type": "function", "name": "get", "inputs": [], "outputs": [], "constant": True}
    assert abi.mutability(old) == "view" and abi.is_read_only(old)
    assert abi.mutability({"payable": True}) == "payable"
    assert abi.mutability({}) == "nonpayable"
