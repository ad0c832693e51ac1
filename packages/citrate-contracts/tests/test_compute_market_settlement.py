"""ComputeMarket execution and settlement: commit-reveal, completion with the exact 95/3/2 split,
refunds, timeouts with exact slashing, and the full lifecycle's events."""

from __future__ import annotations

import pytest

from .harness import ChainUnderTest
from .test_compute_market import (
    CHALLENGE_WINDOW,
    EXEC_WINDOW,
    INPUT,
    MIN_STAKE,
    MODEL_A,
    NONCE,
    OUTPUT,
    REVEAL_WINDOW,
    SALT,
    ZERO32,
    ZERO_ADDRESS,
    Market,
    State,
    commitment,
    revert,
    split,
)


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


def test_full_lifecycle_events(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    treasury, pool = chain.treasury.address, chain.routing_pool.address
    market.register(p)
    job_id, _ = market.post(requester, max_price=2 * SALT)
    market.bid(p, job_id, SALT + 1, 1_500)
    market.assign(job_id, requester)

    c = commitment(job_id, OUTPUT, NONCE, p.address)
    receipt = market.send(market.fn.commitResult(job_id, c), p)
    assert market.events(receipt, "ResultCommitted") == [
        {"jobId": job_id, "provider": p.address, "commitment": c}
    ]
    assert market.job(job_id)["commitment"] == c
    assert market.state(job_id) == State.Committed

    receipt = market.reveal(p, job_id)
    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert market.events(receipt, "ResultRevealed") == [
        {
            "jobId": job_id,
            "provider": p.address,
            "outputHash": OUTPUT,
            "challengeDeadline": now + CHALLENGE_WINDOW,
        }
    ]
    job = market.job(job_id)
    assert (job["state"], job["outputHash"], job["challengeDeadline"]) == (
        State.Revealed,
        OUTPUT,
        now + CHALLENGE_WINDOW,
    )
    assert job["inputHash"] == INPUT

    receipt = market.send(market.fn.completeJob(job_id), requester)
    provider_amount, treasury_fee, pool_fee = split(SALT + 1)
    refund = SALT - 1
    assert market.events(receipt, "JobCompleted") == [
        {
            "jobId": job_id,
            "provider": p.address,
            "price": SALT + 1,
            "providerAmount": provider_amount,
            "treasuryFee": treasury_fee,
            "poolFee": pool_fee,
            "requesterRefund": refund,
        }
    ]
    assert market.events(receipt, "PaymentCredited") == [
        {"payee": p.address, "amount": provider_amount},
        {"payee": treasury, "amount": treasury_fee},
        {"payee": pool, "amount": pool_fee},
        {"payee": requester.address, "amount": refund},
    ]
    assert market.events(receipt, "ReputationUpdated") == [
        {"provider": p.address, "oldReputation": 5_000, "newReputation": 5_250}
    ]
    info = market.provider(p.address)
    assert (info["activeJobs"], info["jobsCompleted"], info["reputation"]) == (0, 1, 5_250)
    assert market.state(job_id) == State.Completed
    assert market.fn.totalEscrow().call() == 0
    market.assert_solvent()

    # every party collects exactly its credit
    for payee in (p.address, treasury, pool, requester.address):
        owed = market.credit(payee)
        before = chain.balance(payee)
        receipt = market.send(market.fn.withdraw(payee), chain.users[9])  # anyone may trigger it
        assert market.events(receipt, "PaymentWithdrawn") == [{"payee": payee, "amount": owed}]
        assert chain.balance(payee) == before + owed
        assert market.credit(payee) == 0
    assert chain.balance(market.address) == MIN_STAKE
    market.assert_solvent()


@pytest.mark.parametrize("price", [1, 33, 10**18 + 7, 999_999_937])
def test_exact_split_with_odd_prices(chain: ChainUnderTest, market: Market, price: int) -> None:
    requester, p = chain.users[0], chain.users[3]
    treasury, pool = chain.treasury.address, chain.routing_pool.address
    market.register(p)
    max_price = price + 1_000_003  # an unused part of the escrow is refunded
    job_id = market.revealed_job(requester, p, price=price, max_price=max_price)
    before = {a: market.credit(a) for a in (p.address, treasury, pool, requester.address)}
    market.send(market.fn.completeJob(job_id), requester)
    got = {a: market.credit(a) - before[a] for a in before}
    treasury_fee = price * 300 // 10_000
    pool_fee = price * 200 // 10_000
    assert got[treasury] == treasury_fee
    assert got[pool] == pool_fee
    assert got[p.address] == price - treasury_fee - pool_fee
    assert got[p.address] + got[treasury] + got[pool] == price
    assert got[requester.address] == max_price - price
    assert sum(got.values()) == max_price
    if price == 1:
        assert (got[p.address], got[treasury], got[pool]) == (1, 0, 0)  # dust to the provider
    if price == 33:
        assert (got[p.address], got[treasury], got[pool]) == (33, 0, 0)
    if price == 999_999_937:
        assert (got[p.address], got[treasury], got[pool]) == (949_999_941, 29_999_998, 19_999_998)
    market.assert_solvent()


def test_full_price_bid_refunds_nothing(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p, price=10_000, max_price=10_000)
    receipt = market.send(market.fn.completeJob(job_id), requester)
    (event,) = market.events(receipt, "JobCompleted")
    assert (
        event["providerAmount"],
        event["treasuryFee"],
        event["poolFee"],
        event["requesterRefund"],
    ) == (
        9_500,
        300,
        200,
        0,
    )
    assert market.credit(requester.address) == 0


# ------------------------------------------------------------------------------- commit / reveal


def test_commit_rules(chain: ChainUnderTest, market: Market) -> None:
    requester, p, q = chain.users[0], chain.users[3], chain.users[4]
    market.register(p)
    market.register(q)
    open_job, _ = market.post(requester)
    assert revert(chain, market.fn.commitResult(open_job, OUTPUT), p) == (
        "InvalidJobState",
        {"jobId": open_job, "state": State.Open},
    )
    job_id = market.assigned_job(requester, p)
    assert revert(chain, market.fn.commitResult(job_id, OUTPUT), q) == (
        "NotAssignedProvider",
        {"jobId": job_id, "caller": q.address},
    )
    assert revert(chain, market.fn.commitResult(job_id, OUTPUT), requester) == (
        "NotAssignedProvider",
        {"jobId": job_id, "caller": requester.address},
    )
    assert revert(chain, market.fn.commitResult(job_id, ZERO32), p) == ("ZeroCommitment", {})
    market.commit(p, job_id)
    assert revert(chain, market.fn.commitResult(job_id, OUTPUT), p) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Committed},
    )
    assert revert(chain, market.fn.commitResult(77, OUTPUT), p) == ("UnknownJob", {"jobId": 77})


