"""Bad input on a real devnet: every case is a clear error with nothing sent, or a recorded
failure whose requester is refunded, and the provider keeps running with a consistent ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from citrate_compute.content import ContentClient
from citrate_compute.errors import ComputeValueError, MalformedInput
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    MIN_PROVIDER_STAKE,
    ChainError,
    JobState,
    MarketClient,
    ServiceConfig,
    TransactionReverted,
    model_id,
)
from citrate_compute.provider import ProviderConfig, ProviderError
from citrate_compute.requester import RequesterClient
from conftest import REQUESTER, Chain

pytestmark = pytest.mark.slow
SALT = 10**18


def test_a_stake_below_the_minimum_is_refused_and_nothing_is_sent(
    market_for: Callable[[int], MarketClient], chain: Chain
) -> None:
    market = market_for(3)
    me = market.account
    nonce, balance = chain.nonce(me), chain.balance(me)
    service = ServiceConfig(frozenset({JobType.INFERENCE}), 1, (model_id("gemma-3-270m"),))

    with pytest.raises(ProviderError, match=r"at least 1,000 SALT \(this one is 999 SALT\)"):
        ProviderConfig(stake=999 * SALT, models={model_id("m"): "m"}).validate()
    with pytest.raises(ComputeValueError, match="a provider stake must be at least 1,000 SALT"):
        market.register_provider(service, 999 * SALT)
    # The contract says the same in simulation, decoded, and nothing is sent.
    with pytest.raises(TransactionReverted) as refused:
        market.transact("registerProvider", service.as_tuple(), value=999 * SALT)
    assert refused.value.name == "InsufficientStake" and not refused.value.sent
    assert "a provider stake must be at least 1,000 SALT (this one is 999 SALT)" in str(
        refused.value
    )
    assert "nothing was sent" in str(refused.value)
    assert chain.nonce(me) == nonce and chain.balance(me) == balance
    assert not market.provider(me).registered


def test_unknown_models_and_oversized_jobs_are_skipped_with_the_reason(
    provider_for: Callable[..., Any], requester: RequesterClient, chain: Chain
) -> None:
    provider = provider_for(4, handler="e2e_handlers:upper")
    unknown = requester.submit("inference", "no-such-model", prompt="hi", max_price=10**16)
    huge = requester.submit(
        "inference",
        provider.model,
        document={"prompt": "hi", "memory_bytes": 10**15},
        max_price=10**16,
    )
    cheap = requester.submit("inference", provider.model, prompt="hi", max_price=10**14)
    slow = requester.submit(
        "inference",
        provider.model,
        document={"prompt": "hi", "max_tokens": 2000},
        max_price=10**16,
        exec_window=60,
    )
    report = provider.step()
    assert report.skipped[slow.job_id].startswith(
        "cannot finish this input within the 60 s execution window"
    )
    assert report.skipped[unknown.job_id] == f"unknown model 0x{model_id('no-such-model').hex()}"
    assert (
        "the job needs 1000000000000000 bytes, more than this provider's largest share"
        in (report.skipped[huge.job_id])
    )
    assert "below this provider's cost" in report.skipped[cheap.job_id]
    for sub in (unknown, huge, cheap, slow):
        assert requester.market.bids(sub.job_id) == []
    # Skips are persisted with their reasons, and permanent skips are not looked at again.
    saved = provider.agent.state.to_json()["skips"]
    assert saved[str(unknown.job_id)]["permanent"] is True
    assert unknown.job_id not in provider.step().skipped

    # A job that fits when bid on but not when it is assigned (the operator lowered the
    # allocation meanwhile) is refused at admission: a recorded failure, refunded on timeout.
    fits = requester.submit("inference", provider.model, prompt="hi", max_price=10**16)
    assert fits.job_id in provider.step().bids
    requester.assign(fits.job_id)
    provider.resources.set_allocation("cpu0", 0)  # lends nothing now
    provider.until(lambda: provider.job(fits.job_id).status == "failed")
    assert (
        "needs `268435456` bytes but the largest share of a node serving inference jobs is 0"
        in (provider.job(fits.job_id).reason or "")
    )
    refusals = provider.resources.refusals()
    assert refusals[-1].job_id == str(fits.job_id) and refusals[-1].refund
    provider.resources.check()
    # Past the deadline the provider settles its own failure: the requester, who sends
    # nothing, is refunded with the slash, and the slot and stake are free again.
    chain.advance(601)
    credit = requester.market.credit_of(requester.market.account)
    nonce = chain.nonce(requester.market.account)
    provider.step()
    job = requester.market.job(fits.job_id)
    assert job.state == JobState.TIMED_OUT and provider.job(fits.job_id).status == "timed_out"
    assert chain.nonce(requester.market.account) == nonce
    assert requester.market.provider(provider.address).active_jobs == 0
    slashed = MIN_PROVIDER_STAKE * 500 // 10_000
    assert requester.market.credit_of(requester.market.account) - credit == 10**16 + slashed
    for sub in (unknown, huge, cheap, slow):
        requester.cancel(sub.job_id)


def test_a_malformed_input_is_never_bid_on_and_the_requester_is_refunded_on_expiry(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    chain: Chain,
    addresses: list[str],
) -> None:
    """The provider checks the document before it bids (an assigned job cannot be declined):
    no bid, the reason recorded, and the job expires with the whole escrow credited back."""
    # A fresh account (a block producer's, funded here) so no other test's slash can matter.
    fresh = 12
    chain.devnet.rpc("anvil_setBalance", addresses[fresh], hex(10_000 * SALT))
    provider = provider_for(fresh)
    market = requester.market
    sub = requester.submit(
        "inference",
        provider.model,
        document={"prompt": "hi", "temperature": "hot"},
        max_price=10**16,
    )
    report = provider.step()
    assert (
        report.skipped[sub.job_id]
        == "malformed input: `temperature` must be a number, got a string"
    )
    assert market.bids(sub.job_id) == []
    stake_before = market.provider(provider.address).stake
    chain.advance(61)
    credit = market.credit_of(market.account)
    receipt = requester.assign(sub.job_id)
    assert receipt.event("JobExpired").args["refund"] == 10**16
    assert market.job(sub.job_id).state == JobState.EXPIRED
    assert market.credit_of(market.account) - credit == 10**16
    assert market.provider(provider.address).stake == stake_before
    provider.resources.check()


def test_a_job_that_fails_at_execution_is_a_recorded_failure_and_the_requester_is_refunded(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    chain: Chain,
    addresses: list[str],
) -> None:
    """A document that passes the checks but fails in the runtime (its prompt does not fit the
    model's context window): the provider does not commit, the requester times the job out
    (escrow + 5 % of the stake) and the provider keeps serving."""
    provider = provider_for(5, stake=2_000 * SALT)
    market = requester.market
    max_price = 10**16
    sub = requester.submit(
        "inference",
        provider.model,
        document={"prompt": "word " * 3000, "max_tokens": 8},
        max_price=max_price,
        exec_window=60,
    )
    provider.step()
    requester.assign(sub.job_id)
    provider.until(lambda: provider.job(sub.job_id).status == "failed")
    record = provider.job(sub.job_id)
    assert "context window" in (record.reason or "")
    job = market.job(sub.job_id)
    assert job.state == JobState.ASSIGNED and job.commitment == bytes(32)  # nothing committed
    ledger = provider.resources.ledger("cpu0")
    assert ledger["reserved"] == 0 and ledger["running"] == 0
    provider.resources.check()

    with pytest.raises(TransactionReverted, match="DeadlineNotReached") as early:
        requester.timeout(sub.job_id)
    assert not early.value.sent
    chain.advance(61)
    me = addresses[REQUESTER]
    credit = market.credit_of(me)
    receipt = requester.timeout(sub.job_id)
    timed_out = receipt.event("JobTimedOut").args
    slashed = 2_000 * SALT * 500 // 10_000
    assert (timed_out["slashed"], timed_out["requesterRefund"]) == (slashed, max_price)
    assert market.credit_of(me) - credit == max_price + slashed
    info = market.provider(provider.address)
    assert info.stake == 2_000 * SALT - slashed and info.jobs_timed_out == 1
    assert info.reputation == 5000 - 5000 // 5 and info.active_jobs == 0

    # The provider keeps running: it records the outcome and bids on the next job.
    report = provider.step()
    assert provider.job(sub.job_id).status == "timed_out"
    nxt = requester.submit("inference", provider.model, prompt="again", max_price=max_price)
    assert nxt.job_id in provider.step().bids
    requester.cancel(nxt.job_id)
    assert not report.errors


def test_the_requester_refuses_bad_terms_before_sending(
    requester: RequesterClient, chain: Chain, addresses: list[str], content: ContentClient
) -> None:
    me = addresses[REQUESTER]
    nonce = chain.nonce(me)
    with pytest.raises(ComputeValueError, match="max price must be more than 0"):
        requester.submit("inference", "m", prompt="hi", max_price=0)
    with pytest.raises(ComputeValueError, match="bid window `5` s"):
        requester.submit("inference", "m", prompt="hi", max_price=1, bid_window=5)
    with pytest.raises(ComputeValueError, match="unknown job type 'sculpture'"):
        requester.submit("sculpture", "m", prompt="hi", max_price=1)
    with pytest.raises(MalformedInput, match="needs `input`"):
        requester.submit("embedding", "m", document={"text": "x"}, max_price=1)
    with pytest.raises(ChainError, match="cannot pay"):
        requester.submit("inference", "m", prompt="hi", max_price=10**30)
    assert chain.nonce(me) == nonce
