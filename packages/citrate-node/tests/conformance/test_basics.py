"""Node identity, fee oracle, genesis state and block tags."""

from __future__ import annotations

import itertools
import re

from eth_utils import keccak

from .differences import Err, expected
from .nodes import CHAIN_ID, DEV_BALANCE, Node

HEX_QUANTITY = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")
HEX_DATA = re.compile(r"^0x([0-9a-f]{2})*$")
GWEI = 10**9


def test_client_version(node: Node) -> None:
    version = node.call("web3_clientVersion")
    # "anvil/v1.7.1", "citrate/v0.1.0": name/vVERSION (geth appends /os/go-version; optional).
    assert re.match(rf"^{node.kind}/v\d+\.\d+\.\d+", version), version
    assert node.w3.client_version == version


def test_web3_sha3(node: Node) -> None:
    assert node.call("web3_sha3", ["0x68656c6c6f"]) == "0x" + keccak(b"hello").hex()
    assert node.call("web3_sha3", ["0x"]) == "0x" + keccak(b"").hex()


def test_net(node: Node) -> None:
    assert node.call("net_version") == str(CHAIN_ID)
    assert node.call("net_listening") is True
    assert node.w3.net.version == "1337"


def test_net_peer_count(node: Node) -> None:
    want = expected(node.kind, "net_peerCount")
    if isinstance(want, Err):
        want.check(node.error("net_peerCount"))
    else:
        assert node.call("net_peerCount") == want


def test_chain_id_and_syncing(node: Node) -> None:
    assert node.call("eth_chainId") == "0x539"
    assert node.w3.eth.chain_id == CHAIN_ID
    assert node.call("eth_syncing") is False


def test_block_number(node: Node) -> None:
    number = node.call("eth_blockNumber")
    assert HEX_QUANTITY.match(number)
    node.mine()
    assert int(node.call("eth_blockNumber"), 16) == int(number, 16) + 1
    assert node.w3.eth.block_number == int(number, 16) + 1


def test_accounts(node: Node) -> None:
    assert node.call("eth_accounts") == expected(node.kind, "eth_accounts")


def test_genesis_balances(node: Node) -> None:
    for account in node.accounts:
        for tag in ("earliest", "0x0"):
            assert node.balance(account.address, tag) == DEV_BALANCE
    assert node.balance("0x000000000000000000000000000000000000dEaD", "earliest") == 0
    assert node.call("eth_getCode", [node.accounts[0].address, "earliest"]) == "0x"


def test_max_priority_fee_and_gas_price(node: Node) -> None:
    assert node.call("eth_maxPriorityFeePerGas") == hex(GWEI)
    # gasPrice = next block's base fee + the suggested tip (anvil: 2 gwei at genesis).
    pending = node.call("eth_getBlockByNumber", ["pending", False])
    gas_price = int(node.call("eth_gasPrice"), 16)
    assert gas_price == int(pending["baseFeePerGas"], 16) + GWEI
    assert node.w3.eth.max_priority_fee == GWEI