def test_commit_after_the_execution_deadline_fails(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    deadline = market.job(job_id)["execDeadline"]
    chain.advance(EXEC_WINDOW + 1)
    assert revert(chain, market.fn.commitResult(job_id, OUTPUT), p) == (
        "ExecutionDeadlinePassed",
        {"jobId": job_id, "deadline": deadline},
    )


def test_reveal_rules(chain: ChainUnderTest, market: Market) -> None:
    requester, p, q = chain.users[0], chain.users[3], chain.users[4]
    market.register(p)
    market.register(q)
    job_id = market.assigned_job(requester, p)
    assert revert(chain, market.fn.revealResult(job_id, OUTPUT, NONCE), p) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Assigned},
    )
    market.commit(p, job_id)
    assert revert(chain, market.fn.revealResult(job_id, OUTPUT, NONCE), q) == (
        "NotAssignedProvider",
        {"jobId": job_id, "caller": q.address},
    )
    mismatch = ("CommitmentMismatch", {"jobId": job_id})
    assert revert(chain, market.fn.revealResult(job_id, OUTPUT, b"\x01" * 32), p) == mismatch
    assert revert(chain, market.fn.revealResult(job_id, b"\x02" * 32, NONCE), p) == mismatch
    assert revert(chain, market.fn.revealResult(job_id, ZERO32, NONCE), p) == ("ZeroOutputHash", {})
    market.reveal(p, job_id)
    assert revert(chain, market.fn.revealResult(job_id, OUTPUT, NONCE), p) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Revealed},
    )


def test_a_copied_commitment_cannot_be_revealed(chain: ChainUnderTest, market: Market) -> None:
    """q copies p's commitment (public in p's transaction) onto its own job: the reveal fails,
    because the commitment binds the job id and the provider."""
    requester, p, q = chain.users[0], chain.users[3], chain.users[4]
    market.register(p)
    market.register(q)
    job_p = market.assigned_job(requester, p)
    job_q = market.assigned_job(requester, q)
    copied = commitment(job_p, OUTPUT, NONCE, p.address)
    market.send(market.fn.commitResult(job_p, copied), p)
    market.send(market.fn.commitResult(job_q, copied), q)
    # even knowing p's output and nonce after p reveals
    market.reveal(p, job_p)
    assert revert(chain, market.fn.revealResult(job_q, OUTPUT, NONCE), q) == (
        "CommitmentMismatch",
        {"jobId": job_q},
    )


