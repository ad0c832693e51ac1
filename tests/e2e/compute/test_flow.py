"""The whole life of a paid job on a real devnet: post, bid, assign, run, commit, reveal,
complete, claim, with every wei accounted for."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from typing import Any

import pytest

from citrate_compute.content import ContentClient, ContentError, hash_document
from citrate_compute.errors import ComputeError
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    MIN_PROVIDER_STAKE,
    ChainUnavailable,
    JobState,
    MarketClient,
    commitment_of,
)
from citrate_compute.provider import DEFAULT_COST, ProviderAgent
from citrate_compute.requester import RequesterClient
from citrate_compute.verifier import Verifier, VerifierConfig
from conftest import POOL, REQUESTER, TREASURY, Chain

pytestmark = pytest.mark.slow


def test_job_is_run_committed_revealed_and_paid_95_3_2(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    market_for: Callable[[int], MarketClient],
    chain: Chain,
    addresses: list[str],
) -> None:
    """The real inference handler (llama.cpp, Gemma 3 270M) runs the job in the sandbox."""
    provider = provider_for(2)
    market = requester.market
    me = addresses[REQUESTER]
    treasury, pool = addresses[TREASURY], addresses[POOL]
    start_balance, start_credit = chain.balance(me), market.credit_of(me)
    treasury_credit, pool_credit = market.credit_of(treasury), market.credit_of(pool)
    max_price = 10**17  # 0.1 SALT
    fees: list[int] = []

    sub = requester.submit(
        "inference", provider.model, prompt="Say hello.", max_price=max_price, tier=0, max_tokens=8
    )
    fees.append(sub.receipt.fee)
    job = market.job(sub.job_id)
    assert job.state == JobState.OPEN and job.max_price == max_price
    assert job.input_hash == bytes.fromhex(sub.input_hash[2:])

    report = provider.step()
    assert report.registered and sub.job_id in report.bids
    info = market.provider(provider.address)
    assert info.registered and info.stake == MIN_PROVIDER_STAKE and info.open_bids == 1
    (bid,) = market.bids(sub.job_id)
    price = DEFAULT_COST[JobType.INFERENCE]  # the provider bids its cost, never below it
    assert (bid.provider, bid.price) == (provider.address, price)

    # The requester may assign before the bid deadline.
    fees.append(requester.assign(sub.job_id).fee)
    provider.until(lambda: provider.job(sub.job_id).status == "revealed")

    view = requester.status(sub.job_id)
    assert view.job.state == JobState.REVEALED and view.job.provider == provider.address
    assert view.output is not None
    assert hash_document(view.output) == view.job.output_hash  # fetched and verified
    output = json.loads(view.output)
    assert output["model"] == "gemma-3-270m" and output["text"]
    assert 1 <= output["completion_tokens"] <= 8
    assert requester.result(sub.job_id) == view.output
    # The commitment on chain is the one computed locally from the saved nonce.
    record = provider.job(sub.job_id)
    nonce = bytes.fromhex(record.nonce[2:])
    assert view.job.commitment == commitment_of(
        sub.job_id, view.job.output_hash, nonce, provider.address
    )
    assert view.job.commitment == market.compute_commitment(
        sub.job_id, view.job.output_hash, nonce, provider.address
    )
    state_file = provider.agent.state.path
    assert state_file is not None and stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_file.parent.stat().st_mode) == 0o700

    completed = requester.complete(sub.job_id)
    fees.append(completed.fee)
    event = completed.event("JobCompleted").args
    provider_share, treasury_fee, pool_fee = market.split_price(price)
    assert (event["providerAmount"], event["treasuryFee"], event["poolFee"]) == (
        provider_share,
        treasury_fee,
        pool_fee,
    )
    assert treasury_fee == price * 300 // 10_000 and pool_fee == price * 200 // 10_000
    assert provider_share + treasury_fee + pool_fee == price
    assert event["requesterRefund"] == max_price - price
    assert market.credit_of(treasury) - treasury_credit == treasury_fee
    assert market.credit_of(pool) - pool_credit == pool_fee

    # The provider claims: earnings from the chain's JobCompleted event, credits withdrawn.
    before = chain.balance(provider.address)
    report = provider.step()
    assert report.earned == provider_share and report.withdrawn == provider_share
    assert report.withdraw_tx is not None
    assert chain.balance(provider.address) == before + provider_share - chain.fee(
        report.withdraw_tx
    )
    assert provider.resources.status()["earned_wei"] == str(provider_share)
    assert provider.job(sub.job_id).status == "completed"
    assert market.provider(provider.address).jobs_completed == 1
    assert market.provider(provider.address).reputation == 5000 + (10_000 - 5000) // 20

    # Treasury (dev 21) and routing pool (dev 22) are paid exactly their fees (anyone may
    # trigger the withdrawal; the gas is the caller's).
    for payee in (treasury, pool):
        owed, was = market.credit_of(payee), chain.balance(payee)
        fees.append(market.withdraw(payee).fee)
        assert chain.balance(payee) == was + owed
    # The requester gets back the unused escrow: it paid exactly the price plus gas.
    withdrawn = requester.withdraw()
    assert withdrawn is not None
    fees.append(withdrawn.fee)
    assert chain.balance(me) == start_balance + start_credit - price - sum(fees)

    ledger = provider.resources.ledger("cpu0")
    assert ledger["reserved"] == 0 and ledger["running"] == 0
    provider.resources.check()


def test_a_restarted_provider_reveals_from_its_state_file(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    market_for: Callable[[int], MarketClient],
    content: ContentClient,
    executor: Any,
    tmp_path: Any,
) -> None:
    """The nonce is saved before the commitment is sent: a provider that dies between commit
    and reveal reveals after a restart. A verifier re-executing the job finds it correct."""
    state_dir = tmp_path / "provider-state"
    first = provider_for(0, handler="e2e_handlers:upper", state_dir=state_dir)
    sub = requester.submit("inference", first.model, prompt="hello world", max_price=10**16, tier=2)
    first.step()
    requester.assign(sub.job_id)

    # The store is down when the result is ready: the result is kept and uploaded later.
    put = first.agent.content.put

    def store_down(*args: Any, **kwargs: Any) -> Any:
        first.agent.content.put = put  # type: ignore[method-assign]
        raise ContentError("cannot store the output (injected)")

    first.agent.content.put = store_down  # type: ignore[method-assign]

    def reveal_fails(*args: Any) -> Any:
        raise ChainUnavailable("the node went away (injected)")

    first.agent.market.reveal_result = reveal_fails  # type: ignore[method-assign]
    first.until(lambda: first.job(sub.job_id).status == "uploading")
    assert first.job(sub.job_id).reason == "cannot store the output (injected)"
    first.until(lambda: first.job(sub.job_id).status == "committed")
    assert requester.market.job(sub.job_id).state == JobState.COMMITTED
    first.agent.close()

    second = provider_for(0, handler="e2e_handlers:upper", state_dir=state_dir)
    assert second.job(sub.job_id).nonce == first.job(sub.job_id).nonce
    second.step()
    job = requester.market.job(sub.job_id)
    assert job.state == JobState.REVEALED
    assert json.loads(requester.result(sub.job_id)) == {
        "model": "gemma-3-270m",
        "text": "HELLO WORLD",
    }

    verifier = Verifier(
        market_for(0),
        content,
        executor,
        VerifierConfig(
            models={job.model_id: "gemma-3-270m"},
            handlers={JobType.INFERENCE: "e2e_handlers:upper"},
            model_memory={"gemma-3-270m": 256 * 1024**2},
        ),
    )
    verdict = verifier.check(sub.job_id)
    assert verdict.status == "match" and not verdict.disputed
    requester.complete(sub.job_id)
    assert requester.market.job(sub.job_id).state == JobState.COMPLETED


def test_status_of_an_unknown_job_is_a_clear_error(requester: RequesterClient) -> None:
    with pytest.raises(ComputeError, match="no job 999999"):
        requester.status(999_999)


def test_agent_refuses_to_start_when_the_config_is_unusable(
    market_for: Callable[[int], MarketClient], content: ContentClient, executor: Any
) -> None:
    from citrate_compute.devices import CpuBackend
    from citrate_compute.provider import ProviderConfig, ProviderError
    from citrate_compute.resources import GPUResourceManager

    resources = GPUResourceManager(CpuBackend())
    try:
        with pytest.raises(ProviderError, match="serve at least one model"):
            ProviderAgent(market_for(3), content, resources, executor, ProviderConfig())
    finally:
        resources.close()


def test_the_provider_closes_the_bidding_itself_once_the_deadline_passes(
    provider_for: Callable[..., Any],
    requester: RequesterClient,
    chain: Chain,
    addresses: list[str],
) -> None:
    """A requester who never calls `assign` still gets the job run: after the bid deadline the
    bidding provider calls assignBestBid (its open bid otherwise holds a slot and its stake)."""
    fresh = 13  # a block producer's account, funded here: no other test's state matters
    chain.devnet.rpc("anvil_setBalance", addresses[fresh], hex(10_000 * 10**18))
    provider = provider_for(fresh, handler="e2e_handlers:upper")
    market = requester.market
    sub = requester.submit("inference", provider.model, prompt="close it", max_price=10**16)
    assert sub.job_id in provider.step().bids
    requester_nonce = chain.nonce(addresses[REQUESTER])

    assert sub.job_id not in provider.step().started  # bidding still open: nothing happens
    assert market.job(sub.job_id).state == JobState.OPEN
    chain.advance(61)
    provider.until(lambda: market.job(sub.job_id).state == JobState.REVEALED)
    job = market.job(sub.job_id)
    assert job.provider == provider.address and job.price == DEFAULT_COST[JobType.INFERENCE]
    assert market.provider(provider.address).open_bids == 0
    assert chain.nonce(addresses[REQUESTER]) == requester_nonce  # the requester sent nothing
    provider.resources.check()
