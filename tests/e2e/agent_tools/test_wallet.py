"""The wallet tools and the approval flow against a real `citrate devnet`.

Every value-moving check reads the chain independently (`agent_devnet.rpc`): a prepared action
sends nothing, an approval sends exactly once and moves exactly the amount plus the fee, and
every refusal leaves the nonce and the balances as they were.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from citrate_agent import actions
from citrate_agent.actions import PreparedAction, SpendingTracker
from citrate_agent.errors import (
    ApprovalError,
    ChainUnavailableError,
    InsufficientFundsError,
    SpendingLimitError,
    ToolArgumentError,
    ToolNotFoundError,
    TransactionRevertedError,
    WalletUnavailableError,
)
from citrate_agent.tools import call_tool
from citrate_agent.units import parse_amount
from citrate_crypto.errors import WrongPasswordError

DEV_PASSWORD = "Correct-Horse-Battery-9"  # the root conftest's wallet password
WRONG_PASSWORD = "Wrong-Horse-Battery-1"
WALLET_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# Development account 4 sends the raw transactions the history tests need.
RAW_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
RAW_ADDRESS = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
SALT = 10**18


def fresh_address() -> str:
    return to_checksum_address("0x" + secrets.token_hex(20))


def assert_nothing_sent(chain: Any, nonce: int, recipient: str | None = None) -> None:
    """The wallet's nonce (mined and pending) is unchanged and the recipient got nothing."""
    assert chain.nonce(WALLET_ADDRESS) == nonce
    assert chain.nonce(WALLET_ADDRESS, "pending") == nonce
    if recipient is not None:
        assert chain.balance(recipient) == 0


def events(ctx: Any, action_id: str) -> list[str]:
    """The audit events of an action after it was prepared (what approval did to it)."""
    return [
        e["event"]
        for e in ctx.audit.read()
        if e.get("action") == action_id and e["event"] != "prepared"
    ]


# -------------------------------------------------------------------------------- balance


def test_balance_of_the_wallet(run_tool: Callable[..., Any], chain: Any) -> None:
    result = run_tool("balance")
    assert result["address"] == WALLET_ADDRESS
    wei = chain.balance(WALLET_ADDRESS, hex(result["block_number"]))
    assert result["balance_wei"] == str(wei)
    assert parse_amount(result["balance_salt"]) == wei
    assert result["pending_nonce"] == chain.nonce(WALLET_ADDRESS, "pending")


def test_balance_of_another_address(run_tool: Callable[..., Any]) -> None:
    # Development account 9 is funded at genesis; nothing in these tests spends from it.
    result = run_tool("balance", address="0xa0Ee7A142d267C1f36714E4a8F75612F20a79720")
    assert parse_amount(result["balance_salt"]) > 0
    empty = fresh_address()
    fresh = run_tool("balance", address=empty.lower())
    assert fresh["address"] == empty  # given in lower case, answered checksummed
    assert (fresh["balance_wei"], fresh["balance_salt"], fresh["pending_nonce"]) == ("0", "0", 0)


def test_balance_bad_input(
    run_tool: Callable[..., Any], agent_ctx: Any, registry: Any, down_ctx: Any
) -> None:
    with pytest.raises(ToolArgumentError, match="fails its EIP-55 checksum"):
        run_tool("balance", address=WALLET_ADDRESS.replace("Fd6", "fd6"))
    with pytest.raises(WalletUnavailableError, match="no `address` was given"):
        call_tool(registry, dataclasses.replace(agent_ctx, wallet=None), "balance", {})
    with pytest.raises(ChainUnavailableError, match="not reachable"):
        call_tool(registry, down_ctx, "balance", {})


# ---------------------------------------------------------------------- the approval flow