def test_reveal_after_the_reveal_deadline_fails(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    market.commit(p, job_id)
    deadline = market.job(job_id)["revealDeadline"]
    chain.advance(EXEC_WINDOW + REVEAL_WINDOW + 1)
    assert revert(chain, market.fn.revealResult(job_id, OUTPUT, NONCE), p) == (
        "RevealDeadlinePassed",
        {"jobId": job_id, "deadline": deadline},
    )


def test_late_commit_within_the_reveal_window_is_accepted(
    chain: ChainUnderTest, market: Market
) -> None:
    """Commit just before the execution deadline, reveal after it (inside the reveal window)."""
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    chain.advance(EXEC_WINDOW - 30)
    market.commit(p, job_id)
    chain.advance(60)
    market.reveal(p, job_id)
    assert market.state(job_id) == State.Revealed


# ------------------------------------------------------------------------------- completion


def test_complete_rules(chain: ChainUnderTest, market: Market) -> None:
    requester, p, outsider = chain.users[0], chain.users[3], chain.users[9]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    assert revert(chain, market.fn.completeJob(job_id), requester) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Assigned},
    )
    market.commit(p, job_id)
    assert revert(chain, market.fn.completeJob(job_id), requester) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Committed},
    )
    market.reveal(p, job_id)
    deadline = market.job(job_id)["challengeDeadline"]
    for caller in (outsider, p):
        assert revert(chain, market.fn.completeJob(job_id), caller) == (
            "ChallengeWindowOpen",
            {"jobId": job_id, "challengeDeadline": deadline},
        )
    chain.advance(CHALLENGE_WINDOW + 1)
    market.send(market.fn.completeJob(job_id), p)  # anyone, after the window
    # no job is paid twice
    for caller in (requester, p, outsider):
        assert revert(chain, market.fn.completeJob(job_id), caller) == (
            "InvalidJobState",
            {"jobId": job_id, "state": State.Completed},
        )
    assert revert(chain, market.fn.timeoutJob(job_id), outsider)[0] == "InvalidJobState"
    assert (
        revert(chain, market.fn.disputeResult(job_id), requester, 10 * SALT)[0] == "InvalidJobState"
    )
    market.assert_solvent()


def test_a_payee_may_send_its_credit_elsewhere(chain: ChainUnderTest, market: Market) -> None:
    """PullPayments.withdrawTo: the provider (say, a contract that cannot take ether) collects
    its pay at another address; nobody else can redirect it."""
    requester, p, cold = chain.users[0], chain.users[3], chain.users[8]
    market.register(p)
    job_id = market.revealed_job(requester, p, price=10**18 + 7, max_price=2 * SALT)
    market.send(market.fn.completeJob(job_id), requester)
    owed = split(10**18 + 7)[0]
    assert market.credit(p.address) == owed
    assert revert(chain, market.fn.withdrawTo(ZERO_ADDRESS), p) == ("ZeroPayee", {})
    # someone with nothing owed cannot take anyone else's credit
    assert revert(chain, market.fn.withdrawTo(cold.address), cold) == (
        "NothingToWithdraw",
        {"payee": cold.address},
    )
    before = chain.balance(cold.address)
    receipt = market.send(market.fn.withdrawTo(cold.address), p)
    assert market.events(receipt, "PaymentWithdrawnTo") == [
        {"payee": p.address, "to": cold.address, "amount": owed}
    ]
    assert chain.balance(cold.address) == before + owed
    assert market.credit(p.address) == 0
    assert market.credit(requester.address) == 2 * SALT - (10**18 + 7)  # untouched
    assert revert(chain, market.fn.withdrawTo(cold.address), p) == (
        "NothingToWithdraw",
        {"payee": p.address},
    )
    market.assert_solvent()


