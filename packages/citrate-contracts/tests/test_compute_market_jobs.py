"""ComputeMarket jobs before execution: posting, bidding, scoring, assignment, cancellation."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from .harness import ChainUnderTest
from .test_compute_market import (
    BID_WINDOW,
    CHALLENGE_WINDOW,
    EXEC_WINDOW,
    INPUT,
    MIN_STAKE,
    MODEL_A,
    MODEL_B,
    REVEAL_WINDOW,
    SALT,
    ZERO32,
    JobType,
    Market,
    State,
    revert,
)


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


def score(
    *,
    max_price: int,
    price: int,
    reputation: int = 5_000,
    max_jobs: int = 4,
    active: int = 0,
    exec_window: int = EXEC_WINDOW,
    latency: int = 1_000,
) -> int:
    """The contract's documented bid score."""
    price_score = (max_price - price) * 10_000 // max_price
    load_score = (max_jobs - active) * 10_000 // max_jobs if active < max_jobs else 0
    window_ms = exec_window * 1000
    latency_score = (window_ms - latency) * 10_000 // window_ms
    return 40 * price_score + 30 * reputation + 20 * load_score + 10 * latency_score


# ------------------------------------------------------------------------------- posting


def test_post_job_escrows_and_emits_everything_a_watcher_needs(
    chain: ChainUnderTest, market: Market
) -> None:
    requester = chain.users[0]
    before = chain.balance(requester.address)
    job_id, receipt = market.post(
        requester,
        job_type=JobType.Image,
        model=MODEL_B,
        max_price=3 * SALT + 1,
        bid_window=45,
        exec_window=900,
        tier=2,
    )
    assert job_id == 1
    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert market.events(receipt, "JobPosted") == [
        {
            "jobId": 1,
            "requester": requester.address,
            "modelId": MODEL_B,
            "jobType": JobType.Image,
            "inputHash": INPUT,
            "maxPrice": 3 * SALT + 1,
            "bidDeadline": now + 45,
            "execWindow": 900,
            "verificationTier": 2,
        }
    ]
    assert chain.balance(requester.address) == before - 3 * SALT - 1 - chain.gas_cost(receipt)
    job = market.job(1)
    assert job["requester"] == requester.address
    assert job["state"] == State.Open
    assert (job["jobType"], job["verificationTier"], job["modelId"], job["inputHash"]) == (
        JobType.Image,
        2,
        MODEL_B,
        INPUT,
    )
    assert (job["maxPrice"], job["price"], job["postedAt"], job["bidDeadline"]) == (
        3 * SALT + 1,
        0,
        now,
        now + 45,
    )
    # the terms in force when posted
    assert (job["timeoutSlashBps"], job["wrongResultSlashBps"]) == (500, 1_000)
    assert (job["execWindow"], job["revealWindow"], job["challengeWindow"]) == (
        900,
        REVEAL_WINDOW,
        CHALLENGE_WINDOW,
    )
    assert job["provider"] == "0x" + "00" * 20
    assert market.fn.jobCount().call() == 1
    assert market.fn.totalEscrow().call() == 3 * SALT + 1
    market.assert_solvent()


