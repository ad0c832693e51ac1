"""Bad input: malformed JSON-RPC, bad params, oversized bodies, rejected transactions.

After every bad input the node must keep serving with its state unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.exceptions import Web3RPCError

from .differences import Err, expected, tx_rejection
from .nodes import Node

GWEI = 10**9


@dataclass(frozen=True)
class State:
    block: int
    balances: tuple[int, ...]
    nonces: tuple[int, ...]


def _state(node: Node, addresses: list[str]) -> State:
    return State(
        node.block_number(),
        tuple(node.balance(a) for a in addresses),
        tuple(node.nonce(a, "latest") for a in addresses),
    )


@pytest.fixture
def unchanged(node: Node) -> Iterator[None]:
    """The node still serves after the test, and the dev accounts and head did not move."""
    addresses = [a.address for a in node.accounts[:3]]
    before = _state(node, addresses)
    yield
    assert node.call("eth_chainId") == "0x539"
    assert _state(node, addresses) == before


def _single(node: Node, body: str | bytes) -> dict[str, Any]:
    reply = node.post(body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    response: dict[str, Any] = reply.json()
    assert isinstance(response, dict), response
    assert response["jsonrpc"] == "2.0"
    assert "result" not in response
    return response


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("body", ["not json", '{"jsonrpc": "2.0", "id": 1,', "\x00\xff"])
def test_parse_error(node: Node, body: str) -> None:
    response = _single(node, body)
    assert response["id"] is None
    expected(node.kind, "parse_error").check(response["error"])


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("body", "want_id"),
    [
        ("42", None),
        ('"eth_chainId"', None),
        ("null", None),
        ("true", None),
        ("{}", None),
        ('{"jsonrpc": "2.0", "id": 1}', 1),  # no method
        ('{"jsonrpc": "2.0", "id": 1, "method": 5, "params": []}', 1),
        ('{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId", "params": []}', 1),
        ('{"id": 1, "method": "eth_chainId", "params": []}', 1),  # no jsonrpc member
    ],
)
def test_invalid_request(node: Node, body: str, want_id: int | None) -> None:
    response = _single(node, body)
    assert response["id"] == want_id
    assert response["error"]["code"] == -32600


@pytest.mark.usefixtures("unchanged")
def test_method_not_found(node: Node) -> None:
    response = node.rpc("foo_bar", [])
    assert "result" not in response
    expected(node.kind, "method_not_found").check(response["error"])


BAD_PARAMS: list[tuple[str, Any]] = [
    ("eth_getBalance", []),
    ("eth_getBalance", ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"] * 3),
    ("eth_getBalance", [1, "latest"]),
    ("eth_getBalance", ["0x12", "latest"]),
    ("eth_getBalance", ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "bogus"]),
    ("eth_blockNumber", [1]),
    ("eth_getBlockByNumber", ["latest"]),
    ("eth_getBlockByNumber", ["bogus", False]),
    ("eth_getBlockByHash", ["0x12", False]),
    ("eth_getTransactionByHash", ["0x12"]),
    ("eth_getTransactionByHash", [None]),
    ("eth_call", [{"to": "0x12"}, "latest"]),
    ("eth_sendRawTransaction", ["zz"]),
    ("eth_sendRawTransaction", []),
    ("eth_getLogs", ["not a filter"]),
    ("eth_feeHistory", ["0x2", "latest", "not a list"]),
    ("eth_getBalance", {"address": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"}),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "params"), BAD_PARAMS)
def test_invalid_params(node: Node, method: str, params: Any) -> None:
    error = node.error(method, params)
    assert error["code"] == -32602, error
    assert error["message"]


@pytest.mark.usefixtures("unchanged")
def test_empty_batch(node: Node) -> None:
    response = _single(node, "[]")
    assert response["id"] is None
    assert response["error"]["code"] == -32600


@pytest.mark.usefixtures("unchanged")
def test_mixed_batch(node: Node) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "foo_bar", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification: no reply
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": []},
        {"foo": 1},
        {"jsonrpc": "2.0", "id": "four", "method": "net_version"},  # params may be omitted
    ]
    reply = node.post(json.dumps(batch))
    assert reply.status_code == 200
    responses = reply.json()
    assert isinstance(responses, list)
    assert len(responses) == 5
    by_id = {r["id"]: r for r in responses if r["id"] is not None}
    assert by_id[1]["result"] == "0x539"
    expected(node.kind, "method_not_found").check(by_id[2]["error"])
    assert by_id[3]["error"]["code"] == -32602
    assert by_id["four"]["result"] == "1337"
    (invalid,) = [r for r in responses if r["id"] is None]
    assert invalid["error"]["code"] == -32600


@pytest.mark.usefixtures("unchanged")
def test_batch_with_non_object(node: Node) -> None:
    batch = '[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, 5]'
    reply = node.post(batch)
    assert reply.status_code == 200
    want = expected(node.kind, "batch_with_non_object")
    if isinstance(want, Err):
        response = reply.json()
        assert response["id"] is None
        want.check(response["error"])
    else:
        responses = reply.json()
        assert responses[0] == {"jsonrpc": "2.0", "id": 1, "result": "0x539"}
        assert responses[1]["id"] is None
        assert responses[1]["error"]["code"] == -32600


@pytest.mark.usefixtures("unchanged")
def test_notification_gets_no_reply(node: Node) -> None:
    reply = node.post('{"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []}')
    assert reply.status_code in (200, 204)
    assert reply.content == b""


@pytest.mark.usefixtures("unchanged")
def test_large_body_is_served(node: Node) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB -> a 512 KiB JSON body
    response = node.rpc("web3_sha3", ["0x" + data.hex()])
    assert response["result"] == "0x" + keccak(data).hex()


@pytest.mark.usefixtures("unchanged")
def test_oversized_body(node: Node) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "00" * (16 << 20)]}
    )
    reply = node.post(body)
    want = expected(node.kind, "oversized_body")
    assert reply.status_code == want["status"]
    if want["error"] is not None:
        want["error"].check(reply.json()["error"])


# --- rejected transactions ----------------------------------------------------------------


def _raw(account: LocalAccount, node: Node, **tx: Any) -> str:
    tx.setdefault("to", node.accounts[0].address)
    tx.setdefault("value", 1)
    return node.sign(account, **tx)


def _bad_signature(account: LocalAccount, node: Node) -> str:
    raw = bytes.fromhex(_raw(account, node)[2:])
    fields = rlp.decode(raw[1:])
    fields[10] = b""  # r = 0: no public key can be recovered
    return "0x" + (raw[:1] + rlp.encode(fields)).hex()


# Each builder gets a fresh funded account (nonce 1, since one transaction was sent from it).
BUILDERS: dict[str, Callable[[LocalAccount, Node], str]] = {
    "wrong_chain_id_1559": lambda a, n: _raw(a, n, chainId=1),
    "invalid_signature": _bad_signature,
    "nonce_too_low": lambda a, n: _raw(a, n, nonce=0),
    "insufficient_funds": lambda a, n: _raw(a, n, value=10**24),
    "intrinsic_gas_too_low": lambda a, n: _raw(a, n, gas=20_000),
    "exceeds_block_gas_limit": lambda a, n: _raw(a, n, gas=30_000_001),
    "fee_cap_below_base_fee": lambda a, n: _raw(a, n, maxFeePerGas=1, maxPriorityFeePerGas=1),
    "tip_above_fee_cap": lambda a, n: _raw(
        a, n, maxFeePerGas=10 * GWEI, maxPriorityFeePerGas=20 * GWEI
    ),
    "undecodable": lambda a, n: "0xdeadbeef",
    "empty": lambda a, n: "0x",
}


@pytest.fixture
def sender(node: Node) -> LocalAccount:
    """A fresh account with 1 ETH and nonce 1."""
    account: LocalAccount = Account.create()
    node.transact(node.accounts[9], to=account.address, value=2 * 10**18)
    node.transact(account, to=node.accounts[9].address, value=10**18)
    return account


@pytest.mark.parametrize("case", list(BUILDERS))
def test_rejected_transaction(node: Node, sender: LocalAccount, case: str) -> None:
    raw = BUILDERS[case](sender, node)
    addresses = [sender.address, node.accounts[0].address]
    before = _state(node, addresses)
    tx_rejection(node.kind, case).check(node.error("eth_sendRawTransaction", [raw]))
    assert node.call("eth_chainId") == "0x539"
    assert _state(node, addresses) == before
    # And the account still works.
    assert node.transact(sender, to=node.accounts[0].address, value=1)["status"] == "0x1"


def test_insufficient_funds_empty_account(node: Node) -> None:
    poor = Account.create()
    error = node.error("eth_sendRawTransaction", [_raw(poor, node)])
    tx_rejection(node.kind, "insufficient_funds").check(error)


def test_already_known_and_replacement(node: Node, sender: LocalAccount) -> None:
    """A queued transaction (nonce gap) stays in the pool: resending it and replacing it
    without a 10% fee bump are refused; a bumped replacement is accepted."""
    gap = node.nonce(sender.address) + 1
    first = _raw(sender, node, nonce=gap, value=1)
    block = node.block_number()
    node.call("eth_sendRawTransaction", [first])
    try:
        assert node.block_number() == block  # nothing to mine: the nonce gap holds it back
        already_known = tx_rejection(node.kind, "already_known")
        already_known.check(node.error("eth_sendRawTransaction", [first]))
        same_price = _raw(sender, node, nonce=gap, value=2)
        tx_rejection(node.kind, "replacement_underpriced").check(
            node.error("eth_sendRawTransaction", [same_price])
        )
        bumped = _raw(
            sender,
            node,
            nonce=gap,
            value=3,
            maxFeePerGas=22 * GWEI,
            maxPriorityFeePerGas=11 * GWEI // 10,
        )
        replacement = node.call("eth_sendRawTransaction", [bumped])
    finally:
        # Filling the gap mines the queued transaction (leaves the pool clean for others).
        node.transact(sender, nonce=gap - 1, to=node.accounts[0].address, value=1)
    receipt = node.receipt(replacement)  # the replacement is the one that lands
    assert receipt["status"] == "0x1"
    assert node.nonce(sender.address, "latest") == gap + 1


def test_legacy_wrong_chain_id(node: Node, sender: LocalAccount) -> None:
    nonce = node.nonce(sender.address)
    raw = _raw(sender, node, chainId=1, gasPrice=10 * GWEI)
    want = expected(node.kind, "legacy_wrong_chain_id")
    if isinstance(want, Err):
        want.check(node.error("eth_sendRawTransaction", [raw]))
    else:
        assert want == "accepted-and-dropped"
        tx_hash = node.call("eth_sendRawTransaction", [raw])
        node.mine()
        assert node.call("eth_getTransactionByHash", [tx_hash]) is None
    assert node.nonce(sender.address, "latest") == nonce


def test_web3_sees_rejection(node: Node, sender: LocalAccount) -> None:
    raw = _raw(sender, node, nonce=0)
    with pytest.raises(Web3RPCError) as info:
        node.w3.eth.send_raw_transaction(raw)
    assert "nonce too low" in str(info.value)


def test_unprotected_legacy(node: Node, sender: LocalAccount) -> None:
    tx = {
        "nonce": node.nonce(sender.address),
        "to": node.accounts[0].address,
        "value": 1,
        "gas": 21_000,
        "gasPrice": 10 * GWEI,
    }
    signed = sender.sign_transaction(tx)
    assert signed.v in (27, 28)
    raw = "0x" + bytes(signed.raw_transaction).hex()
    want = expected(node.kind, "unprotected_legacy")
    if isinstance(want, Err):
        want.check(node.error("eth_sendRawTransaction", [raw]))
        return
    assert want == "accepted"
    tx_hash = node.call("eth_sendRawTransaction", [raw])
    receipt = node.receipt(tx_hash)
    assert receipt["status"] == "0x1"
    tx = node.call("eth_getTransactionByHash", [tx_hash])
    assert tx["v"] == hex(signed.v)
    assert "chainId" not in tx