def test_reputation_rises_towards_the_maximum(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    expected = 5_000
    for _ in range(3):
        job_id = market.revealed_job(requester, p, price=100, max_price=100)
        receipt = market.send(market.fn.completeJob(job_id), requester)
        new = expected + (10_000 - expected) // 20
        assert market.events(receipt, "ReputationUpdated") == [
            {"provider": p.address, "oldReputation": expected, "newReputation": new}
        ]
        expected = new
    assert expected == 5_712
    assert market.provider(p.address)["jobsCompleted"] == 3


# ------------------------------------------------------------------------------- timeouts


def test_timeout_without_commit_slashes_exactly_and_refunds(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p, outsider = chain.users[0], chain.users[3], chain.users[9]
    stake = MIN_STAKE + 123_456_789_012_345_677  # odd: the slash rounds down
    market.register(p, stake=stake)
    job_id = market.assigned_job(requester, p, price=SALT // 3, max_price=SALT)
    deadline = market.job(job_id)["execDeadline"]
    assert revert(chain, market.fn.timeoutJob(job_id), outsider) == (
        "DeadlineNotReached",
        {"jobId": job_id, "deadline": deadline},
    )
    chain.advance(EXEC_WINDOW + 1)
    receipt = market.send(market.fn.timeoutJob(job_id), outsider)
    slash = stake * 500 // 10_000
    assert market.events(receipt, "ProviderSlashed") == [
        {
            "provider": p.address,
            "jobId": job_id,
            "beneficiary": requester.address,
            "amount": slash,
            "newStake": stake - slash,
        }
    ]
    assert market.events(receipt, "JobTimedOut") == [
        {"jobId": job_id, "provider": p.address, "slashed": slash, "requesterRefund": SALT}
    ]
    assert market.events(receipt, "ReputationUpdated") == [
        {"provider": p.address, "oldReputation": 5_000, "newReputation": 4_000}
    ]
    assert market.credit(requester.address) == SALT + slash
    assert market.credit(outsider.address) == 0
    info = market.provider(p.address)
    assert (info["stake"], info["activeJobs"], info["jobsTimedOut"]) == (stake - slash, 0, 1)
    assert market.fn.totalStaked().call() == stake - slash
    assert market.state(job_id) == State.TimedOut
    assert revert(chain, market.fn.timeoutJob(job_id), outsider) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.TimedOut},
    )
    market.assert_solvent()


def test_timeout_after_commit_without_reveal(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    market.commit(p, job_id)
    chain.advance(EXEC_WINDOW + 1)  # past the commit deadline, inside the reveal window
    deadline = market.job(job_id)["revealDeadline"]
    assert revert(chain, market.fn.timeoutJob(job_id), requester) == (
        "DeadlineNotReached",
        {"jobId": job_id, "deadline": deadline},
    )
    chain.advance(REVEAL_WINDOW)
    receipt = market.send(market.fn.timeoutJob(job_id), requester)
    assert market.events(receipt, "JobTimedOut")[0]["slashed"] == MIN_STAKE // 20


def test_timeout_only_for_running_jobs(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    open_job, _ = market.post(requester)
    revealed = market.revealed_job(requester, p)
    chain.advance(EXEC_WINDOW + REVEAL_WINDOW + CHALLENGE_WINDOW + 1)
    assert revert(chain, market.fn.timeoutJob(open_job), requester) == (
        "InvalidJobState",
        {"jobId": open_job, "state": State.Open},
    )
    assert revert(chain, market.fn.timeoutJob(revealed), requester) == (
        "InvalidJobState",
        {"jobId": revealed, "state": State.Revealed},
    )
    assert revert(chain, market.fn.timeoutJob(1234), requester) == ("UnknownJob", {"jobId": 1234})


def test_repeated_timeouts_compound_on_the_remaining_stake(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, max_jobs=3)
    jobs = [market.assigned_job(requester, p, price=1_000, max_price=1_000) for _ in range(3)]
    assert market.provider(p.address)["activeJobs"] == 3
    chain.advance(EXEC_WINDOW + 1)
    stake, reputation = MIN_STAKE, 5_000
    for job_id in jobs:
        receipt = market.send(market.fn.timeoutJob(job_id), requester)
        slash = stake * 500 // 10_000
        assert market.events(receipt, "JobTimedOut")[0]["slashed"] == slash
        stake -= slash
        reputation -= reputation // 5
    info = market.provider(p.address)
    assert (info["stake"], info["reputation"], info["activeJobs"]) == (stake, reputation, 0)
    assert market.credit(requester.address) == 3 * 1_000 + MIN_STAKE - stake
    market.assert_solvent()


def test_slash_rate_is_fixed_when_the_job_is_posted(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    market.send(market.fn.setSlashRates(5_000, 5_000), chain.admin)
    later = market.assigned_job(requester, p)
    assert market.job(later)["timeoutSlashBps"] == 5_000
    chain.advance(EXEC_WINDOW + 1)
    receipt = market.send(market.fn.timeoutJob(job_id), requester)
    assert market.events(receipt, "JobTimedOut")[0]["slashed"] == MIN_STAKE * 500 // 10_000
    remaining = market.provider(p.address)["stake"]
    receipt = market.send(market.fn.timeoutJob(later), requester)
    assert market.events(receipt, "JobTimedOut")[0]["slashed"] == remaining // 2


def test_provider_models_unchanged_by_settlement(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    market.send(market.fn.completeJob(job_id), requester)
    assert market.fn.getProviderModels(p.address).call() == [MODEL_A]