def test_send_prepare_approve_once(
    run_tool: Callable[..., Any],
    approve: Callable[..., Any],
    agent_ctx: Any,
    chain: Any,
) -> None:
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    before = chain.balance(WALLET_ADDRESS)

    # Prepare: simulated and costed, nothing signed or sent.
    action = run_tool("send_transaction", to=to, amount="1.5 SALT")
    assert isinstance(action, PreparedAction)
    assert action.kind == "send"
    assert action.title == f"Send 1.5 SALT to {to}"
    assert action.status == "pending"
    assert agent_ctx.actions.pending() == [action]
    assert action.value_wei == 3 * SALT // 2
    assert action.txs[0].gas >= 21_000
    assert to in action.summary and "value: 1.5 SALT" in action.summary
    doc = action.to_json()
    assert doc["details"]["to"] == to
    assert doc["details"]["amount_wei"] == str(3 * SALT // 2)
    assert doc["details"]["recipient_is_contract"] is False
    assert_nothing_sent(chain, nonce, to)
    assert chain.balance(WALLET_ADDRESS) == before
    assert events(agent_ctx, action.id) == []

    # Approve: sent exactly once; the recipient gets the amount, the sender pays it plus gas.
    result = approve(action)
    receipt = chain.receipt(result["tx_hash"])
    fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert receipt["status"] == "0x1"
    assert to_checksum_address(receipt["to"]) == to
    assert chain.balance(to) == 3 * SALT // 2
    assert before - chain.balance(WALLET_ADDRESS) == 3 * SALT // 2 + fee
    assert chain.nonce(WALLET_ADDRESS) == nonce + 1
    assert result == {
        "status": "success",
        "tx_hash": receipt["transactionHash"],
        "block_number": int(receipt["blockNumber"], 16),
        "block_hash": receipt["blockHash"],
        "from": WALLET_ADDRESS,
        "to": to,
        "amount_wei": str(3 * SALT // 2),
        "amount_salt": "1.5",
        "gas_used": 21_000,
        "effective_gas_price_wei": str(int(receipt["effectiveGasPrice"], 16)),
        "fee_wei": str(fee),
        "fee_salt": result["fee_salt"],
        "new_balance_wei": str(chain.balance(WALLET_ADDRESS, receipt["blockNumber"])),
        "new_balance_salt": result["new_balance_salt"],
    }
    assert parse_amount(result["fee_salt"]) == fee
    assert action.status == "executed"
    assert action.result == result
    assert agent_ctx.spending.spent_wei == 3 * SALT // 2 + fee
    assert agent_ctx.actions.pending() == []

    # A second approval of the same action is refused and sends nothing.
    with pytest.raises(ApprovalError, match="is executed, not waiting for approval"):
        approve(action)
    assert chain.nonce(WALLET_ADDRESS, "pending") == nonce + 1
    assert chain.balance(to) == 3 * SALT // 2

    log = [e for e in agent_ctx.audit.read() if e.get("action") == action.id]
    log = [e for e in log if e["event"] != "prepared"]
    assert [e["event"] for e in log] == ["sent", "executed"]
    assert log[0]["tx_hash"] == result["tx_hash"]
    assert log[1]["result"]["tx_hash"] == result["tx_hash"]
    assert DEV_PASSWORD not in agent_ctx.audit.path.read_text()


def test_send_with_data(
    run_tool: Callable[..., Any], approve: Callable[..., Any], chain: Any
) -> None:
    to = fresh_address()
    result = approve(run_tool("send_transaction", to=to, amount="100 wei", data="0xc0ffee"))
    tx = chain.devnet.rpc("eth_getTransactionByHash", result["tx_hash"])
    assert tx["input"] == "0xc0ffee"
    assert int(tx["value"], 16) == 100
    assert chain.balance(to) == 100
    assert result["gas_used"] > 21_000  # call data costs gas


def test_reject_sends_nothing(
    run_tool: Callable[..., Any],
    approve: Callable[..., Any],
    agent_ctx: Any,
    chain: Any,
) -> None:
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    action = run_tool("send_transaction", to=to, amount=2)
    assert action.value_wei == 2 * SALT  # a JSON number means SALT
    rejected = actions.reject(agent_ctx, action.id)
    assert rejected is action and action.status == "rejected"
    with pytest.raises(ApprovalError, match="is rejected"):
        approve(action)
    with pytest.raises(ApprovalError):
        actions.reject(agent_ctx, action.id)
    assert_nothing_sent(chain, nonce, to)
    assert events(agent_ctx, action.id) == ["rejected"]


@pytest.fixture
def locked_send(
    run_tool: Callable[..., Any], agent_ctx: Any, chain: Any
) -> tuple[str, int, PreparedAction]:
    """A prepared 0.5 SALT send to a fresh address, the wallet locked after preparing it:
    `(recipient, the wallet's nonce before, the action)`."""
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    action = run_tool("send_transaction", to=to, amount="0.5")
    agent_ctx.wallet.lock()
    return to, nonce, action


def test_locked_wallet_keeps_the_action_pending(
    approve: Callable[..., Any],
    agent_ctx: Any,
    chain: Any,
    locked_send: tuple[str, int, PreparedAction],
) -> None:
    to, nonce, action = locked_send
    with pytest.raises(WalletUnavailableError, match="the wallet is locked") as info:
        approve(action)
    assert info.value.hint and "password" in info.value.hint
    assert action.status == "pending"
    assert agent_ctx.actions.pending() == [action]
    assert_nothing_sent(chain, nonce, to)

    # Approving again with the password unlocks the wallet and sends it.
    result = approve(action, password=DEV_PASSWORD)
    assert action.status == "executed"
    assert chain.balance(to) == SALT // 2
    assert chain.nonce(WALLET_ADDRESS) == nonce + 1
    assert chain.receipt(result["tx_hash"])["status"] == "0x1"
    assert agent_ctx.wallet.unlocked
    assert events(agent_ctx, action.id) == ["approval_refused", "sent", "executed"]
    assert DEV_PASSWORD not in agent_ctx.audit.path.read_text()


def test_wrong_password_keeps_the_action_pending(
    approve: Callable[..., Any],
    agent_ctx: Any,
    chain: Any,
    locked_send: tuple[str, int, PreparedAction],
) -> None:
    to, nonce, action = locked_send
    with pytest.raises((WrongPasswordError, WalletUnavailableError), match="password"):
        approve(action, password=WRONG_PASSWORD)
    assert action.status == "pending"
    assert not agent_ctx.wallet.unlocked
    assert_nothing_sent(chain, nonce, to)
    # The right password then works (and resets the wallet's wrong-password count).
    approve(action, password=DEV_PASSWORD)
    assert chain.balance(to) == SALT // 2
    text = agent_ctx.audit.path.read_text()
    assert WRONG_PASSWORD not in text and DEV_PASSWORD not in text


# ------------------------------------------------------------------ refusals at prepare


def test_amount_above_the_balance(run_tool: Callable[..., Any], agent_ctx: Any, chain: Any) -> None:
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    held = chain.balance(WALLET_ADDRESS)
    with pytest.raises(InsufficientFundsError, match="less than the") as info:
        run_tool("send_transaction", to=to, amount=f"{held + 1} wei")
    assert info.value.hint
    # The whole balance leaves nothing for the network fee.
    with pytest.raises(InsufficientFundsError, match="network fee"):
        run_tool("send_transaction", to=to, amount=f"{held} wei")
    assert agent_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce, to)


def test_spending_limit(
    run_tool: Callable[..., Any], approve: Callable[..., Any], agent_ctx: Any, chain: Any
) -> None:
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    agent_ctx.spending = SpendingTracker(parse_amount("0.5"))
    with pytest.raises(SpendingLimitError, match=r"limit 0\.5 SALT") as info:
        run_tool("send_transaction", to=to, amount="0.5")  # 0.5 plus the fee is over
    assert info.value.hint
    assert agent_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce, to)
    # Under the limit it goes through, and what it spent counts against the limit.
    result = approve(run_tool("send_transaction", to=to, amount="0.3"))
    spent = parse_amount("0.3") + int(result["fee_wei"])
    assert agent_ctx.spending.spent_wei == spent
    with pytest.raises(SpendingLimitError):
        run_tool("send_transaction", to=to, amount="0.2")
    assert chain.balance(to) == parse_amount("0.3")


