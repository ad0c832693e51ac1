"""`citrate devnet` as users run it: the HTTP/WebSocket server's safety rules, parallel producers,
persistence across restarts and `kill -9`, and Citrate's extension methods."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_account import Account

from .devnet_process import Devnet

DEV_PHRASE = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()
KEYS = [Account.from_mnemonic(DEV_PHRASE, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
GWEI = 10**9
RECIPIENT = "0x" + "42" * 20


def transfer(
    sender: int, nonce: int, value: int = 1, to: str = RECIPIENT, chain_id: int = 1337
) -> str:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21000,
        "maxFeePerGas": 100 * GWEI,
        "maxPriorityFeePerGas": 2 * GWEI,
    }
    return "0x" + KEYS[sender].sign_transaction(tx).raw_transaction.hex()


def wait_receipt(node: Devnet, tx_hash: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = node.rpc("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.05)
    raise AssertionError(f"{tx_hash} not mined within {timeout}s")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(tmp_path_factory.mktemp("devnet"), "--block-time", "0") as devnet:
        yield devnet


# -- server safety ------------------------------------------------------------------------------


def test_rejects_foreign_host_header(node: Devnet) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    status, _, text = node.post(body, {"Host": "attacker.example:8545"})
    assert status == 403
    assert b"invalid host" in text
    status, _, text = node.post(body, {"Host": f"localhost:{node.port}"})
    assert status == 200 and json.loads(text)["result"] == "0x539"


def test_requires_json_content_type(node: Devnet) -> None:
    before = node.rpc("eth_getBalance", RECIPIENT, "latest")
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance", "params": [RECIPIENT, "0x1"]}
    )
    status, _, text = node.post(body, {"Content-Type": "text/plain"})
    assert status == 415
    assert b"application/json" in text
    assert node.rpc("eth_getBalance", RECIPIENT, "latest") == before


def test_body_and_batch_limits(node: Devnet) -> None:
    big = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "00" * 3_000_000]}
    )
    status, _, text = node.post(big)
    assert status == 413
    error = json.loads(text)["error"]
    assert error["code"] == -32600 and "limit 5242880" in error["message"]
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]
    status, _, text = node.post(json.dumps(batch))
    assert "batch too large" in json.loads(text)["error"]["message"]
    assert node.rpc("eth_chainId") == "0x539"


def test_batches_malformed_and_unknown(node: Devnet) -> None:
    _, _, text = node.post("{not json")
    assert json.loads(text)["error"]["code"] == -32700
    _, _, text = node.post("[]")
    assert json.loads(text)["error"] == {"code": -32600, "message": "empty batch"}
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_noSuchMethod"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification: no reply
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x12"]},
        17,
    ]
    _, _, text = node.post(json.dumps(batch))
    replies = json.loads(text)
    assert [r.get("id") for r in replies] == [1, 2, 3, None]
    assert replies[0]["result"] == "0x539"
    assert replies[1]["error"]["code"] == -32601
    assert "eth_noSuchMethod" in replies[1]["error"]["message"]
    assert replies[2]["error"]["code"] == -32602
    assert "20-byte address" in replies[2]["error"]["message"]
    assert replies[3]["error"]["code"] == -32600


def test_no_cors_by_default(node: Devnet) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    _, headers, _ = node.post(body, {"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in headers


def test_cors_and_websocket_origins(tmp_path: Path) -> None:
    with Devnet(tmp_path, "--cors-origin", "https://app.example") as devnet:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
        _, headers, _ = devnet.post(body, {"Origin": "https://app.example"})
        assert headers["access-control-allow-origin"] == "https://app.example"
        _, headers, _ = devnet.post(body, {"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in headers

        async def ws_status(origin: str) -> int:
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.ws_connect(devnet.ws_url, origin=origin) as ws:
                        await ws.close()
                        return 101
                except aiohttp.WSServerHandshakeError as err:
                    return err.status

        assert asyncio.run(ws_status("https://evil.example")) == 403
        assert asyncio.run(ws_status("https://app.example")) == 101
        assert asyncio.run(ws_status("http://localhost:3000")) == 101


def test_send_transaction_explains_keys_stay_in_the_wallet(node: Devnet) -> None:
    reply = node.rpc_raw("eth_sendTransaction", [{"from": KEYS[0].address, "to": RECIPIENT}])
    assert "eth_sendRawTransaction" in reply["error"]["message"]
    assert node.rpc("eth_accounts") == []


# -- chain behaviour through the server ---------------------------------------------------------


def test_fees_go_to_the_producer_and_base_fee_is_burned(node: Devnet) -> None:
    sender = KEYS[1].address
    nonce = int(node.rpc("eth_getTransactionCount", sender, "latest"), 16)
    tx_hash = node.rpc("eth_sendRawTransaction", transfer(1, nonce, value=12345))
    receipt = wait_receipt(node, tx_hash)
    assert receipt["status"] == "0x1"
    number = int(receipt["blockNumber"], 16)
    block = node.rpc("eth_getBlockByNumber", hex(number), False)
    base_fee = int(block["baseFeePerGas"], 16)
    price = int(receipt["effectiveGasPrice"], 16)
    assert price == base_fee + 2 * GWEI
    miner = block["miner"]
    before = int(node.rpc("eth_getBalance", miner, hex(number - 1)), 16)
    after = int(node.rpc("eth_getBalance", miner, hex(number)), 16)
    assert after - before == 21000 * 2 * GWEI  # the tip only: the base fee is burned
    spent = int(node.rpc("eth_getBalance", sender, hex(number - 1)), 16) - int(
        node.rpc("eth_getBalance", sender, hex(number)), 16
    )
    assert spent == 12345 + 21000 * price
    status = node.rpc("citrate_getTransactionStatus", tx_hash)
    assert status["status"] == "mined" and status["blockNumber"] == hex(number)


def test_rejections_leave_state_unchanged(node: Devnet) -> None:
    sender = KEYS[2].address
    nonce = int(node.rpc("eth_getTransactionCount", sender, "latest"), 16)
    balance = node.rpc("eth_getBalance", sender, "latest")
    head = node.rpc("eth_blockNumber")
    cases = [
        (transfer(2, nonce, chain_id=1), "chain id"),
        (transfer(2, nonce, value=10**30), "insufficient funds"),
        ("0x02f8", "decode"),
    ]
    for raw, needle in cases:
        reply = node.rpc_raw("eth_sendRawTransaction", [raw])
        assert reply["error"]["code"] in (-32000, -32602), reply
        assert needle in reply["error"]["message"].lower(), reply
    assert node.rpc("eth_getBalance", sender, "latest") == balance
    assert node.rpc("eth_getTransactionCount", sender, "pending") == hex(nonce)
    assert node.rpc("eth_blockNumber") == head


def test_websocket_new_heads_and_pending(node: Devnet) -> None:
    async def scenario() -> tuple[dict[str, Any], str]:
        async with aiohttp.ClientSession() as session, session.ws_connect(node.ws_url) as ws:
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
            heads = (await ws.receive_json(timeout=10))["result"]
            await ws.send_json(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "eth_subscribe",
                    "params": ["newPendingTransactions"],
                }
            )
            pending = (await ws.receive_json(timeout=10))["result"]
            nonce = int(node.rpc("eth_getTransactionCount", KEYS[3].address, "pending"), 16)
            tx_hash = node.rpc("eth_sendRawTransaction", transfer(3, nonce))
            got: dict[str, Any] = {}
            while len(got) < 2:
                msg = await ws.receive_json(timeout=10)
                sub = msg["params"]["subscription"]
                got.setdefault(sub, msg["params"]["result"])
            assert got[pending] == tx_hash
            return got[heads], tx_hash

    head, tx_hash = asyncio.run(scenario())
    assert {"number", "hash", "parentHash", "blueScore", "selectedParent"} <= head.keys()
    receipt = wait_receipt(node, tx_hash)
    assert int(head["number"], 16) <= int(receipt["blockNumber"], 16)


def test_parallel_producers_branch_and_merge(tmp_path: Path) -> None:
    with Devnet(tmp_path, "--block-time", "0.3", "--producers", "3") as devnet:
        hashes = [
            devnet.rpc("eth_sendRawTransaction", transfer(sender, 0, value=sender + 1))
            for sender in range(6)
        ]
        receipts = [wait_receipt(devnet, h) for h in hashes]
        assert all(r["status"] == "0x1" for r in receipts)
        time.sleep(1.0)  # a few more rounds so the last parallel blocks get merged
        stats = devnet.rpc("citrate_getDagStats")
        assert stats["tipsCount"] == 3
        assert stats["redBlocks"] == 0 and stats["blueBlocks"] == stats["totalBlocks"]
        dag = devnet.rpc("citrate_getBlockDag", "0x0", "latest")
        merged = [b for b in dag if len(b["parents"]) == 3]
        assert merged, "no block merged three parallel parents"
        head = devnet.rpc("eth_getBlockByNumber", "latest", False)
        assert len(head["mergeParents"]) == 2
        # Ethereum tools see a linear chain: parentHash is the previous block in the order.
        for lower, upper in itertools.pairwise(dag):
            block = devnet.rpc("eth_getBlockByNumber", upper["number"], False)
            assert block["parentHash"] == lower["hash"]
        history = devnet.rpc("citrate_getTransactionsByAddress", RECIPIENT, "0x64")
        assert {t["hash"] for t in history["transactions"]} >= set(hashes)


def test_restart_keeps_chain_and_state(tmp_path: Path) -> None:
    with Devnet(tmp_path, "--block-time", "0") as devnet:
        tx_hash = devnet.rpc("eth_sendRawTransaction", transfer(4, 0, value=777))
        receipt = wait_receipt(devnet, tx_hash)
        head = devnet.rpc("eth_getBlockByNumber", "latest", False)
    assert (tmp_path / "chain.redb").stat().st_mode & 0o777 == 0o600
    with Devnet(tmp_path, "--block-time", "0") as devnet:
        assert devnet.rpc("eth_getBlockByNumber", head["number"], False) == head
        assert devnet.rpc("eth_getTransactionReceipt", tx_hash) == receipt
        assert devnet.rpc("eth_getTransactionCount", KEYS[4].address, "latest") == "0x1"


def test_kill_9_loses_no_reported_block(tmp_path: Path) -> None:
    devnet = Devnet(tmp_path, "--block-time", "0").start()
    seen: dict[str, tuple[str, str]] = {}
    try:
        for nonce in range(40):
            tx_hash = devnet.rpc("eth_sendRawTransaction", transfer(5, nonce, value=nonce + 1))
            receipt = wait_receipt(devnet, tx_hash)
            block = receipt["blockNumber"]
            seen[tx_hash] = (block, devnet.rpc("eth_getBalance", RECIPIENT, block))
    finally:
        devnet.kill()
    with Devnet(tmp_path, "--block-time", "0") as again:
        for tx_hash, (block, balance) in seen.items():
            receipt = again.rpc("eth_getTransactionReceipt", tx_hash)
            assert receipt is not None and receipt["blockNumber"] == block
            assert again.rpc("eth_getBalance", RECIPIENT, block) == balance


def test_refuses_a_data_dir_of_another_chain(tmp_path: Path) -> None:
    with Devnet(tmp_path, "--block-time", "0"):
        pass
    devnet = Devnet(tmp_path, "--chain-id", "999")
    with pytest.raises(RuntimeError, match="chain id"):
        devnet.start()


def test_second_node_on_the_same_data_dir_is_refused(node: Devnet) -> None:
    other = Devnet(node.data_dir)
    with pytest.raises(RuntimeError, match="in use"):
        other.start()


def test_mempool_snapshot_and_transaction_status(node: Devnet) -> None:
    sender = KEYS[6].address
    nonce = int(node.rpc("eth_getTransactionCount", sender, "pending"), 16)
    queued = node.rpc("eth_sendRawTransaction", transfer(6, nonce + 1))  # a nonce gap
    try:
        assert node.rpc("citrate_getTransactionStatus", queued)["status"] == "queued"
        pool = node.rpc("citrate_getMempoolSnapshot")
        assert pool["queuedCount"] >= 1
        assert queued in {tx["hash"] for tx in pool["queued"]}
        assert all(tx["blockHash"] is None for tx in pool["queued"])
        unknown = node.rpc("citrate_getTransactionStatus", "0x" + "77" * 32)
        assert unknown == {"hash": "0x" + "77" * 32, "status": "unknown"}
    finally:
        wait_receipt(node, node.rpc("eth_sendRawTransaction", transfer(6, nonce)))
    receipt = wait_receipt(node, queued)  # the gap closed: the queued one is mined too
    status = node.rpc("citrate_getTransactionStatus", queued)
    assert status["status"] == "mined" and status["blockHash"] == receipt["blockHash"]
    assert int(status["blueScore"], 16) >= 1


def test_block_dag_ranges(node: Devnet) -> None:
    head = int(node.rpc("eth_blockNumber"), 16)
    beyond = node.rpc("citrate_getBlockDag", hex(max(head - 2, 0)), hex(head + 50))
    assert [int(b["number"], 16) for b in beyond] == list(range(max(head - 2, 0), head + 1))
    node.rpc("evm_mine", {"blocks": "0x3e9"})  # 1,001 more blocks
    reply = node.rpc_raw("citrate_getBlockDag", ["0x0", "latest"])
    assert reply["error"]["code"] == -32602 and "at most 1000" in reply["error"]["message"]
    assert len(node.rpc("citrate_getBlockDag")) == 100  # the default: the latest 100


def test_endless_call_is_bounded_by_the_rpc_gas_cap(node: Devnet) -> None:
    """An eth_call of an endless loop with a huge gas allowance ends (out of gas at geth's 50M
    RPC cap) and the node keeps mining."""
    loop = {"data": "0x5b5f56", "gas": "0xffffffffffffffff"}  # JUMPDEST PUSH0 JUMP
    reply = node.rpc_raw("eth_call", [loop, "latest"])
    assert reply["error"]["code"] == -32000 and "out of gas" in reply["error"]["message"]
    nonce = int(node.rpc("eth_getTransactionCount", KEYS[7].address, "pending"), 16)
    assert wait_receipt(node, node.rpc("eth_sendRawTransaction", transfer(7, nonce)))


def test_time_travel_is_validated_and_never_stops_the_producer(node: Devnet) -> None:
    head = node.rpc("eth_getBlockByNumber", "latest", False)
    too_far = node.rpc_raw("evm_increaseTime", ["0xffffffffffffffff"])
    assert too_far["error"]["code"] == -32602
    backwards = node.rpc_raw("evm_setNextBlockTimestamp", ["0x10"])
    assert backwards["error"]["code"] == -32602
    assert "before the head block" in backwards["error"]["message"]
    assert node.rpc_raw("evm_mine", ["0x5"])["error"]["code"] == -32602
    node.rpc("evm_mine")
    latest = node.rpc("eth_getBlockByNumber", "latest", False)
    assert int(latest["timestamp"], 16) >= int(head["timestamp"], 16)
    nonce = int(node.rpc("eth_getTransactionCount", KEYS[7].address, "pending"), 16)
    assert wait_receipt(node, node.rpc("eth_sendRawTransaction", transfer(7, nonce)))


def test_block_filter_forgets_reverted_blocks(node: Devnet) -> None:
    filter_id = node.rpc("eth_newBlockFilter")
    snapshot = node.rpc("evm_snapshot")
    node.rpc("evm_mine")
    node.rpc("evm_mine")
    assert node.rpc("evm_revert", snapshot) is True
    node.rpc("evm_mine")
    latest = node.rpc("eth_getBlockByNumber", "latest", False)["hash"]
    assert node.rpc("eth_getFilterChanges", filter_id) == [latest]
