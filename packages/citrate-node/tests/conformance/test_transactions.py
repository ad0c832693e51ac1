"""Sending signed transactions of each type; transaction, receipt and block objects."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from .differences import expected
from .nodes import CHAIN_ID, Node

# Key sets recorded from anvil 1.7.1; Citrate must produce the same (see differences.py for
# Citrate's extra block keys).
TX_KEYS_LEGACY = frozenset(
    {
        "type",
        "chainId",
        "nonce",
        "gas",
        "gasPrice",
        "to",
        "value",
        "input",
        "r",
        "s",
        "v",
        "hash",
        "blockHash",
        "blockNumber",
        "blockTimestamp",
        "transactionIndex",
        "from",
    }
)
TX_KEYS = {
    "0x0": TX_KEYS_LEGACY,
    "0x1": TX_KEYS_LEGACY | {"accessList", "yParity"},
    "0x2": TX_KEYS_LEGACY | {"accessList", "yParity", "maxFeePerGas", "maxPriorityFeePerGas"},
}
RECEIPT_KEYS = frozenset(
    {
        "type",
        "status",
        "cumulativeGasUsed",
        "logs",
        "logsBloom",
        "transactionHash",
        "transactionIndex",
        "blockHash",
        "blockNumber",
        "blockTimestamp",
        "gasUsed",
        "effectiveGasPrice",
        "blobGasPrice",
        "from",
        "to",
        "contractAddress",
    }
)
BLOCK_KEYS = frozenset(
    {
        "hash",
        "parentHash",
        "sha3Uncles",
        "miner",
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "difficulty",
        "number",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "extraData",
        "mixHash",
        "nonce",
        "baseFeePerGas",
        "withdrawalsRoot",
        "blobGasUsed",
        "excessBlobGas",
        "parentBeaconBlockRoot",
        "requestsHash",
        "totalDifficulty",
        "size",
        "uncles",
        "transactions",
        "withdrawals",
    }
)
EMPTY_BLOOM = "0x" + "00" * 256
GWEI = 10**9

TX_TYPES: dict[str, dict[str, Any]] = {
    "legacy": {"gasPrice": 5 * GWEI},
    "eip2930": {"gasPrice": 5 * GWEI, "accessList": []},
    "eip1559": {"maxFeePerGas": 5 * GWEI, "maxPriorityFeePerGas": 2 * GWEI},
}


def _block_keys(node: Node) -> frozenset[str]:
    extra: frozenset[str] = expected(node.kind, "block_extra_keys")
    return BLOCK_KEYS | extra


@pytest.mark.parametrize("tx_type", list(TX_TYPES))
def test_send_each_type(node: Node, tx_type: str) -> None:
    sender = node.accounts[1]
    to = Account.create().address
    nonce = node.nonce(sender.address)
    fields = {"to": to, "value": 12345, "nonce": nonce, "gas": 21_000, **TX_TYPES[tx_type]}
    signed = sender.sign_transaction({"chainId": CHAIN_ID, **fields})
    raw = "0x" + bytes(signed.raw_transaction).hex()
    tx_hash = node.call("eth_sendRawTransaction", [raw])
    assert tx_hash == "0x" + keccak(bytes(signed.raw_transaction)).hex()
    receipt = node.receipt(tx_hash)

    type_hex = {"legacy": "0x0", "eip2930": "0x1", "eip1559": "0x2"}[tx_type]
    tx = node.call("eth_getTransactionByHash", [tx_hash])
    assert set(tx) == TX_KEYS[type_hex]
    assert tx["type"] == type_hex
    assert tx["hash"] == tx_hash
    assert tx["from"] == sender.address.lower()
    assert tx["to"] == to.lower()
    assert int(tx["nonce"], 16) == nonce
    assert int(tx["value"], 16) == 12345
    assert int(tx["gas"], 16) == 21_000
    assert tx["input"] == "0x"
    assert tx["chainId"] == hex(CHAIN_ID)
    assert int(tx["r"], 16) == signed.r
    assert int(tx["s"], 16) == signed.s
    if type_hex == "0x0":  # EIP-155: v = 2 * chainId + 35 + yParity
        assert int(tx["v"], 16) == signed.v
        assert signed.v in (CHAIN_ID * 2 + 35, CHAIN_ID * 2 + 36)
    else:
        assert int(tx["yParity"], 16) == int(tx["v"], 16) == signed.v
        assert tx["accessList"] == []
    assert tx["blockHash"] == receipt["blockHash"]
    assert tx["blockNumber"] == receipt["blockNumber"]
    assert tx["transactionIndex"] == receipt["transactionIndex"]

    assert set(receipt) == RECEIPT_KEYS
    assert receipt["status"] == "0x1"
    assert receipt["type"] == type_hex
    assert receipt["gasUsed"] == "0x5208"
    assert receipt["transactionHash"] == tx_hash
    assert receipt["from"] == sender.address.lower()
    assert receipt["to"] == to.lower()
    assert receipt["contractAddress"] is None
    assert receipt["logs"] == []
    assert receipt["logsBloom"] == EMPTY_BLOOM
    block = node.call("eth_getBlockByNumber", [receipt["blockNumber"], False])
    base_fee = int(block["baseFeePerGas"], 16)
    if type_hex == "0x2":
        want_price = min(5 * GWEI, base_fee + 2 * GWEI)
        assert int(tx["gasPrice"], 16) == want_price  # mined: the effective price
        assert int(tx["maxFeePerGas"], 16) == 5 * GWEI
        assert int(tx["maxPriorityFeePerGas"], 16) == 2 * GWEI
    else:
        want_price = 5 * GWEI
        assert int(tx["gasPrice"], 16) == want_price
    assert int(receipt["effectiveGasPrice"], 16) == want_price
    assert node.balance(to) == 12345
    assert node.nonce(sender.address, "latest") == nonce + 1
    assert node.nonce(sender.address, "pending") == nonce + 1


def test_receipt_cumulative_gas_and_block_receipts(node: Node) -> None:
    receipt = node.transact(node.accounts[2], to=node.accounts[3].address, value=1)
    number = receipt["blockNumber"]
    receipts = node.call("eth_getBlockReceipts", [number])
    assert receipt in receipts
    total = 0
    for i, r in enumerate(receipts):
        assert int(r["transactionIndex"], 16) == i
        total += int(r["gasUsed"], 16)
        assert int(r["cumulativeGasUsed"], 16) == total
    block = node.call("eth_getBlockByNumber", [number, False])
    assert int(block["gasUsed"], 16) == total
    assert node.call("eth_getBlockReceipts", [block["hash"]]) == receipts
    assert node.call("eth_getBlockReceipts", ["latest"]) == node.call(
        "eth_getBlockReceipts", [hex(node.block_number())]
    )


def test_block_objects(node: Node) -> None:
    receipt = node.transact(node.accounts[2], to=node.accounts[4].address, value=7)
    number, block_hash = receipt["blockNumber"], receipt["blockHash"]
    block = node.call("eth_getBlockByNumber", [number, False])
    assert set(block) == _block_keys(node)
    assert block == node.call("eth_getBlockByHash", [block_hash, False])
    assert block["hash"] == block_hash
    assert block["number"] == number
    parent = node.call("eth_getBlockByNumber", [hex(int(number, 16) - 1), False])
    assert block["parentHash"] == parent["hash"]
    assert int(block["timestamp"], 16) >= int(parent["timestamp"], 16)
    assert receipt["transactionHash"] in block["transactions"]
    assert block["gasLimit"] == hex(30_000_000)
    assert block["uncles"] == []
    assert block["sha3Uncles"] == "0x" + keccak(bytes.fromhex("c0")).hex()  # rlp([])
    for key in ("difficulty", "gasUsed", "size", "timestamp", "baseFeePerGas"):
        assert block[key].startswith("0x")

    full = node.call("eth_getBlockByNumber", [number, True])
    assert set(full) == set(block)
    assert [t["hash"] for t in full["transactions"]] == block["transactions"]
    index = int(receipt["transactionIndex"], 16)
    tx = full["transactions"][index]
    assert tx == node.call("eth_getTransactionByHash", [receipt["transactionHash"]])
    assert tx == node.call("eth_getTransactionByBlockNumberAndIndex", [number, hex(index)])
    assert tx == node.call("eth_getTransactionByBlockHashAndIndex", [block_hash, hex(index)])
    count = hex(len(block["transactions"]))
    assert node.call("eth_getBlockTransactionCountByNumber", [number]) == count
    assert node.call("eth_getBlockTransactionCountByHash", [block_hash]) == count
    past_end = hex(len(block["transactions"]))
    assert node.call("eth_getTransactionByBlockNumberAndIndex", [number, past_end]) is None
    assert node.call("eth_getTransactionByBlockHashAndIndex", [block_hash, past_end]) is None

    genesis = node.call("eth_getBlockByNumber", ["0x0", True])
    assert set(genesis) == _block_keys(node)
    assert genesis["transactions"] == []
    assert genesis["parentHash"] == "0x" + "00" * 32
    assert node.call("eth_getBlockTransactionCountByNumber", ["0x0"]) == "0x0"


def test_fee_accounting_1559(node: Node) -> None:
    """Sender pays value + gasUsed * effectiveGasPrice; the miner earns the tip only."""
    sender, recipient = node.accounts[5], Account.create().address
    receipt = node.transact(
        sender, to=recipient, value=10**15, maxFeePerGas=50 * GWEI, maxPriorityFeePerGas=3 * GWEI
    )
    number = int(receipt["blockNumber"], 16)
    block = node.call("eth_getBlockByNumber", [hex(number), False])
    assert block["transactions"] == [receipt["transactionHash"]]  # alone in its block
    gas_used = int(receipt["gasUsed"], 16)
    price = int(receipt["effectiveGasPrice"], 16)
    base_fee = int(block["baseFeePerGas"], 16)
    assert price == base_fee + 3 * GWEI
    spent = node.balance(sender.address, number - 1) - node.balance(sender.address, number)
    assert spent == 10**15 + gas_used * price
    assert node.balance(recipient, number) == 10**15
    miner = block["miner"]
    earned = node.balance(miner, number) - node.balance(miner, number - 1)
    assert earned == gas_used * (price - base_fee)


def test_web3_client(node: Node) -> None:
    """web3.py's formatters accept the node's objects end to end."""
    w3 = node.w3
    sender = node.accounts[6]
    tx = {
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "to": node.accounts[7].address,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": w3.eth.gas_price * 2,
        "maxPriorityFeePerGas": w3.eth.max_priority_fee,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=15, poll_latency=0.01)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21_000
    got = w3.eth.get_transaction(tx_hash)
    assert got["from"] == sender.address
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][receipt["transactionIndex"]]["hash"] == tx_hash
    assert w3.eth.get_block("latest")["number"] >= receipt["blockNumber"]
    assert w3.eth.get_balance(node.accounts[0].address, "earliest") == 10_000 * 10**18
    history = w3.eth.fee_history(2, "latest", [50])
    assert len(history["baseFeePerGas"]) == 3
