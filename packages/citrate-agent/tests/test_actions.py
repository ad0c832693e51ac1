"""Unit tests of `citrate_agent.actions` and the wallet session's signing (no node needed).

The approval flow against a real devnet lives in tests/e2e/agent_tools/test_wallet.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from citrate_agent.actions import ActionBook, PreparedAction, SpendingTracker, TxPlan
from citrate_agent.errors import ApprovalError, SpendingLimitError, WalletUnavailableError
from citrate_agent.wallet import WalletSession, WatchOnly
from citrate_crypto import KdfParams, Wallet

DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_PASSWORD = "Correct-Horse-Battery-9"
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SALT = 10**18


def _finish(ctx: Any, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"receipts": len(receipts)}


def _action(**overrides: Any) -> PreparedAction:
    fields: dict[str, Any] = {
        "tool": "send_transaction",
        "kind": "send",
        "title": f"Send 1.5 SALT to {RECIPIENT}",
        "details": {"to": RECIPIENT},
        "txs": [
            TxPlan(to=RECIPIENT, value=3 * SALT // 2, description="send 1.5 SALT", gas=25_200),
            TxPlan(to=None, data=b"\x60\x00", description="deploy", gas=100_000),
        ],
        "sender": DEV_ADDRESS,
        "chain_id": 1337,
        "max_fee_per_gas": 3 * 10**9,
        "max_priority_fee_per_gas": 10**9,
        "finish": _finish,
    }
    fields.update(overrides)
    return PreparedAction(**fields)


# ------------------------------------------------------------------------ SpendingTracker


def test_spending_tracker_allows_up_to_the_remaining_amount() -> None:
    tracker = SpendingTracker(10 * SALT)
    tracker.check(10 * SALT)  # exactly the limit is allowed
    tracker.record(4 * SALT)
    assert tracker.spent_wei == 4 * SALT
    assert tracker.remaining_wei == 6 * SALT
    tracker.check(6 * SALT)
    with pytest.raises(SpendingLimitError) as info:
        tracker.check(6 * SALT + 1)
    assert "leaves 6 SALT (limit 10 SALT)" in info.value.message
    assert info.value.hint and "spending_limit" in info.value.hint


def test_spending_tracker_never_reports_negative_room() -> None:
    tracker = SpendingTracker(SALT)
    tracker.record(2 * SALT)  # a reverted transaction's fee can overshoot the estimate
    assert tracker.remaining_wei == 0
    with pytest.raises(SpendingLimitError):
        tracker.check(1)
    tracker.check(0)


# ---------------------------------------------------------------------------- ActionBook


def test_action_book_takes_an_action_once() -> None:
    book = ActionBook()
    action = book.add(_action())
    assert book.get(action.id) is action
    assert book.pending() == [action]
    assert book.take(action.id) is action
    assert action.status == "executing"
    assert book.pending() == []
    with pytest.raises(ApprovalError, match="is executing, not waiting for approval"):
        book.take(action.id)


def test_action_book_refuses_unknown_ids() -> None:
    book = ActionBook()
    book.add(_action())
    with pytest.raises(ApprovalError, match="there is no action `act-nope`") as info:
        book.take("act-nope")
    assert info.value.hint


def test_action_book_expires_old_actions() -> None:
    book = ActionBook(ttl_seconds=60)
    old = book.add(_action(created_at=time.time() - 61))
    fresh = book.add(_action())
    assert old.id != fresh.id
    assert book.pending() == [fresh]
    assert old.status == "expired"
    with pytest.raises(ApprovalError, match="is expired"):
        book.take(old.id)
    assert book.take(fresh.id) is fresh


def test_action_ids_are_unique() -> None:
    assert len({_action().id for _ in range(200)}) == 200


# ------------------------------------------------------------------------ PreparedAction


def test_prepared_action_costs_and_summary() -> None:
    action = _action()
    assert action.value_wei == 3 * SALT // 2
    assert action.max_gas_cost_wei == 125_200 * 3 * 10**9
    assert action.max_total_wei == 3 * SALT // 2 + 125_200 * 3 * 10**9
    # The amounts first, then who pays, then each transaction.
    assert action.summary.splitlines() == [
        f"Send 1.5 SALT to {RECIPIENT}",
        "  value: 1.5 SALT",
        "  network fee: at most 0.0003756 SALT (125200 gas)",
        "  total at most: 1.5003756 SALT",
        f"  from: {DEV_ADDRESS} (chain 1337)",
        f"  - send 1.5 SALT → {RECIPIENT}",
        "  - deploy → a new contract",
    ]


def test_prepared_action_json() -> None:
    action = _action()
    doc = action.to_json()
    assert json.loads(json.dumps(doc)) == doc  # JSON-serialisable as is
    assert doc == {
        "action_id": action.id,
        "status": "pending",
        "tool": "send_transaction",
        "kind": "send",
        "title": f"Send 1.5 SALT to {RECIPIENT}",
        "summary": action.summary,
        "from": DEV_ADDRESS,
        "value_salt": "1.5",
        "max_network_fee_salt": "0.0003756",
        "max_total_salt": "1.5003756",
        "details": {"to": RECIPIENT},
    }
    assert doc["action_id"].startswith("act-")


def test_tx_plan_call_object() -> None:
    plan = TxPlan(to=RECIPIENT, data=b"\x12\x34", value=5)
    assert plan.call_object(DEV_ADDRESS) == {
        "from": DEV_ADDRESS,
        "to": RECIPIENT,
        "value": "0x5",
        "data": "0x1234",
    }
    assert "to" not in TxPlan(to=None, data=b"\x00").call_object(DEV_ADDRESS)


# ------------------------------------------------------------------- WalletSession signing


@pytest.fixture(scope="module")
def dev_wallet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Wallet]:
    directory = tmp_path_factory.mktemp("actions-wallet") / "wallet"
    wallet = Wallet(directory, kdf=KdfParams.owasp_minimum())
    wallet.recover(DEV_PHRASE, DEV_PASSWORD)
    return directory, wallet


def _tx(**overrides: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": 1337,
        "nonce": 7,
        "to": RECIPIENT,
        "value": 3 * SALT // 2,
        "data": b"\xde\xad\xbe\xef",
        "gas": 25_200,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "accessList": [],
    }
    tx.update(overrides)
    return tx


def test_wallet_session_signs_exactly_like_eth_account(dev_wallet: tuple[Path, Wallet]) -> None:
    directory, wallet = dev_wallet
    session = WalletSession(directory, wallet=wallet)
    assert session.address == DEV_ADDRESS
    session.unlock(DEV_PASSWORD)
    for tx in (
        _tx(),
        _tx(nonce=0, value=0, data=b""),
        _tx(chainId=1, nonce=2**32, value=2**200, gas=30_000_000),
    ):
        raw = session.sign_transaction(tx)
        assert raw == bytes(Account.sign_transaction(tx, DEV_KEY).raw_transaction)
        assert Account.recover_transaction(raw) == DEV_ADDRESS


def test_wallet_session_signs_contract_creation(dev_wallet: tuple[Path, Wallet]) -> None:
    directory, wallet = dev_wallet
    session = WalletSession(directory, wallet=wallet)
    session.unlock(DEV_PASSWORD)
    # `actions.execute` passes `to=b""` for a deployment, as eth-account spells "no recipient".
    tx = _tx(to=b"", value=0, data=bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3"))
    raw = session.sign_transaction(tx)
    assert raw == bytes(Account.sign_transaction(tx, DEV_KEY).raw_transaction)


def test_wallet_session_refuses_to_sign_when_locked(dev_wallet: tuple[Path, Wallet]) -> None:
    directory, wallet = dev_wallet
    session = WalletSession(directory, wallet=wallet)
    assert not session.unlocked
    with pytest.raises(WalletUnavailableError, match="locked"):
        session.sign_transaction(_tx())
    session.unlock(DEV_PASSWORD)
    assert session.unlocked
    session.lock()
    assert not session.unlocked
    with pytest.raises(WalletUnavailableError, match="locked"):
        session.sign_transaction(_tx())


def test_wallet_session_picks_the_named_account(dev_wallet: tuple[Path, Wallet]) -> None:
    directory, wallet = dev_wallet
    assert WalletSession(directory, address=DEV_ADDRESS.lower(), wallet=wallet).address == (
        DEV_ADDRESS
    )
    with pytest.raises(WalletUnavailableError, match="not an account of this wallet"):
        WalletSession(directory, address=RECIPIENT, wallet=wallet)


def test_wallet_session_without_a_wallet(tmp_path: Path) -> None:
    with pytest.raises(WalletUnavailableError, match="no wallet at") as info:
        WalletSession(tmp_path / "none")
    assert info.value.hint and "citrate wallet create" in info.value.hint


def test_watch_only_never_signs() -> None:
    watch = WalletSession.watch_only(RECIPIENT)
    assert isinstance(watch, WatchOnly)
    assert watch.address == RECIPIENT
    with pytest.raises(WalletUnavailableError, match="watched without keys"):
        watch.sign_transaction(_tx())
    with pytest.raises(WalletUnavailableError):
        WalletSession.watch_only("0x70997970C51812DC3A010C7d01b50e0d17dc79C8")  # bad checksum
