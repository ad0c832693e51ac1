"""Verification by re-execution: a second provider catches a wrong result, disputes it, and the
arbiter's ruling refunds the requester, slashes the provider and halves its reputation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from citrate_compute.content import ContentClient
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    DISPUTE_BOND,
    MIN_PROVIDER_STAKE,
    VERIFIER_ROLE,
    JobState,
    MarketClient,
    TransactionReverted,
)
from citrate_compute.provider import ProviderConfig
from citrate_compute.requester import RequesterClient
from citrate_compute.verifier import Verifier, VerifierConfig, arbitrate
from conftest import ADMIN, REQUESTER, VERIFIER, Chain

pytestmark = pytest.mark.slow
HONEST = "e2e_handlers:upper"


def _verifier(market: MarketClient, content: ContentClient, executor: Any, model: str) -> Verifier:
    config = ProviderConfig()
    model_id = config.serve("gemma-3-270m", model)
    return Verifier(
        market,
        content,
        executor,
        VerifierConfig(
            share=0.0,  # tier-1 jobs are not picked; tier 2 always is
            models={model_id: "gemma-3-270m"},
            handlers={JobType.INFERENCE: HONEST},
            model_memory={"gemma-3-270m": 256 * 1024**2},
        ),
    )


def test_a_wrong_result_is_disputed_and_the_arbiter_refunds_the_requester(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    market_for: Callable[[int], MarketClient],
    content: ContentClient,
    executor: Any,
    addresses: list[str],
    chain: Chain,
) -> None:
    cheat = provider_for(7, handler="e2e_handlers:wrong")
    admin = market_for(ADMIN)
    verifier_market = market_for(VERIFIER)
    verifier_address = addresses[VERIFIER]
    verifier = _verifier(verifier_market, content, executor, cheat.model)

    # Without VERIFIER_ROLE a third party cannot dispute (the contract says why; nothing sent).
    if not admin.has_role(VERIFIER_ROLE, verifier_address):
        admin.grant_role(VERIFIER_ROLE, verifier_address)
    assert admin.has_role(VERIFIER_ROLE, verifier_address)

    max_price = 10**16
    sub = requester.submit(
        "inference", cheat.model, prompt="hello world", max_price=max_price, tier=2
    )
    cheat.step()
    requester.assign(sub.job_id)
    cheat.until(lambda: cheat.job(sub.job_id).status == "revealed")

    outsider = market_for(9)
    nonce = chain.nonce(outsider.account)
    with pytest.raises(TransactionReverted, match="NotAuthorizedDisputer") as refused:
        outsider.dispute_result(sub.job_id)
    assert not refused.value.sent and chain.nonce(outsider.account) == nonce

    me = addresses[REQUESTER]
    requester_credit = requester.market.credit_of(me)
    verifier_credit = verifier_market.credit_of(verifier_address)
    verdicts: list[Any] = []
    deadline = 60
    import time

    until = time.monotonic() + deadline
    while not any(v.job_id == sub.job_id for v in verdicts):
        assert time.monotonic() < until
        verdicts += verifier.run_once()
        time.sleep(0.1)
    (verdict,) = [v for v in verdicts if v.job_id == sub.job_id]
    assert verdict.status == "mismatch" and verdict.disputed, verdict
    job = requester.market.job(sub.job_id)
    assert job.state == JobState.DISPUTED and job.disputer == verifier_address
    assert verdict.revealed_hash == "0x" + job.output_hash.hex() != verdict.computed_hash

    # The arbiter (the admin, dev account 20) re-executes the job itself and rules.
    ruling = arbitrate(admin, _verifier(admin, content, executor, cheat.model), sub.job_id)
    assert ruling.status == "mismatch"
    job = requester.market.job(sub.job_id)
    assert job.state == JobState.FAILED
    info = requester.market.provider(cheat.address)
    slashed = MIN_PROVIDER_STAKE * 1_000 // 10_000
    assert info.reputation == 5000 - 5000 // 2 and info.jobs_failed == 1
    assert info.stake == MIN_PROVIDER_STAKE - slashed and info.active_jobs == 0
    assert requester.market.credit_of(me) - requester_credit == max_price
    assert verifier_market.credit_of(verifier_address) - verifier_credit == (DISPUTE_BOND + slashed)

    # The cheat's agent records the ruling and, its stake now below the minimum, stops bidding.
    report = cheat.step()
    assert cheat.job(sub.job_id).status == "failed_on_chain"
    assert any("below the minimum" in e for e in report.errors)
    cheat.resources.check()