def test_post_job_refunds_the_excess(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[0]
    before = chain.balance(requester.address)
    _, receipt = market.post(requester, value=5 * SALT + 3, max_price=2 * SALT)
    assert chain.balance(requester.address) == before - 2 * SALT - chain.gas_cost(receipt)
    assert market.fn.totalEscrow().call() == 2 * SALT
    assert market.credit(requester.address) == 0
    assert chain.balance(market.address) == 2 * SALT


@pytest.mark.parametrize(
    ("spec", "value", "error", "args"),
    [
        ({"job_type": 5}, None, "InvalidJobType", {"jobType": 5}),
        ({"job_type": 255}, None, "InvalidJobType", {"jobType": 255}),
        ({"model": ZERO32}, None, "ZeroModelId", {}),
        ({"input_hash": ZERO32}, None, "ZeroInputHash", {}),
        ({"max_price": 0}, None, "ZeroMaxPrice", {}),
        ({"bid_window": 29}, None, "WindowOutOfRange", {"given": 29, "min": 30, "max": 86_400}),
        (
            {"bid_window": 86_401},
            None,
            "WindowOutOfRange",
            {"given": 86_401, "min": 30, "max": 86_400},
        ),
        ({"exec_window": 59}, None, "WindowOutOfRange", {"given": 59, "min": 60, "max": 604_800}),
        (
            {"exec_window": 604_801},
            None,
            "WindowOutOfRange",
            {"given": 604_801, "min": 60, "max": 604_800},
        ),
        (
            {"exec_window": 2**32 - 1},
            None,
            "WindowOutOfRange",
            {"given": 2**32 - 1, "min": 60, "max": 604_800},
        ),
        ({"tier": 3}, None, "InvalidVerificationTier", {"tier": 3, "max": 2}),
        ({"max_price": SALT}, SALT - 1, "InsufficientEscrow", {"required": SALT, "sent": SALT - 1}),
        ({"max_price": SALT}, 0, "InsufficientEscrow", {"required": SALT, "sent": 0}),
    ],
)
def test_post_job_rejects_bad_input(
    chain: ChainUnderTest, market: Market, spec: dict, value: int | None, error: str, args: dict
) -> None:
    s = market.spec(**spec)
    assert revert(
        chain, market.fn.postJob(s), chain.users[0], s[3] if value is None else value
    ) == (error, args)


def test_post_job_window_bounds_are_inclusive(chain: ChainUnderTest, market: Market) -> None:
    market.post(chain.users[0], bid_window=30, exec_window=60)
    market.post(chain.users[0], bid_window=86_400, exec_window=604_800)
    assert market.fn.jobCount().call() == 2


def test_post_job_error_message(chain: ChainUnderTest, market: Market) -> None:
    err = chain.revert_of(market.fn.postJob(market.spec(max_price=100)), chain.users[0], 99)
    assert err.message == (
        "InsufficientEscrow: The payment does not cover the job's maxPrice; send at least 100 wei."
    )


# ------------------------------------------------------------------------------- bidding


def test_bid_records_and_emits_the_score(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, max_jobs=5)
    job_id, _ = market.post(requester, max_price=1_000)
    receipt = market.bid(p, job_id, 250, 42_000)
    expected = score(max_price=1_000, price=250, max_jobs=5, latency=42_000)
    assert expected == 40 * 7_500 + 30 * 5_000 + 20 * 10_000 + 10 * 9_300
    assert market.events(receipt, "BidPlaced") == [
        {
            "jobId": job_id,
            "provider": p.address,
            "price": 250,
            "estimatedLatencyMs": 42_000,
            "score": expected,
            "replaced": False,
        }
    ]
    assert market.bids(job_id) == [
        {"provider": p.address, "estimatedLatencyMs": 42_000, "score": expected, "price": 250}
    ]
    assert market.fn.scoreBid(job_id, p.address, 250, 42_000).call() == expected


def test_bidding_again_replaces_the_bid(chain: ChainUnderTest, market: Market) -> None:
    requester, p, q = chain.users[0], chain.users[3], chain.users[4]
    market.register(p)
    market.register(q)
    job_id, _ = market.post(requester, max_price=1_000)
    market.bid(p, job_id, 900)
    market.bid(q, job_id, 800)
    receipt = market.bid(p, job_id, 700, 5)
    (event,) = market.events(receipt, "BidPlaced")
    assert event["replaced"] is True
    bids = market.bids(job_id)
    assert [(b["provider"], b["price"], b["estimatedLatencyMs"]) for b in bids] == [
        (p.address, 700, 5),
        (q.address, 800, 1_000),
    ]


def test_bid_bounds_on_price_and_latency(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester, max_price=1_000, exec_window=60)
    assert revert(chain, market.fn.bid(job_id, 0, 1), p) == (
        "BidPriceOutOfRange",
        {"price": 0, "maxPrice": 1_000},
    )
    assert revert(chain, market.fn.bid(job_id, 1_001, 1), p) == (
        "BidPriceOutOfRange",
        {"price": 1_001, "maxPrice": 1_000},
    )
    assert revert(chain, market.fn.bid(job_id, 1, 60_001), p) == (
        "LatencyTooHigh",
        {"latencyMs": 60_001, "maxLatencyMs": 60_000},
    )
    # the extremes are accepted: a full-price bid, the whole window as latency
    receipt = market.bid(p, job_id, 1_000, 60_000)
    (event,) = market.events(receipt, "BidPlaced")
    assert event["score"] == 30 * 5_000 + 20 * 10_000


def test_bid_eligibility(chain: ChainUnderTest, market: Market) -> None:
    requester, p, outsider = chain.users[0], chain.users[3], chain.users[9]
    market.register(p, job_types=1 << JobType.Inference, models=(MODEL_A,), max_jobs=1)
    job_id, _ = market.post(requester)
    assert revert(chain, market.fn.bid(job_id, SALT, 1), outsider) == (
        "NotRegistered",
        {"provider": outsider.address},
    )
    other_type, _ = market.post(requester, job_type=JobType.Embedding)
    assert revert(chain, market.fn.bid(other_type, SALT, 1), p) == (
        "UnsupportedJob",
        {"provider": p.address, "jobType": JobType.Embedding, "modelId": MODEL_A},
    )
    other_model, _ = market.post(requester, model=MODEL_B)
    assert revert(chain, market.fn.bid(other_model, SALT, 1), p) == (
        "UnsupportedJob",
        {"provider": p.address, "jobType": JobType.Inference, "modelId": MODEL_B},
    )
    # capacity: one job at a time, and an open bid holds the one slot too
    market.bid(p, job_id, SALT)
    busy, _ = market.post(requester)
    assert revert(chain, market.fn.bid(busy, SALT, 1), p) == (
        "ProviderAtCapacity",
        {"provider": p.address, "activeJobs": 0, "openBids": 1, "maxConcurrentJobs": 1},
    )
    market.assign(job_id, requester)
    assert revert(chain, market.fn.bid(busy, SALT, 1), p) == (
        "ProviderAtCapacity",
        {"provider": p.address, "activeJobs": 1, "openBids": 0, "maxConcurrentJobs": 1},
    )


def test_requester_cannot_bid_on_its_own_job(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[3]
    market.register(requester)
    job_id, _ = market.post(requester)
    assert revert(chain, market.fn.bid(job_id, SALT, 1), requester) == ("SelfDealing", {})


def test_bid_state_and_window(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    assert revert(chain, market.fn.bid(99, SALT, 1), p) == ("UnknownJob", {"jobId": 99})
    job_id, _ = market.post(requester)
    deadline = market.job(job_id)["bidDeadline"]
    chain.advance(BID_WINDOW + 1)
    assert revert(chain, market.fn.bid(job_id, SALT, 1), p) == (
        "BiddingClosed",
        {"jobId": job_id, "bidDeadline": deadline},
    )
    cancelled, _ = market.post(requester)
    market.send(market.fn.cancelJob(cancelled), requester)
    assert revert(chain, market.fn.bid(cancelled, SALT, 1), p) == (
        "InvalidJobState",
        {"jobId": cancelled, "state": State.Cancelled},
    )


def _fresh_providers(chain: ChainUnderTest, market: Market, n: int) -> list[LocalAccount]:
    accounts = [Account.from_key(keccak(text=f"compute-market-provider-{i}")) for i in range(n)]
    funders = chain.users[0:3]
    for i, acct in enumerate(accounts):
        chain.transfer(funders[i % 3], acct.address, MIN_STAKE + SALT)
        market.register(acct)
    return accounts


def test_a_full_bid_list_evicts_the_lowest_score(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[9]
    providers = [*chain.users[3:9], *_fresh_providers(chain, market, 11)]
    for who in chain.users[3:9]:
        market.register(who)
    job_id, _ = market.post(requester, max_price=10_000)
    for i, who in enumerate(providers[:16]):
        market.bid(who, job_id, 9_000 + i)  # later bidders ask more: lower scores
    assert len(market.bids(job_id)) == 16
    lowest = providers[15]
    challenger = providers[16]
    lowest_score = score(max_price=10_000, price=9_015)
    # equal to the lowest score is not enough
    assert revert(chain, market.fn.bid(job_id, 9_015, 1_000), challenger) == (
        "BidNotCompetitive",
        {"score": lowest_score, "lowestScore": lowest_score},
    )
    receipt = market.bid(challenger, job_id, 5_000)
    assert market.events(receipt, "BidEvicted") == [
        {"jobId": job_id, "provider": lowest.address, "ineligible": False}
    ]
    bids = market.bids(job_id)
    assert len(bids) == 16
    assert bids[15]["provider"] == challenger.address
    assert lowest.address not in {b["provider"] for b in bids}
    # the evicted bid no longer holds a slot or locks the stake
    assert market.provider(lowest.address)["openBids"] == 0
    assert market.provider(challenger.address)["openBids"] == 1
    # the evicted provider may come back with a better bid, which evicts the next lowest (9_014)
    receipt = market.bid(lowest, job_id, 4_000)
    assert market.events(receipt, "BidEvicted") == [
        {"jobId": job_id, "provider": providers[14].address, "ineligible": False}
    ]
    assert market.events(receipt, "BidPlaced")[0]["replaced"] is False
    market.assign(job_id, requester)
    assert market.job(job_id)["provider"] == lowest.address


# ------------------------------------------------------------------------------- assignment


def test_assign_picks_the_best_score_and_emits(chain: ChainUnderTest, market: Market) -> None:
    requester, cheap, dear = chain.users[0], chain.users[3], chain.users[4]
    market.register(cheap)
    market.register(dear)
    job_id, _ = market.post(requester, max_price=1_000)
    market.bid(dear, job_id, 900, 10)
    market.bid(cheap, job_id, 500, 100_000)
    assert revert(chain, market.fn.assignBestBid(job_id), chain.users[9]) == (
        "BiddingNotOver",
        {"jobId": job_id, "bidDeadline": market.job(job_id)["bidDeadline"]},
    )
    chain.advance(BID_WINDOW + 1)
    receipt = market.assign(job_id)  # anyone, after the window
    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    expected = score(max_price=1_000, price=500, latency=100_000)
    assert market.events(receipt, "JobAssigned") == [
        {
            "jobId": job_id,
            "provider": cheap.address,
            "price": 500,
            "score": expected,
            "execDeadline": now + EXEC_WINDOW,
            "revealDeadline": now + EXEC_WINDOW + REVEAL_WINDOW,
        }
    ]
    job = market.job(job_id)
    assert (job["state"], job["provider"], job["price"]) == (State.Assigned, cheap.address, 500)
    assert (job["execDeadline"], job["revealDeadline"]) == (
        now + EXEC_WINDOW,
        now + EXEC_WINDOW + REVEAL_WINDOW,
    )
    assert market.provider(cheap.address)["activeJobs"] == 1
    assert market.provider(dear.address)["activeJobs"] == 0
    assert market.fn.getOpenJobs(0, 10).call() == [[], 0]
    assert market.fn.getProviderJobs(cheap.address, 0, 10).call() == [[job_id], 1]
    assert market.fn.totalEscrow().call() == 1_000  # the whole escrow stays until the end
    assert revert(chain, market.fn.assignBestBid(job_id), requester) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Assigned},
    )


def test_reputation_and_load_count_at_assignment(chain: ChainUnderTest, market: Market) -> None:
    requester, busy, idle = chain.users[0], chain.users[3], chain.users[4]
    market.register(busy, max_jobs=2)
    market.register(idle, max_jobs=2)
    market.assigned_job(requester, busy)  # busy now runs 1 of 2 jobs
    job_id, _ = market.post(requester, max_price=1_000)
    # equal bids: the idle provider has the better load score (10000 vs 5000)
    market.bid(busy, job_id, 600)
    market.bid(idle, job_id, 600)
    assert market.fn.scoreBid(job_id, busy.address, 600, 1_000).call() == score(
        max_price=1_000,
        price=600,
        max_jobs=2,
        active=1,
    )
    receipt = market.assign(job_id, requester)
    (event,) = market.events(receipt, "JobAssigned")
    assert event["provider"] == idle.address
    assert event["score"] == score(max_price=1_000, price=600, max_jobs=2)


def test_assign_recomputes_scores_with_current_state(chain: ChainUnderTest, market: Market) -> None:
    """A provider's load grows after it bid: the assignment sees the new load."""
    requester, a, b = chain.users[0], chain.users[3], chain.users[4]
    market.register(a, max_jobs=2)
    market.register(b, max_jobs=2)
    job_id, _ = market.post(requester, max_price=1_000)
    market.bid(a, job_id, 590)  # slightly better than b at bid time
    market.bid(b, job_id, 600)
    assert market.bids(job_id)[0]["score"] > market.bids(job_id)[1]["score"]
    market.assigned_job(requester, a)  # a's load halves its load score
    receipt = market.assign(job_id, requester)
    assert market.events(receipt, "JobAssigned")[0]["provider"] == b.address


def test_ties_go_to_the_lower_price_then_the_earlier_bid(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, a, b, c = chain.users[0], chain.users[3], chain.users[4], chain.users[5]
    for who in (a, b, c):
        market.register(who)
    # identical bids: the earliest slot wins
    job_id, _ = market.post(requester, max_price=1_000)
    market.bid(b, job_id, 500)
    market.bid(a, job_id, 500)
    assert (
        market.events(market.assign(job_id, requester), "JobAssigned")[0]["provider"] == b.address
    )
    # equal scores, different prices: 1 wei less (400 points) offset by 2.4 s more latency
    job_id, _ = market.post(requester, max_price=1_000)
    s_a = score(max_price=1_000, price=501, latency=1_000)
    s_c = score(max_price=1_000, price=500, latency=3_400)
    assert s_a == s_c
    market.bid(a, job_id, 501, 1_000)
    market.bid(c, job_id, 500, 3_400)
    assert (
        market.events(market.assign(job_id, requester), "JobAssigned")[0]["provider"] == c.address
    )


def test_requester_may_assign_early_but_not_without_bids(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester)
    assert revert(chain, market.fn.assignBestBid(job_id), requester) == (
        "NoEligibleBid",
        {"jobId": job_id},
    )
    market.bid(p, job_id, SALT)
    market.assign(job_id, requester)
    assert market.state(job_id) == State.Assigned


def test_no_bids_after_the_window_expires_the_job(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[0]
    job_id, _ = market.post(requester, max_price=777)
    chain.advance(BID_WINDOW + 1)
    receipt = market.assign(job_id)
    assert market.events(receipt, "JobExpired") == [
        {"jobId": job_id, "requester": requester.address, "refund": 777}
    ]
    assert market.events(receipt, "PaymentCredited") == [
        {"payee": requester.address, "amount": 777}
    ]
    assert market.state(job_id) == State.Expired
    assert market.credit(requester.address) == 777
    assert market.fn.totalEscrow().call() == 0
    assert market.fn.getOpenJobs(0, 10).call() == [[], 0]
    assert revert(chain, market.fn.assignBestBid(job_id), requester) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Expired},
    )
    market.assert_solvent()


def test_bids_from_providers_slashed_since_are_skipped(
    chain: ChainUnderTest, market: Market
) -> None:
    """Open bids lock stake and service, so the one way a bid goes stale is a slash that drops
    its provider's stake below the minimum (a timeout on another job)."""
    requester, a, b = chain.users[0], chain.users[3], chain.users[4]
    market.register(a)  # exactly the minimum
    market.register(b)
    running = market.assigned_job(requester, a)
    first, _ = market.post(requester, max_price=1_000, bid_window=EXEC_WINDOW + 60)
    second, _ = market.post(requester, max_price=1_000, bid_window=EXEC_WINDOW + 60)
    market.bid(a, first, 100)
    market.bid(b, first, 900)
    market.bid(a, second, 100)
    chain.advance(EXEC_WINDOW + 1)
    market.send(market.fn.timeoutJob(running), requester)  # a's stake falls below the minimum
    assert market.provider(a.address)["stake"] < MIN_STAKE
    # a's better bid is skipped
    receipt = market.assign(first, requester)
    assert market.events(receipt, "JobAssigned")[0]["provider"] == b.address
    # and a job whose only bidder can no longer take it expires once bidding is over
    assert revert(chain, market.fn.assignBestBid(second), requester) == (
        "NoEligibleBid",
        {"jobId": second},
    )
    chain.advance(60)
    receipt = market.assign(second)
    assert market.events(receipt, "JobExpired")[0]["refund"] == 1_000
    assert market.provider(a.address)["openBids"] == 0


def test_stale_jobs_expire_even_with_bids(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester)
    market.bid(p, job_id, SALT)
    chain.advance(BID_WINDOW + 3_600 + 1)
    receipt = market.assign(job_id, requester)
    assert market.events(receipt, "JobExpired") == [
        {"jobId": job_id, "requester": requester.address, "refund": SALT}
    ]
    info = market.provider(p.address)
    assert (info["activeJobs"], info["openBids"]) == (0, 0)


# ------------------------------------------------------------------------------- open bids


def test_sybil_bids_cannot_fill_a_job_and_walk_away(chain: ChainUnderTest, market: Market) -> None:
    """Audit H-1: sixteen fresh providers take every slot of a job with 1-wei, 0-ms bids, then
    try to withdraw their stake or stop serving the job so that every stored bid is ineligible
    and the job expires. Open bids lock stake and service, so the job goes to one of them, which
    must run it (or be slashed), and the others are free again only once it is assigned."""
    requester, honest = chain.users[0], chain.users[3]
    market.register(honest)
    sybils = _fresh_providers(chain, market, 16)
    job_id, _ = market.post(requester, max_price=10_000)
    for who in sybils:
        market.bid(who, job_id, 1, 0)
    assert revert(chain, market.fn.bid(job_id, 5_000, 1_000), honest)[0] == "BidNotCompetitive"
    for who in sybils:
        for amount in (MIN_STAKE, 1):
            assert revert(chain, market.fn.withdrawStake(amount), who) == (
                "StakeLocked",
                {"provider": who.address, "activeJobs": 0, "openBids": 1},
            )
        assert revert(chain, market.fn.updateProvider((1, False, 4, [MODEL_B])), who) == (
            "ServiceLockedByBids",
            {"provider": who.address, "openBids": 1},
        )
        assert market.provider(who.address)["openBids"] == 1
    err = chain.revert_of(market.fn.withdrawStake(MIN_STAKE), sybils[0])
    assert err.message.startswith(
        "StakeLocked: Stake cannot be withdrawn while the provider has 0 active jobs or 1 open bids"
    )
    chain.advance(BID_WINDOW + 1)
    receipt = market.assign(job_id)
    (event,) = market.events(receipt, "JobAssigned")
    assert (event["provider"], event["price"]) == (sybils[0].address, 1)  # ties: earliest slot
    assert market.events(receipt, "JobExpired") == []
    winner = market.provider(sybils[0].address)
    assert (winner["activeJobs"], winner["openBids"]) == (1, 0)
    assert revert(chain, market.fn.withdrawStake(MIN_STAKE), sybils[0]) == (
        "StakeLocked",
        {"provider": sybils[0].address, "activeJobs": 1, "openBids": 0},
    )
    # the losing bids ended with the assignment
    for who in sybils[1:]:
        assert market.provider(who.address)["openBids"] == 0
    market.send(market.fn.withdrawStake(MIN_STAKE), sybils[1])
    market.send(market.fn.updateProvider((1, False, 4, [MODEL_B])), sybils[2])
    market.assert_solvent()


def test_a_full_bid_list_first_evicts_a_bid_that_can_no_longer_win(
    chain: ChainUnderTest, market: Market
) -> None:
    """Audit H-1 (b): a full list holding a bid whose provider can no longer take the job takes
    a new bid in that bid's place, whatever the scores."""
    requester, fallen, rival = chain.users[9], chain.users[3], chain.users[4]
    market.register(fallen)  # exactly the minimum: one timeout slash drops it below
    market.register(rival)
    running = market.assigned_job(chain.users[0], fallen)
    job_id, _ = market.post(requester, max_price=10_000, bid_window=3_600)
    market.bid(fallen, job_id, 1_000)  # the best bid on the list
    others = _fresh_providers(chain, market, 16)
    for i, who in enumerate(others[:15]):
        market.bid(who, job_id, 9_000 + i)
    chain.advance(EXEC_WINDOW + 1)
    market.send(market.fn.timeoutJob(running), chain.users[0])
    assert market.provider(fallen.address)["stake"] < MIN_STAKE
    assert market.bids(job_id)[0]["provider"] == fallen.address

    latecomer = others[15]
    assert market.fn.scoreBid(job_id, latecomer.address, 9_999, 1_000).call() < min(
        b["score"] for b in market.bids(job_id)
    )
    receipt = market.bid(latecomer, job_id, 9_999)
    assert market.events(receipt, "BidEvicted") == [
        {"jobId": job_id, "provider": fallen.address, "ineligible": True}
    ]
    bids = market.bids(job_id)
    assert (len(bids), bids[0]["provider"]) == (16, latecomer.address)
    assert market.provider(fallen.address)["openBids"] == 0
    # with no dead bid left, the lowest score is what a new bid must beat again
    lowest = score(max_price=10_000, price=9_999)
    assert revert(chain, market.fn.bid(job_id, 9_999, 1_000), rival) == (
        "BidNotCompetitive",
        {"score": lowest, "lowestScore": lowest},
    )
    # the slashed provider, no longer bidding, may take what is left of its stake
    left = market.provider(fallen.address)["stake"]
    market.send(market.fn.withdrawStake(left), fallen)
    market.assert_solvent()


def test_open_bids_reserve_capacity_until_their_job_leaves_open(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, max_jobs=2)
    a, _ = market.post(requester)
    b, _ = market.post(requester)
    c, _ = market.post(requester, bid_window=600)
    market.bid(p, a, SALT)
    market.bid(p, b, SALT)
    assert revert(chain, market.fn.bid(c, SALT, 1), p) == (
        "ProviderAtCapacity",
        {"provider": p.address, "activeJobs": 0, "openBids": 2, "maxConcurrentJobs": 2},
    )
    market.bid(p, a, SALT // 2)  # replacing a bid needs no new slot
    assert market.provider(p.address)["openBids"] == 2
    market.send(market.fn.cancelJob(a), requester)  # a cancelled job's bids end
    assert market.provider(p.address)["openBids"] == 1
    market.bid(p, c, SALT)
    market.assign(b, requester)  # the winning bid becomes an active job
    info = market.provider(p.address)
    assert (info["activeJobs"], info["openBids"]) == (1, 1)
    d, _ = market.post(requester)
    assert revert(chain, market.fn.bid(d, SALT, 1), p) == (
        "ProviderAtCapacity",
        {"provider": p.address, "activeJobs": 1, "openBids": 1, "maxConcurrentJobs": 2},
    )
    # an expired job's bids end too
    chain.advance(600 + 3_600 + 1)
    assert market.events(market.assign(c), "JobExpired")[0]["jobId"] == c
    assert market.provider(p.address)["openBids"] == 0


def test_bids_end_when_their_job_expires_even_while_paused(
    chain: ChainUnderTest, market: Market
) -> None:
    """A pause never traps a bidder's stake: once ASSIGN_WINDOW has passed, the bidder itself may
    expire the job, which ends its bid."""
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester)
    market.bid(p, job_id, SALT)
    market.send(market.fn.pause(), chain.admin)
    chain.advance(BID_WINDOW + 1)
    assert revert(chain, market.fn.assignBestBid(job_id), p) == ("MarketPaused", {})
    assert revert(chain, market.fn.withdrawStake(MIN_STAKE), p)[0] == "StakeLocked"
    chain.advance(3_600)
    receipt = market.send(market.fn.assignBestBid(job_id), p)
    assert market.events(receipt, "JobExpired") == [
        {"jobId": job_id, "requester": requester.address, "refund": SALT}
    ]
    assert market.provider(p.address)["openBids"] == 0
    market.send(market.fn.withdrawStake(MIN_STAKE), p)
    market.assert_solvent()


# ------------------------------------------------------------------------------- cancellation


def test_cancel_job(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester, max_price=12_345)
    market.bid(p, job_id, 100)
    assert revert(chain, market.fn.cancelJob(job_id), p) == (
        "NotRequester",
        {"jobId": job_id, "caller": p.address},
    )
    receipt = market.send(market.fn.cancelJob(job_id), requester)
    assert market.events(receipt, "JobCancelled") == [
        {"jobId": job_id, "requester": requester.address, "refund": 12_345}
    ]
    assert market.state(job_id) == State.Cancelled
    assert market.credit(requester.address) == 12_345
    assert revert(chain, market.fn.cancelJob(job_id), requester) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Cancelled},
    )
    assert revert(chain, market.fn.cancelJob(42), requester) == ("UnknownJob", {"jobId": 42})
    # an assigned job can no longer be cancelled
    assigned = market.assigned_job(requester, p)
    assert revert(chain, market.fn.cancelJob(assigned), requester) == (
        "InvalidJobState",
        {"jobId": assigned, "state": State.Assigned},
    )
    before = chain.balance(requester.address)
    receipt = market.send(market.fn.withdraw(requester.address), requester)
    assert chain.balance(requester.address) == before + 12_345 - chain.gas_cost(receipt)
    market.assert_solvent()