def test_send_refuses_bad_recipients(
    run_tool: Callable[..., Any], agent_ctx: Any, chain: Any
) -> None:
    nonce = chain.nonce(WALLET_ADDRESS)
    to = fresh_address()
    with pytest.raises(ToolArgumentError, match="fails its EIP-55 checksum"):
        run_tool("send_transaction", to=WALLET_ADDRESS.replace("Fd6", "fd6"), amount="1")
    with pytest.raises(ToolArgumentError, match="zero address"):
        run_tool("send_transaction", to="0x" + "0" * 40, amount="1")
    with pytest.raises(ToolArgumentError, match="the wallet's own address"):
        run_tool("send_transaction", to=WALLET_ADDRESS.lower(), amount="1")
    with pytest.raises(ToolArgumentError, match="0 SALT without data"):
        run_tool("send_transaction", to=to, amount="0")
    assert agent_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce, to)


def test_send_refuses_bad_arguments(
    run_tool: Callable[..., Any], agent_ctx: Any, chain: Any
) -> None:
    nonce = chain.nonce(WALLET_ADDRESS)
    to = fresh_address()
    with pytest.raises(ToolArgumentError, match="'amount' is a required property"):
        run_tool("send_transaction", to=to)
    with pytest.raises(ToolArgumentError, match="is not an amount"):
        run_tool("send_transaction", to=to, amount="lots")
    with pytest.raises(ToolArgumentError, match="amount"):
        run_tool("send_transaction", to=to, amount=-1)
    with pytest.raises(ToolArgumentError, match="is not 0x-prefixed hex"):
        run_tool("send_transaction", to=to, amount="1", data="0xabc")
    with pytest.raises(ToolArgumentError, match="accepted arguments are: amount, data, to"):
        run_tool("send_transaction", to=to, amount="1", gas=21000)
    with pytest.raises(ToolNotFoundError, match="there is no tool `send_money`") as info:
        run_tool("send_money", to=to, amount="1")
    assert info.value.hint and "send_transaction" in info.value.hint
    assert agent_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce, to)


