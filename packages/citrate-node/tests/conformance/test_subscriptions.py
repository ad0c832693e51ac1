"""eth_subscribe / eth_unsubscribe over WebSocket (same port as HTTP), with web3.py and raw."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from web3 import AsyncWeb3, WebSocketProvider

from . import contracts as C
from .conftest import Deployed
from .nodes import Node

TIMEOUT = 15.0
HEADER_KEYS = frozenset(
    {
        "hash",
        "parentHash",
        "number",
        "timestamp",
        "miner",
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "gasLimit",
        "gasUsed",
        "baseFeePerGas",
        "extraData",
    }
)


def _ping_data(n: int) -> str:
    return "0x" + (C.selector("ping(uint256)") + n.to_bytes(32, "big")).hex()


async def _subscriptions(node: Node, deployed: Deployed) -> None:
    async with AsyncWeb3(WebSocketProvider(node.ws_url)) as w3:
        assert await w3.eth.chain_id == 1337
        heads = await w3.eth.subscribe("newHeads")
        logs = await w3.eth.subscribe("logs", {"address": deployed.emitter})
        pending = await w3.eth.subscribe("newPendingTransactions")
        assert len({heads, logs, pending}) == 3

        sender = node.accounts[0]
        tx_hash = await asyncio.to_thread(
            node.send, sender, to=deployed.emitter, gas=100_000, data=_ping_data(3)
        )
        receipt = await asyncio.to_thread(node.receipt, tx_hash)

        seen: dict[str, list[Any]] = {heads: [], logs: [], pending: []}

        async def collect() -> None:
            async for message in w3.socket.process_subscriptions():
                seen[message["subscription"]].append(message["result"])
                if seen[heads] and len(seen[logs]) >= 2 and seen[pending]:
                    return

        await asyncio.wait_for(collect(), TIMEOUT)
        head = next(h for h in seen[heads] if h["hash"] == bytes.fromhex(receipt["blockHash"][2:]))
        assert head["number"] == int(receipt["blockNumber"], 16)
        assert {bytes(log["transactionHash"]).hex() for log in seen[logs]} == {tx_hash[2:]}
        assert [bytes(log["topics"][0]) for log in seen[logs][:2]] == [C.PING_TOPIC, C.PONG_TOPIC]
        assert tx_hash[2:] in {bytes(h).hex() for h in seen[pending]}

        for sub in (heads, logs, pending):
            assert await w3.eth.unsubscribe(sub) is True


def test_subscriptions_web3(node: Node, deployed: Deployed) -> None:
    asyncio.run(_subscriptions(node, deployed))


async def _raw(node: Node) -> None:
    async with websockets.connect(node.ws_url) as ws:
        next_id = 0
        notifications: list[dict[str, Any]] = []

        async def call(method: str, params: list[Any]) -> dict[str, Any]:
            nonlocal next_id
            next_id += 1
            request = {"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}
            await ws.send(json.dumps(request))
            while True:  # a notification may come before the answer: keep it
                reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if reply.get("id") == next_id:
                    return reply
                notifications.append(reply)

        sub = (await call("eth_subscribe", ["newHeads"]))["result"]
        assert isinstance(sub, str) and sub.startswith("0x")
        await call("evm_mine", [])
        if not notifications:
            notifications.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        message = notifications[0]
        assert message.get("method") == "eth_subscription", message
        assert set(message) == {"jsonrpc", "method", "params"}
        assert message["params"]["subscription"] == sub
        header = message["params"]["result"]
        assert set(header) >= HEADER_KEYS
        head = await asyncio.to_thread(node.call, "eth_getBlockByNumber", ["latest", False])
        assert header["hash"] == head["hash"]
        assert header["number"] == head["number"]

        assert (await call("eth_unsubscribe", [sub]))["result"] is True
        assert (await call("eth_unsubscribe", [sub]))["result"] is False
        assert (await call("eth_subscribe", ["bogus"]))["error"]["code"] == -32602
        # Ordinary calls and batches work over the socket too.
        assert (await call("eth_chainId", []))["result"] == "0x539"
        await ws.send(json.dumps([{"jsonrpc": "2.0", "id": 99, "method": "net_version"}]))
        assert json.loads(await ws.recv()) == [{"jsonrpc": "2.0", "id": 99, "result": "1337"}]


def test_subscriptions_raw(node: Node) -> None:
    asyncio.run(_raw(node))


def test_subscribe_over_http_is_refused(node: Node) -> None:
    error = node.error("eth_subscribe", ["newHeads"])
    # anvil: -32601 method not found; geth: -32001 notifications not supported
    assert error["code"] in (-32601, -32001)