def _next_base_fee(block: dict[str, str]) -> int:
    """EIP-1559 (London) base fee of the child of `block`."""
    base, used, limit = (int(block[k], 16) for k in ("baseFeePerGas", "gasUsed", "gasLimit"))
    target = limit // 2
    if used == target:
        return base
    if used > target:
        return base + max(base * (used - target) // target // 8, 1)
    return base - base * (target - used) // target // 8


def test_base_fee_follows_eip1559(node: Node) -> None:
    node.mine()
    node.transact(node.accounts[8], to=node.accounts[7].address, value=1)
    head = node.block_number()
    blocks = [node.call("eth_getBlockByNumber", [hex(n), False]) for n in range(head + 1)]
    assert int(blocks[0]["baseFeePerGas"], 16) == GWEI
    assert int(blocks[1]["baseFeePerGas"], 16) == expected(node.kind, "first_block_base_fee")
    for parent, child in itertools.pairwise(blocks[1:]):
        assert int(child["baseFeePerGas"], 16) == _next_base_fee(parent), child["number"]
    pending = node.call("eth_getBlockByNumber", ["pending", False])
    assert int(pending["baseFeePerGas"], 16) == _next_base_fee(blocks[-1])


def test_fee_history(node: Node) -> None:
    while node.block_number() < 4:
        node.mine()
    head = node.block_number()
    history = node.call("eth_feeHistory", [4, "latest", [25, 75]])
    assert set(history) == {
        "oldestBlock",
        "baseFeePerGas",
        "gasUsedRatio",
        "reward",
        "baseFeePerBlobGas",
        "blobGasUsedRatio",
    }
    assert int(history["oldestBlock"], 16) == head - 3
    assert len(history["gasUsedRatio"]) == 4
    assert len(history["reward"]) == 4
    assert all(len(r) == 2 and all(HEX_QUANTITY.match(x) for x in r) for r in history["reward"])
    # One base fee per block plus the next block's.
    assert len(history["baseFeePerGas"]) == 5
    for i, fee in enumerate(history["baseFeePerGas"][:4]):
        block = node.call("eth_getBlockByNumber", [hex(head - 3 + i), False])
        assert fee == block["baseFeePerGas"]
        assert history["gasUsedRatio"][i] == int(block["gasUsed"], 16) / int(block["gasLimit"], 16)
    pending = node.call("eth_getBlockByNumber", ["pending", False])
    assert history["baseFeePerGas"][4] == pending["baseFeePerGas"]
    # No percentiles: no reward field needed; counts beyond the chain are clamped.
    short = node.call("eth_feeHistory", ["0x2", hex(head), []])
    assert int(short["oldestBlock"], 16) == head - 1
    assert len(short["gasUsedRatio"]) == 2


def test_block_tags(node: Node) -> None:
    node.mine()
    latest = node.call("eth_getBlockByNumber", ["latest", False])
    head = int(latest["number"], 16)
    assert head == node.block_number()
    earliest = node.call("eth_getBlockByNumber", ["earliest", False])
    assert earliest["number"] == "0x0"
    assert earliest == node.call("eth_getBlockByNumber", ["0x0", False])
    # With an empty pool, `pending` is the block the node would mine next.
    pending = node.call("eth_getBlockByNumber", ["pending", False])
    assert int(pending["number"], 16) == head + 1
    assert pending["parentHash"] == latest["hash"]
    safe = int(node.call("eth_getBlockByNumber", ["safe", False])["number"], 16)
    finalized = int(node.call("eth_getBlockByNumber", ["finalized", False])["number"], 16)
    assert 0 <= finalized <= safe <= head
    lag = expected(node.kind, "safe_finalized_lag")
    if lag is not None:
        assert (safe, finalized) == (max(head - lag[0], 0), max(head - lag[1], 0))
    # The same tags name state for the state queries.
    address = node.accounts[0].address
    for tag in ("latest", "earliest", "pending", "safe", "finalized"):
        assert int(node.call("eth_getBalance", [address, tag]), 16) > 0
        assert HEX_QUANTITY.match(node.call("eth_getTransactionCount", [address, tag]))


def test_unknown_objects_are_null(node: Node) -> None:
    missing = "0x" + "11" * 32
    head = node.block_number()
    assert node.call("eth_getBlockByNumber", [hex(head + 1000), False]) is None
    assert node.call("eth_getBlockByHash", [missing, False]) is None
    assert node.call("eth_getTransactionByHash", [missing]) is None
    assert node.call("eth_getTransactionReceipt", [missing]) is None
    assert node.call("eth_getBlockTransactionCountByHash", [missing]) is None
    assert node.call("eth_getTransactionByBlockHashAndIndex", [missing, "0x0"]) is None
    assert node.call("eth_getBlockReceipts", [hex(head + 1000)]) is None


def test_state_past_head(node: Node) -> None:
    future = hex(node.block_number() + 1000)
    address = node.accounts[0].address
    want = expected(node.kind, "unknown_block_state")
    want.check(node.error("eth_getBalance", [address, future]))
    want.check(node.error("eth_getTransactionCount", [address, future]))
    want.check(node.error("eth_getCode", [address, future]))
    count = expected(node.kind, "tx_count_unknown_block")
    if isinstance(count, Err):
        count.check(node.error("eth_getBlockTransactionCountByNumber", [future]))
    else:
        assert node.call("eth_getBlockTransactionCountByNumber", [future]) == count