def test_send_to_a_contract_that_reverts(
    run_tool: Callable[..., Any], agent_ctx: Any, chain: Any
) -> None:
    nonce = chain.nonce(WALLET_ADDRESS)
    counter = chain.devnet.rpc("citrate_getSystemContracts")["Counter"]
    with pytest.raises(TransactionRevertedError, match="would revert") as info:
        run_tool("send_transaction", to=counter, amount="1")
    assert info.value.hint and "nothing was sent" in info.value.hint
    assert agent_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce)


def test_send_when_the_node_is_down(down_ctx: Any, registry: Any, chain: Any) -> None:
    nonce = chain.nonce(WALLET_ADDRESS)
    with pytest.raises(ChainUnavailableError, match="not reachable"):
        call_tool(registry, down_ctx, "send_transaction", {"to": fresh_address(), "amount": "1"})
    assert down_ctx.actions.pending() == []
    assert_nothing_sent(chain, nonce)


def test_approval_when_the_node_went_down(
    run_tool: Callable[..., Any], agent_ctx: Any, chain: Any, down_ctx: Any
) -> None:
    to = fresh_address()
    nonce = chain.nonce(WALLET_ADDRESS)
    action = run_tool("send_transaction", to=to, amount="0.1")
    with pytest.raises(ChainUnavailableError):
        actions.execute(down_ctx, action.id)
    assert action.status != "executed"
    assert_nothing_sent(chain, nonce, to)
    assert "sent" not in events(agent_ctx, action.id)


# -------------------------------------------------------------------- transaction_history


