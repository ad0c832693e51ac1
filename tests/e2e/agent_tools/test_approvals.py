"""Approvals on a real devnet: what the summary shows, the wallet's second factor, and the
spending limit when a send's outcome is unknown."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pyotp
import pytest

from citrate_agent.actions import PreparedAction, SpendingTracker, execute
from citrate_agent.errors import ChainUnavailableError, SecondFactorRequiredError
from citrate_agent.session import open_context
from citrate_crypto import KdfParams, Wallet
from citrate_crypto.vault import new_totp_enrollment

PASSWORD = "Correct-Horse-Battery-9"
SALT = 10**18


def _fresh() -> str:
    return "0x" + secrets.token_hex(20)


def _balance(devnet: Any, address: str) -> int:
    return int(devnet.rpc_raw("eth_getBalance", [address, "latest"])["result"], 16)


def test_write_summary_shows_the_decoded_arguments(run_tool: Any) -> None:
    operator = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    action = run_tool(
        "write_contract",
        contract="ColorCirclesNFT",
        function="setApprovalForAll",
        args=[operator, True],
    )
    assert isinstance(action, PreparedAction)
    assert f'call: setApprovalForAll(operator="{operator}", approved=true)' in action.summary


def test_raw_call_data_is_flagged(run_tool: Any) -> None:
    action = run_tool("send_transaction", to=_fresh(), amount="0.1", data="0xdeadbeef")
    assert "call data: 0xdeadbeef… (4 bytes, not decoded" in action.summary


def test_second_factor_is_asked_above_the_threshold(
    agent_devnet: Any, dev_wallet_dir: Path, tmp_path: Path
) -> None:
    wallet_dir = tmp_path / "wallet"
    shutil.copytree(dev_wallet_dir, wallet_dir)
    wallet = Wallet(wallet_dir, kdf=KdfParams.owasp_minimum())
    enrollment = new_totp_enrollment()
    totp = pyotp.TOTP(enrollment.secret)
    wallet.enable_totp(PASSWORD, "1", enrollment, totp.now())
    ctx = open_context(
        data_dir=tmp_path / "home",
        rpc_url=agent_devnet.url,
        wallet_dir=wallet_dir,
        kdf=KdfParams.owasp_minimum(),
        address=wallet.accounts()[2].address,
    )
    try:
        from citrate_agent.tools import call_tool, default_registry

        to = _fresh()
        action = call_tool(default_registry(), ctx, "send_transaction", {"to": to, "amount": "2"})
        with pytest.raises(SecondFactorRequiredError, match="authenticator"):
            execute(ctx, action.id, password=PASSWORD)
        assert action.status == "pending" and _balance(agent_devnet, to) == 0
        execute(ctx, action.id, totp_code=totp.now())
        assert _balance(agent_devnet, to) == 2 * SALT
    finally:
        ctx.close()


def test_unknown_outcome_keeps_the_spending_limit_used(
    agent_ctx: Any, agent_devnet: Any, run_tool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_ctx.spending = SpendingTracker(100 * SALT)
    to = _fresh()
    action = run_tool("send_transaction", to=to, amount="60")

    def no_receipt(tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        # Fault injection: the node took the transaction but its receipt never arrives.
        raise ChainUnavailableError(f"transaction `{tx_hash}` was sent but not mined")

    monkeypatch.setattr(agent_ctx.chain, "wait_receipt", no_receipt)
    with pytest.raises(ChainUnavailableError):
        execute(agent_ctx, action.id)
    assert action.status == "failed"  # never offered again: it may have gone through
    assert agent_ctx.spending.spent_wei == action.max_total_wei
    assert _balance(agent_devnet, to) == 60 * SALT  # it did go through
    with pytest.raises(Exception, match="spending limit"):
        run_tool("send_transaction", to=_fresh(), amount="60")
