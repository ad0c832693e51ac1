"""Logs in receipts, eth_getLogs filters, and the polling filters (eth_newFilter & co)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from . import contracts as C
from .conftest import Deployed
from .nodes import Node

LOG_KEYS = frozenset(
    {
        "address",
        "topics",
        "data",
        "blockHash",
        "blockNumber",
        "blockTimestamp",
        "transactionHash",
        "transactionIndex",
        "logIndex",
        "removed",
    }
)


def _topic(value: int | str) -> str:
    if isinstance(value, str):  # an address
        return "0x" + bytes.fromhex(value[2:]).rjust(32, b"\0").hex()
    return "0x" + value.to_bytes(32, "big").hex()


def _in_bloom(bloom_hex: str, item: bytes) -> bool:
    """Yellow paper M3:2048: three 11-bit indexes from the item's keccak."""
    bloom = int(bloom_hex, 16)
    digest = keccak(item)
    return all(bloom >> (int.from_bytes(digest[i : i + 2], "big") & 2047) & 1 for i in (0, 2, 4))


def _changes(node: Node, filter_id: str, want: int, timeout: float = 5.0) -> list[Any]:
    """eth_getFilterChanges, polled until `want` items arrived (a node may feed its filters
    asynchronously after the receipt is visible, as geth does), then once more to show that
    nothing else comes."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += node.call("eth_getFilterChanges", [filter_id])
        if len(got) < want:
            time.sleep(0.02)
    assert node.call("eth_getFilterChanges", [filter_id]) == []  # changes since the last poll
    return got


def _ping(node: Node, deployed: Deployed, n: int, sender_index: int = 0) -> dict[str, Any]:
    data = "0x" + (C.selector("ping(uint256)") + n.to_bytes(32, "big")).hex()
    receipt = node.transact(
        node.accounts[sender_index], to=deployed.emitter, data=data, gas=100_000
    )
    assert receipt["status"] == "0x1", receipt
    return receipt


def test_receipt_logs(node: Node, deployed: Deployed) -> None:
    sender = node.accounts[0].address
    receipt = _ping(node, deployed, 5)
    logs = receipt["logs"]
    assert len(logs) == 2
    ping, pong = logs
    assert set(ping) == LOG_KEYS
    assert set(pong) == LOG_KEYS
    emitter = deployed.emitter.lower()
    assert ping["address"] == pong["address"] == emitter
    assert ping["topics"] == ["0x" + C.PING_TOPIC.hex(), _topic(sender.lower()), _topic(5)]
    assert ping["data"] == _topic(10)
    assert pong["topics"] == ["0x" + C.PONG_TOPIC.hex()]
    assert pong["data"] == _topic(5)
    block = node.call("eth_getBlockByNumber", [receipt["blockNumber"], False])
    first = 0  # logIndex counts within the block
    for r in node.call("eth_getBlockReceipts", [receipt["blockNumber"]]):
        if r["transactionHash"] == receipt["transactionHash"]:
            break
        first += len(r["logs"])
    for i, log in enumerate(logs):
        assert int(log["logIndex"], 16) == first + i
        assert log["transactionIndex"] == receipt["transactionIndex"]
        assert log["transactionHash"] == receipt["transactionHash"]
        assert log["blockHash"] == receipt["blockHash"] == block["hash"]
        assert log["blockNumber"] == receipt["blockNumber"]
        assert log["blockTimestamp"] == block["timestamp"]
        assert log["removed"] is False
    for item in (
        bytes.fromhex(emitter[2:]),
        C.PING_TOPIC,
        C.PONG_TOPIC,
        bytes.fromhex(_topic(5)[2:]),
    ):
        assert _in_bloom(receipt["logsBloom"], item)
        assert _in_bloom(block["logsBloom"], item)
    assert not _in_bloom(receipt["logsBloom"], keccak(b"not there"))


def test_get_logs_filters(node: Node, deployed: Deployed) -> None:
    first = _ping(node, deployed, 7, sender_index=1)
    second = _ping(node, deployed, 8, sender_index=2)
    lo, hi = first["blockNumber"], second["blockNumber"]
    both = first["logs"] + second["logs"]

    def get_logs(**criteria: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = node.call("eth_getLogs", [criteria])
        return result

    assert get_logs(fromBlock=lo, toBlock=hi, address=deployed.emitter) == both
    assert get_logs(fromBlock=lo, toBlock=hi, address=[deployed.emitter, deployed.store]) == both
    assert get_logs(fromBlock=lo, toBlock=hi, address=deployed.store) == []
    assert get_logs(fromBlock=lo, toBlock=lo) == first["logs"]
    assert get_logs(blockHash=second["blockHash"]) == second["logs"]
    ping_topic, pong_topic = "0x" + C.PING_TOPIC.hex(), "0x" + C.PONG_TOPIC.hex()
    pings = [first["logs"][0], second["logs"][0]]
    assert get_logs(fromBlock=lo, toBlock=hi, topics=[ping_topic]) == pings
    assert get_logs(fromBlock=lo, toBlock=hi, topics=[[ping_topic, pong_topic]]) == both
    by_sender = [None, _topic(node.accounts[2].address.lower())]
    assert get_logs(fromBlock=lo, toBlock=hi, topics=by_sender) == [second["logs"][0]]
    by_n = [ping_topic, None, [_topic(7), _topic(8)]]
    assert get_logs(fromBlock=lo, toBlock=hi, topics=by_n) == pings
    assert get_logs(fromBlock=lo, toBlock=hi, topics=[ping_topic, None, _topic(9)]) == []
    # Tags and defaults: fromBlock/toBlock default to latest.
    assert get_logs(fromBlock=hi, toBlock="latest", address=deployed.emitter) == second["logs"]
    node.mine()
    assert get_logs(address=deployed.emitter) == []
    everything = get_logs(fromBlock="earliest", toBlock="latest", address=deployed.emitter)
    assert all(log in everything for log in both)


def test_web3_events(node: Node, deployed: Deployed) -> None:
    receipt = _ping(node, deployed, 11)
    emitter = node.w3.eth.contract(address=deployed.emitter, abi=C.EMITTER_ABI)
    number = int(receipt["blockNumber"], 16)
    (event,) = emitter.events.Ping().get_logs(from_block=number, to_block=number)
    assert event["args"] == {"sender": node.accounts[0].address, "n": 11, "doubled": 22}
    assert event["logIndex"] == int(receipt["logs"][0]["logIndex"], 16)


def test_log_filter(node: Node, deployed: Deployed) -> None:
    everything = node.call("eth_newFilter", [{}])
    ping_only = node.call(
        "eth_newFilter", [{"address": deployed.emitter, "topics": ["0x" + C.PING_TOPIC.hex()]}]
    )
    assert isinstance(everything, str) and everything.startswith("0x")
    assert everything != ping_only
    receipt = _ping(node, deployed, 21)
    assert _changes(node, everything, 2) == receipt["logs"]
    assert _changes(node, ping_only, 1) == receipt["logs"][:1]
    receipt2 = _ping(node, deployed, 22)
    assert _changes(node, ping_only, 1) == receipt2["logs"][:1]
    # getFilterLogs: every match of the criteria (from latest at creation), not just new ones.
    since = node.call("eth_newFilter", [{"fromBlock": receipt["blockNumber"], "toBlock": "latest"}])
    assert node.call("eth_getFilterLogs", [since]) == receipt["logs"] + receipt2["logs"]
    for filter_id in (everything, ping_only, since):
        assert node.call("eth_uninstallFilter", [filter_id]) is True
        assert node.call("eth_uninstallFilter", [filter_id]) is False


def test_log_filter_with_queued_transaction(
    node: Node, deployed: Deployed, fresh: LocalAccount
) -> None:
    """A transaction held back by a nonce gap must not stop filters from seeing new logs."""
    gap = node.nonce(fresh.address) + 1
    node.send(fresh, nonce=gap, to=node.accounts[0].address, value=1)
    try:
        filter_id = node.call("eth_newFilter", [{"address": deployed.emitter}])
        receipt = _ping(node, deployed, 31)
        assert _changes(node, filter_id, 2) == receipt["logs"]
        assert node.call("eth_uninstallFilter", [filter_id]) is True
    finally:
        node.transact(fresh, nonce=gap - 1, to=node.accounts[0].address, value=1)


def test_block_filter(node: Node) -> None:
    filter_id = node.call("eth_newBlockFilter")
    node.mine()
    node.mine()
    head = node.block_number()
    hashes = [node.call("eth_getBlockByNumber", [hex(n), False])["hash"] for n in (head - 1, head)]
    assert _changes(node, filter_id, 2) == hashes
    assert node.call("eth_uninstallFilter", [filter_id]) is True


def test_pending_transaction_filter(node: Node) -> None:
    filter_id = node.call("eth_newPendingTransactionFilter")
    tx_hash = node.send(node.accounts[3], to=node.accounts[4].address, value=1)
    node.receipt(tx_hash)
    assert _changes(node, filter_id, 1) == [tx_hash]
    assert node.call("eth_uninstallFilter", [filter_id]) is True


@pytest.mark.parametrize("method", ["eth_getFilterChanges", "eth_getFilterLogs"])
def test_unknown_filter(node: Node, method: str) -> None:
    error = node.error(method, ["0xdeadbeef"])
    assert error["code"] == -32000
    assert error["message"].startswith("filter not found")  # geth's and anvil's exact text
    assert node.call("eth_uninstallFilter", ["0xdeadbeef"]) is False


def test_filter_logs_of_block_filter(node: Node) -> None:
    """eth_getFilterLogs only serves log filters (geth and anvil: `filter not found`)."""
    filter_id = node.call("eth_newBlockFilter")
    error = node.error("eth_getFilterLogs", [filter_id])
    assert error["code"] == -32000
    assert error["message"].startswith("filter not found")
    assert node.call("eth_uninstallFilter", [filter_id]) is True