def test_history_of_a_recipient(
    run_tool: Callable[..., Any], approve: Callable[..., Any], chain: Any
) -> None:
    to = fresh_address()
    first = approve(run_tool("send_transaction", to=to, amount="0.01"))
    second = approve(run_tool("send_transaction", to=to, amount="0.02"))
    history = run_tool("transaction_history", address=to)
    assert history["address"] == to
    assert history["count"] == 2
    assert history["next_cursor"] is None
    newest, oldest = history["transactions"]
    assert [newest["hash"], oldest["hash"]] == [second["tx_hash"], first["tx_hash"]]
    assert newest == {
        "hash": second["tx_hash"],
        "direction": "in",
        "from": WALLET_ADDRESS,
        "to": to,
        "value_wei": str(2 * 10**16),
        "value_salt": "0.02",
        "nonce": int(chain.devnet.rpc("eth_getTransactionByHash", second["tx_hash"])["nonce"], 16),
        "block_number": second["block_number"],
        "time": newest["time"],
        "input_size_bytes": 0,
        "status": "success",
        "fee_wei": second["fee_wei"],
        "fee_salt": second["fee_salt"],
        "contract_address": None,
    }
    assert newest["time"].endswith("Z")
    # The wallet's own history shows the same transfers going out, newest first.
    mine = run_tool("transaction_history", limit=2)
    assert [t["hash"] for t in mine["transactions"]] == [second["tx_hash"], first["tx_hash"]]
    assert {t["direction"] for t in mine["transactions"]} == {"out"}


def test_history_pages(
    run_tool: Callable[..., Any], approve: Callable[..., Any], chain: Any
) -> None:
    to = fresh_address()
    sent = [approve(run_tool("send_transaction", to=to, amount="0.001"))["tx_hash"] for _ in "abc"]
    pages: list[str] = []
    cursor = None
    while True:
        args: dict[str, Any] = {"address": to, "limit": 2}
        if cursor:
            args["cursor"] = cursor
        page = run_tool("transaction_history", **args)
        pages.append(",".join(t["hash"] for t in page["transactions"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [f"{sent[2]},{sent[1]}", sent[0]]
    raw = chain.devnet.rpc("citrate_getTransactionsByAddress", to, "0x2")
    assert [t["hash"] for t in raw["transactions"]] == [sent[2], sent[1]]


def test_history_directions_and_failures(run_tool: Callable[..., Any], chain: Any) -> None:
    counter = chain.devnet.rpc("citrate_getSystemContracts")["Counter"]
    to_self = chain.send_raw(RAW_KEY, to=RAW_ADDRESS, value=1)
    reverted = chain.send_raw(
        RAW_KEY, to=counter, value=1
    )  # Counter takes no value: reverts on chain
    history = run_tool("transaction_history", address=RAW_ADDRESS.lower(), limit=2)
    latest, before = history["transactions"]
    assert latest["hash"] == reverted["transactionHash"]
    assert latest["direction"] == "out"
    assert latest["status"] == "reverted"
    used = int(reverted["gasUsed"], 16) * int(reverted["effectiveGasPrice"], 16)
    assert latest["fee_wei"] == str(used)
    assert before["hash"] == to_self["transactionHash"]
    assert before["direction"] == "self"
    assert before["status"] == "success"
    assert before["from"] == before["to"] == RAW_ADDRESS


def test_history_bad_arguments(
    run_tool: Callable[..., Any], agent_ctx: Any, registry: Any, down_ctx: Any
) -> None:
    empty = fresh_address()
    assert run_tool("transaction_history", address=empty) == {
        "address": empty,
        "count": 0,
        "transactions": [],
        "next_cursor": None,
    }
    with pytest.raises(ToolArgumentError, match="limit"):
        run_tool("transaction_history", limit=101)
    with pytest.raises(ToolArgumentError, match="limit"):
        run_tool("transaction_history", limit=0)
    with pytest.raises(ToolArgumentError, match="cursor"):
        run_tool("transaction_history", cursor="page-2")
    with pytest.raises(ChainUnavailableError):
        call_tool(registry, down_ctx, "transaction_history", {})
