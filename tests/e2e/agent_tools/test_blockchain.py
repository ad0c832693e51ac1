"""The blockchain tools against a real `citrate devnet`: node, blocks, DAG, transactions,
accounts. Each answer is checked against the node's own JSON-RPC answers."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from citrate_agent.errors import (
    AgentError,
    ChainUnavailableError,
    ToolArgumentError,
    WalletUnavailableError,
)
from citrate_agent.tools import call_tool

# Development account 3 of the standard phrase: sends the raw transactions these tests need
# (a revert, a deployment) so the agent's account 0 is left to the wallet tests.
RAW_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
RAW_ADDRESS = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
# Init code that deploys the 10-byte runtime `602a60005260206000f3` (returns 42).
DEPLOY_CODE = bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3")
WALLET_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def fresh_address() -> str:
    return to_checksum_address("0x" + secrets.token_hex(20))


@pytest.fixture
def transfer(run_tool: Callable[..., Any], approve: Callable[..., Any]) -> dict[str, Any]:
    """A mined 0.25 SALT transfer from the agent's wallet to a fresh address."""
    action = run_tool("send_transaction", to=fresh_address(), amount="0.25")
    return approve(action)


# ---------------------------------------------------------------------------- node_status


def test_node_status(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    before = int(agent_devnet.rpc("eth_blockNumber"), 16)
    status = run_tool("node_status")
    after = int(agent_devnet.rpc("eth_blockNumber"), 16)
    assert status["up"] is True
    assert status["rpc_url"] == agent_devnet.url
    assert status["chain_id"] == 1337
    assert status["network"] == "Citrate devnet"
    assert status["client_version"] == agent_devnet.rpc("web3_clientVersion")
    assert status["client_version"].startswith("citrate/")
    assert before <= status["block_number"] <= after
    head = agent_devnet.rpc("eth_getBlockByNumber", hex(status["block_number"]), False)
    assert status["block_hash"] == head["hash"]
    assert status["blue_score"] == int(head["blueScore"], 16)
    assert status["base_fee_per_gas_wei"] == str(int(head["baseFeePerGas"], 16))
    assert status["syncing"] is False
    assert status["peer_count"] == 0
    assert isinstance(status["mempool_pending"], int)
    assert isinstance(status["mempool_queued"], int)


def test_node_status_when_the_node_is_down(down_ctx: Any, registry: Any) -> None:
    with pytest.raises(ChainUnavailableError) as info:
        call_tool(registry, down_ctx, "node_status", {})
    assert "not reachable" in info.value.message
    assert info.value.hint and "citrate devnet" in info.value.hint


def test_node_status_takes_no_arguments(run_tool: Callable[..., Any]) -> None:
    with pytest.raises(ToolArgumentError, match="accepted arguments are: none"):
        run_tool("node_status", verbose=True)


# ----------------------------------------------------------------------------- block_info


def test_block_info_matches_the_node(
    run_tool: Callable[..., Any], agent_devnet: Any, transfer: dict[str, Any]
) -> None:
    number = transfer["block_number"]
    raw = agent_devnet.rpc("eth_getBlockByNumber", hex(number), False)
    block = run_tool("block_info", block=number)
    assert block["number"] == number
    assert block["hash"] == raw["hash"] == transfer["block_hash"]
    assert block["parent_hash"] == raw["parentHash"]
    assert block["timestamp"] == int(raw["timestamp"], 16)
    assert block["miner"] == to_checksum_address(raw["miner"])
    assert block["gas_used"] == int(raw["gasUsed"], 16)
    assert block["base_fee_per_gas_wei"] == str(int(raw["baseFeePerGas"], 16))
    assert block["transactions"] == raw["transactions"]
    assert transfer["tx_hash"] in block["transactions"]
    assert block["transaction_count"] == len(raw["transactions"])
    assert block["dag"] == {
        "blue_score": int(raw["blueScore"], 16),
        "blue_work": str(int(raw["blueWork"], 16)),
        "selected_parent": raw["selectedParent"],
        "merge_parents": raw["mergeParents"],
    }
    assert block["dag"]["blue_score"] >= 1
    # The same block by hash, by decimal string and by hex number.
    for ref in (raw["hash"], str(number), hex(number)):
        assert run_tool("block_info", block=ref) == block


def test_block_info_full_transactions(
    run_tool: Callable[..., Any], transfer: dict[str, Any]
) -> None:
    block = run_tool("block_info", block=transfer["block_hash"], full_transactions=True)
    (tx,) = [t for t in block["transactions"] if t["hash"] == transfer["tx_hash"]]
    assert tx["from"] == transfer["from"]
    assert tx["to"] == transfer["to"]
    assert tx["value_wei"] == str(25 * 10**16)
    assert tx["value_salt"] == "0.25"
    assert tx["block_number"] == transfer["block_number"]
    assert tx["type"] == 2
    assert tx["input_size_bytes"] == 0


def test_block_info_tags(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    genesis = run_tool("block_info", block="earliest")
    assert genesis["number"] == 0
    assert genesis["dag"] == {
        "blue_score": 0,
        "blue_work": "0",
        "selected_parent": None,
        "merge_parents": [],
    }
    assert run_tool("block_info", block=0) == genesis
    latest = run_tool("block_info")
    assert latest["number"] == int(agent_devnet.rpc("eth_blockNumber"), 16)
    pending = run_tool("block_info", block="pending")
    assert pending["hash"] is None
    assert pending["number"] == latest["number"] + 1


def test_block_info_unknown_block(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    head = int(agent_devnet.rpc("eth_blockNumber"), 16)
    with pytest.raises(AgentError, match=f"there is no block `{head + 1000}`") as info:
        run_tool("block_info", block=head + 1000)
    assert info.value.hint and f"the head is block {head}" in info.value.hint
    unknown_hash = "0x" + secrets.token_hex(32)
    with pytest.raises(AgentError, match="there is no block"):
        run_tool("block_info", block=unknown_hash)


def test_block_info_bad_arguments(run_tool: Callable[..., Any]) -> None:
    with pytest.raises(ToolArgumentError, match="is not a block"):
        run_tool("block_info", block="yesterday")
    with pytest.raises(ToolArgumentError, match="full_transactions"):
        run_tool("block_info", full_transactions="yes")
    with pytest.raises(ToolArgumentError, match="number"):
        run_tool("block_info", block=-1)


# ----------------------------------------------------------------------------- dag_status


def test_dag_status_matches_the_node(
    run_tool: Callable[..., Any], agent_devnet: Any, transfer: dict[str, Any]
) -> None:
    status = run_tool("dag_status", recent_blocks=3)
    stats = agent_devnet.rpc("citrate_getDagStats")
    # No transaction is sent between the two reads, so the DAG is the same.
    assert status["total_blocks"] == stats["totalBlocks"]
    assert status["blue_blocks"] == stats["blueBlocks"]
    assert status["red_blocks"] == stats["redBlocks"]
    assert status["head_number"] == stats["height"] >= transfer["block_number"]
    assert status["max_blue_score"] == stats["maxBlueScore"]
    assert status["tips"] == stats["currentTips"]
    assert status["tips_count"] == len(stats["currentTips"])
    assert status["ghostdag_k"] == 18
    assert status["max_parents"] == stats["ghostdagParams"]["maxParents"]
    recent = status["recent_blocks"]
    assert [b["number"] for b in recent] == [stats["height"] - i for i in range(3)]
    raw = agent_devnet.rpc("citrate_getBlockDag", hex(stats["height"] - 2), hex(stats["height"]))
    for mine, theirs in zip(recent, reversed(raw), strict=True):
        assert mine["hash"] == theirs["hash"]
        assert mine["parents"] == theirs["parents"]
        assert mine["selected_parent"] == theirs["selectedParent"]
        assert mine["blue_score"] == int(theirs["blueScore"], 16)
        assert mine["color"] == theirs["color"]
        assert mine["transaction_count"] == theirs["transactionCount"]
    assert recent[0]["hash"] in status["tips"]


def test_dag_status_limits(run_tool: Callable[..., Any]) -> None:
    assert run_tool("dag_status", recent_blocks=0)["recent_blocks"] == []
    assert len(run_tool("dag_status")["recent_blocks"]) >= 1
    with pytest.raises(ToolArgumentError, match="recent_blocks"):
        run_tool("dag_status", recent_blocks=101)


# ----------------------------------------------------------------------- transaction_info


def test_transaction_info_of_a_transfer(
    run_tool: Callable[..., Any], agent_devnet: Any, transfer: dict[str, Any]
) -> None:
    info = run_tool("transaction_info", hash=transfer["tx_hash"])
    receipt = agent_devnet.rpc("eth_getTransactionReceipt", transfer["tx_hash"])
    block = agent_devnet.rpc("eth_getBlockByHash", receipt["blockHash"], False)
    assert info["status"] == "success"
    assert info["citrate_status"] == "mined"
    assert info["blue_score"] == int(block["blueScore"], 16)
    tx = info["transaction"]
    assert tx["from"] == WALLET_ADDRESS
    assert tx["to"] == transfer["to"]
    assert tx["value_salt"] == "0.25"
    used, price = int(receipt["gasUsed"], 16), int(receipt["effectiveGasPrice"], 16)
    assert info["receipt"] == {
        "success": True,
        "block_number": transfer["block_number"],
        "block_hash": receipt["blockHash"],
        "gas_used": 21_000,
        "cumulative_gas_used": int(receipt["cumulativeGasUsed"], 16),
        "effective_gas_price_wei": str(price),
        "fee_wei": str(used * price),
        "fee_salt": info["receipt"]["fee_salt"],
        "contract_address": None,
        "logs_count": 0,
    }
    assert info["receipt"]["fee_wei"] == transfer["fee_wei"]


def test_transaction_info_of_a_reverted_transaction(
    run_tool: Callable[..., Any], agent_devnet: Any, chain: Any
) -> None:
    # The Counter system contract has no payable fallback, so sending it value reverts.
    counter = agent_devnet.rpc("citrate_getSystemContracts")["Counter"]
    receipt = chain.send_raw(RAW_KEY, to=counter, value=1)
    info = run_tool("transaction_info", hash=receipt["transactionHash"])
    assert info["status"] == "reverted"
    assert info["receipt"]["success"] is False
    assert info["receipt"]["gas_used"] == int(receipt["gasUsed"], 16)
    assert info["transaction"]["from"] == RAW_ADDRESS
    assert info["transaction"]["to"] == counter


def test_transaction_info_of_a_deployment(run_tool: Callable[..., Any], chain: Any) -> None:
    receipt = chain.send_raw(RAW_KEY, data=DEPLOY_CODE)
    assert receipt["status"] == "0x1"
    info = run_tool("transaction_info", hash=receipt["transactionHash"])
    created = to_checksum_address(receipt["contractAddress"])
    assert info["receipt"]["contract_address"] == created
    assert info["transaction"]["to"] is None
    assert info["transaction"]["method_id"] is None
    assert info["transaction"]["input_size_bytes"] == len(DEPLOY_CODE)
    account = run_tool("account_info", address=created)
    assert account["is_contract"] is True
    assert account["code_size_bytes"] == 10
    assert account["system_contract"] is None
    assert account["nonce"] == 1  # EIP-161: a new contract starts at nonce 1


def test_transaction_info_unknown_hash(run_tool: Callable[..., Any]) -> None:
    unknown = "0x" + secrets.token_hex(32)
    with pytest.raises(AgentError, match=f"knows no transaction `{unknown}`") as info:
        run_tool("transaction_info", hash=unknown)
    assert info.value.hint
    with pytest.raises(ToolArgumentError, match="is not 32 bytes of hex"):
        run_tool("transaction_info", hash="0x1234")
    with pytest.raises(ToolArgumentError, match="'hash' is a required property"):
        run_tool("transaction_info")


# --------------------------------------------------------------------------- account_info


def test_account_info_of_the_wallet(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    info = run_tool("account_info")
    at = hex(info["block_number"])
    assert info["address"] == WALLET_ADDRESS
    assert info["is_wallet_account"] is True
    assert info["balance_wei"] == str(
        int(agent_devnet.rpc("eth_getBalance", WALLET_ADDRESS, at), 16)
    )
    assert info["nonce"] == int(agent_devnet.rpc("eth_getTransactionCount", WALLET_ADDRESS, at), 16)
    assert info["pending_nonce"] >= info["nonce"]
    assert info["is_contract"] is False
    assert info["code_size_bytes"] == 0
    assert info["system_contract"] is None


def test_account_info_of_system_contracts(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    systems = agent_devnet.rpc("citrate_getSystemContracts")
    assert "ModelRegistry" in systems
    for name in ("ModelRegistry", "Counter"):
        info = run_tool("account_info", address=systems[name].lower())
        code = agent_devnet.rpc("eth_getCode", systems[name], "latest")
        assert info["address"] == systems[name]
        assert info["system_contract"] == name
        assert info["is_contract"] is True
        assert info["code_size_bytes"] == (len(code) - 2) // 2 > 0
        assert info["is_wallet_account"] is False


def test_account_info_of_a_fresh_address(run_tool: Callable[..., Any]) -> None:
    address = fresh_address()
    info = run_tool("account_info", address=address)
    assert info["address"] == address
    assert (info["balance_wei"], info["balance_salt"], info["nonce"]) == ("0", "0", 0)
    assert info["is_contract"] is False


def test_account_info_bad_input(
    run_tool: Callable[..., Any], agent_ctx: Any, registry: Any, down_ctx: Any
) -> None:
    bad = WALLET_ADDRESS.replace("Fd6", "fd6")  # one letter's case flipped
    with pytest.raises(ToolArgumentError, match="fails its EIP-55 checksum"):
        run_tool("account_info", address=bad)
    with pytest.raises(ToolArgumentError, match="is not an address"):
        run_tool("account_info", address="0x1234")
    no_wallet = dataclasses.replace(agent_ctx, wallet=None)
    with pytest.raises(WalletUnavailableError, match="no `address` was given"):
        call_tool(registry, no_wallet, "account_info", {})
    with pytest.raises(ChainUnavailableError):
        call_tool(registry, down_ctx, "account_info", {"address": WALLET_ADDRESS})
