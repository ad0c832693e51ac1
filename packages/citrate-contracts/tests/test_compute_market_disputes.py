"""ComputeMarket disputes (who may open one, both rulings, arbiter silence), admin setters,
pause, and access-control negatives."""

from __future__ import annotations

import pytest

from .harness import ChainUnderTest
from .test_compute_market import (
    ADMIN_ROLE,
    ALL_TYPES,
    ARBITER_ROLE,
    ARBITRATION_WINDOW,
    BID_WINDOW,
    CHALLENGE_WINDOW,
    DISPUTE_BOND,
    EXEC_WINDOW,
    MIN_STAKE,
    MODEL_A,
    SALT,
    VERIFIER_ROLE,
    ZERO_ADDRESS,
    Market,
    State,
    revert,
    split,
)


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


def _verifier(market: Market, who) -> None:
    market.send(market.fn.grantRole(VERIFIER_ROLE, who.address), market.chain.admin)


def _dispute(market: Market, job_id: int, who) -> dict:
    receipt = market.send(market.fn.disputeResult(job_id), who, DISPUTE_BOND)
    (event,) = market.events(receipt, "DisputeOpened")
    return event


# ------------------------------------------------------------------------------- opening


def test_requester_opens_a_dispute(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    receipt = market.send(market.fn.disputeResult(job_id), requester, DISPUTE_BOND)
    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert market.events(receipt, "DisputeOpened") == [
        {
            "jobId": job_id,
            "disputer": requester.address,
            "bond": DISPUTE_BOND,
            "arbitrationDeadline": now + ARBITRATION_WINDOW,
        }
    ]
    job = market.job(job_id)
    assert (job["state"], job["disputer"], job["arbitrationDeadline"]) == (
        State.Disputed,
        requester.address,
        now + ARBITRATION_WINDOW,
    )
    assert market.fn.totalBonds().call() == DISPUTE_BOND
    market.assert_solvent()
    # a disputed job cannot complete, time out or be disputed again
    chain.advance(CHALLENGE_WINDOW + 1)
    for fn, value in (
        (market.fn.completeJob(job_id), 0),
        (market.fn.timeoutJob(job_id), 0),
        (market.fn.disputeResult(job_id), DISPUTE_BOND),
    ):
        assert revert(chain, fn, requester, value) == (
            "InvalidJobState",
            {"jobId": job_id, "state": State.Disputed},
        )


def test_dispute_bond_must_be_exact(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    for sent in (0, DISPUTE_BOND - 1, DISPUTE_BOND + 1):
        assert revert(chain, market.fn.disputeResult(job_id), requester, sent) == (
            "WrongDisputeBond",
            {"required": DISPUTE_BOND, "sent": sent},
        )
    err = chain.revert_of(market.fn.disputeResult(job_id), requester, 1)
    assert err.message == f"WrongDisputeBond: A dispute needs a bond of exactly {DISPUTE_BOND} wei."


def test_who_may_dispute(chain: ChainUnderTest, market: Market) -> None:
    """Audit: only the requester and VERIFIER_ROLE holders dispute. A rival provider, however
    well staked, could otherwise hold any provider's payment hostage for the bond."""
    requester, p, rival, verifier, outsider = (
        chain.users[0],
        chain.users[3],
        chain.users[4],
        chain.users[5],
        chain.users[9],
    )
    market.register(p)
    market.register(rival)  # an active provider, serving the same model
    _verifier(market, verifier)  # verifiers need no stake of their own here
    _verifier(market, p)  # a verifier may not dispute its own job
    job_id = market.revealed_job(requester, p)
    for who in (rival, p, outsider, chain.admin):
        assert revert(chain, market.fn.disputeResult(job_id), who, DISPUTE_BOND) == (
            "NotAuthorizedDisputer",
            {"jobId": job_id, "caller": who.address},
        )
    err = chain.revert_of(market.fn.disputeResult(job_id), rival, DISPUTE_BOND)
    assert err.message == (
        f"NotAuthorizedDisputer: Only the requester of job {job_id} or a VERIFIER_ROLE holder "
        "other than its provider may dispute it."
    )
    event = _dispute(market, job_id, verifier)
    assert event["disputer"] == verifier.address
    # the requester may always dispute its own job
    other = market.revealed_job(requester, p)
    assert _dispute(market, other, requester)["disputer"] == requester.address


def test_only_the_admin_grants_the_verifier_role(chain: ChainUnderTest, market: Market) -> None:
    requester, p, verifier = chain.users[0], chain.users[3], chain.users[4]
    chain.assert_needs_role(
        market.fn.grantRole(VERIFIER_ROLE, verifier.address), ADMIN_ROLE, verifier, requester
    )
    receipt = market.send(market.fn.grantRole(VERIFIER_ROLE, verifier.address), chain.admin)
    assert market.events(receipt, "RoleGranted") == [
        {"role": VERIFIER_ROLE, "account": verifier.address, "sender": chain.admin.address}
    ]
    market.send(market.fn.revokeRole(VERIFIER_ROLE, verifier.address), chain.admin)
    market.register(p)
    job_id = market.revealed_job(requester, p)
    assert revert(chain, market.fn.disputeResult(job_id), verifier, DISPUTE_BOND) == (
        "NotAuthorizedDisputer",
        {"jobId": job_id, "caller": verifier.address},
    )


def test_dispute_window(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    assigned = market.assigned_job(requester, p)
    assert revert(chain, market.fn.disputeResult(assigned), requester, DISPUTE_BOND) == (
        "InvalidJobState",
        {"jobId": assigned, "state": State.Assigned},
    )
    job_id = market.revealed_job(requester, p)
    deadline = market.job(job_id)["challengeDeadline"]
    chain.advance(CHALLENGE_WINDOW + 1)
    assert revert(chain, market.fn.disputeResult(job_id), requester, DISPUTE_BOND) == (
        "ChallengeWindowClosed",
        {"jobId": job_id, "challengeDeadline": deadline},
    )


# ------------------------------------------------------------------------------- rulings


def test_result_proven_wrong_slashes_to_the_disputer(chain: ChainUnderTest, market: Market) -> None:
    requester, p, verifier = chain.users[0], chain.users[3], chain.users[4]
    stake = MIN_STAKE + 3  # odd
    market.register(p, stake=stake)
    _verifier(market, verifier)
    job_id = market.revealed_job(requester, p, price=SALT // 2, max_price=SALT + 9)
    _dispute(market, job_id, verifier)
    receipt = market.send(market.fn.resolveDispute(job_id, False), chain.admin)
    slash = stake * 1_000 // 10_000
    assert market.events(receipt, "DisputeResolved") == [
        {"jobId": job_id, "arbiter": chain.admin.address, "resultCorrect": False, "slashed": slash}
    ]
    assert market.events(receipt, "ProviderSlashed") == [
        {
            "provider": p.address,
            "jobId": job_id,
            "beneficiary": verifier.address,
            "amount": slash,
            "newStake": stake - slash,
        }
    ]
    assert market.events(receipt, "JobFailed") == [
        {"jobId": job_id, "provider": p.address, "slashed": slash, "requesterRefund": SALT + 9}
    ]
    assert market.events(receipt, "ReputationUpdated") == [
        {"provider": p.address, "oldReputation": 5_000, "newReputation": 2_500}
    ]
    assert market.credit(verifier.address) == slash + DISPUTE_BOND
    assert market.credit(requester.address) == SALT + 9
    assert market.credit(p.address) == 0
    assert market.credit(chain.treasury.address) == 0
    info = market.provider(p.address)
    assert (info["stake"], info["activeJobs"], info["jobsFailed"]) == (stake - slash, 0, 1)
    assert market.state(job_id) == State.Failed
    assert market.fn.totalBonds().call() == 0
    assert market.fn.totalEscrow().call() == 0
    market.assert_solvent()
    assert revert(chain, market.fn.resolveDispute(job_id, True), chain.admin) == (
        "InvalidJobState",
        {"jobId": job_id, "state": State.Failed},
    )


def test_requester_disputer_gets_refund_bond_and_slash(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p, price=100, max_price=100)
    _dispute(market, job_id, requester)
    market.send(market.fn.resolveDispute(job_id, False), chain.admin)
    assert market.credit(requester.address) == 100 + DISPUTE_BOND + MIN_STAKE // 10


def test_upheld_result_pays_the_provider_and_the_bond(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    price, max_price = 999_999_937, 10**9
    job_id = market.revealed_job(requester, p, price=price, max_price=max_price)
    _dispute(market, job_id, requester)
    receipt = market.send(market.fn.resolveDispute(job_id, True), chain.admin)
    provider_amount, treasury_fee, pool_fee = split(price)
    assert market.events(receipt, "DisputeResolved") == [
        {"jobId": job_id, "arbiter": chain.admin.address, "resultCorrect": True, "slashed": 0}
    ]
    assert market.events(receipt, "JobCompleted")[0]["providerAmount"] == provider_amount
    assert market.events(receipt, "ProviderSlashed") == []
    assert market.credit(p.address) == provider_amount + DISPUTE_BOND
    assert market.credit(chain.treasury.address) == treasury_fee
    assert market.credit(chain.routing_pool.address) == pool_fee
    assert market.credit(requester.address) == max_price - price
    info = market.provider(p.address)
    assert (info["stake"], info["activeJobs"], info["jobsCompleted"], info["reputation"]) == (
        MIN_STAKE,
        0,
        1,
        5_250,
    )
    assert market.state(job_id) == State.Completed
    market.assert_solvent()
    assert revert(chain, market.fn.completeJob(job_id), requester)[0] == "InvalidJobState"


def test_only_arbiters_rule(chain: ChainUnderTest, market: Market) -> None:
    requester, p, judge = chain.users[0], chain.users[3], chain.users[8]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    _dispute(market, job_id, requester)
    for who in (requester, p, judge):
        assert revert(chain, market.fn.resolveDispute(job_id, False), who) == (
            "AccessControlUnauthorizedAccount",
            {"account": who.address, "neededRole": ARBITER_ROLE},
        )
    market.send(market.fn.grantRole(ARBITER_ROLE, judge.address), chain.admin)
    market.send(market.fn.resolveDispute(job_id, True), judge)
    assert market.state(job_id) == State.Completed
    assert revert(chain, market.fn.resolveDispute(job_id, True), judge)[0] == "InvalidJobState"
    assert revert(chain, market.fn.resolveDispute(999, True), judge) == (
        "UnknownJob",
        {"jobId": 999},
    )


@pytest.mark.parametrize("by", ["requester", "verifier"])
def test_silent_arbiter_lets_the_revealed_result_stand(
    chain: ChainUnderTest, market: Market, by: str
) -> None:
    """Audit M-2: when no arbiter rules in time, the provider who revealed a result is paid
    exactly as on completion and receives the bond, so a dispute gets no free compute and
    cannot block a provider's pay for longer than the arbitration window."""
    requester, p, verifier = chain.users[0], chain.users[3], chain.users[4]
    treasury, pool = chain.treasury.address, chain.routing_pool.address
    market.register(p)
    _verifier(market, verifier)
    disputer = requester if by == "requester" else verifier
    price, max_price = 999_999_937, 10**9 + 3  # odd: every share rounds
    job_id = market.revealed_job(requester, p, price=price, max_price=max_price)
    event = _dispute(market, job_id, disputer)
    assert revert(chain, market.fn.expireDispute(job_id), requester) == (
        "DeadlineNotReached",
        {"jobId": job_id, "deadline": event["arbitrationDeadline"]},
    )
    chain.advance(ARBITRATION_WINDOW + 1)
    receipt = market.send(market.fn.expireDispute(job_id), chain.users[9])  # anyone
    provider_amount, treasury_fee, pool_fee = split(price)
    assert market.events(receipt, "DisputeExpired") == [
        {"jobId": job_id, "provider": p.address, "bond": DISPUTE_BOND}
    ]
    assert market.events(receipt, "JobCompleted") == [
        {
            "jobId": job_id,
            "provider": p.address,
            "price": price,
            "providerAmount": provider_amount,
            "treasuryFee": treasury_fee,
            "poolFee": pool_fee,
            "requesterRefund": max_price - price,
        }
    ]
    assert market.events(receipt, "ProviderSlashed") == []
    assert market.events(receipt, "ReputationUpdated") == [  # as on completion: no penalty
        {"provider": p.address, "oldReputation": 5_000, "newReputation": 5_250}
    ]
    assert market.credit(p.address) == provider_amount + DISPUTE_BOND
    assert market.credit(treasury) == treasury_fee
    assert market.credit(pool) == pool_fee
    assert market.credit(requester.address) == max_price - price
    assert market.credit(verifier.address) == 0
    assert provider_amount + treasury_fee + pool_fee == price
    info = market.provider(p.address)
    assert (info["stake"], info["activeJobs"], info["jobsCompleted"], info["jobsFailed"]) == (
        MIN_STAKE,
        0,
        1,
        0,
    )
    assert market.state(job_id) == State.Completed
    assert market.totals() == {
        "escrow": 0,
        "staked": MIN_STAKE,
        "bonds": 0,
        "credits": max_price + DISPUTE_BOND,
    }
    market.assert_solvent()
    assert revert(chain, market.fn.expireDispute(job_id), requester)[0] == "InvalidJobState"
    assert (
        revert(chain, market.fn.resolveDispute(job_id, False), chain.admin)[0] == "InvalidJobState"
    )
    # the provider is free to leave with its stake, and its pay is paid once
    market.send(market.fn.withdrawStake(MIN_STAKE), p)
    chain.withdraw_exactly(market.c, p.address, provider_amount + DISPUTE_BOND, by=chain.users[9])
    chain.withdraw_exactly(market.c, p.address, 0, by=chain.users[9])


def test_arbiter_may_still_rule_after_the_deadline_until_expired(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    _dispute(market, job_id, requester)
    chain.advance(ARBITRATION_WINDOW + 1)
    market.send(market.fn.resolveDispute(job_id, False), chain.admin)
    assert market.state(job_id) == State.Failed


# ------------------------------------------------------------------------------- admin


def test_set_treasury_and_pool(chain: ChainUnderTest, market: Market) -> None:
    new_treasury, new_pool = chain.users[7].address, chain.users[8].address
    receipt = market.send(market.fn.setTreasury(new_treasury), chain.admin)
    assert market.events(receipt, "TreasuryUpdated") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": new_treasury}
    ]
    receipt = market.send(market.fn.setRoutingPool(new_pool), chain.admin)
    assert market.events(receipt, "RoutingPoolUpdated") == [
        {"oldPool": chain.routing_pool.address, "newPool": new_pool}
    ]
    assert (market.fn.treasury().call(), market.fn.routingPool().call()) == (new_treasury, new_pool)
    for setter in (market.fn.setTreasury, market.fn.setRoutingPool):
        assert revert(chain, setter(ZERO_ADDRESS), chain.admin) == ("ZeroPayee", {})
        # the market cannot owe itself fees: they would be stuck in its books forever
        assert revert(chain, setter(market.address), chain.admin) == ("PayeeIsThisContract", {})
    err = chain.revert_of(market.fn.setTreasury(market.address), chain.admin)
    assert err.message == (
        "PayeeIsThisContract: This contract cannot owe money to itself: choose another address."
    )
    # fees of later completions go to the new payees
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p, price=10_000, max_price=10_000)
    market.send(market.fn.completeJob(job_id), requester)
    assert (market.credit(new_treasury), market.credit(new_pool)) == (300, 200)
    assert market.credit(chain.treasury.address) == 0


def test_set_windows(chain: ChainUnderTest, market: Market) -> None:
    receipt = market.send(market.fn.setWindows(60, 120, 30 * 86_400), chain.admin)
    assert market.events(receipt, "WindowsUpdated") == [
        {"revealWindow": 60, "challengeWindow": 120, "arbitrationWindow": 30 * 86_400}
    ]
    bounds = {"min": 60, "max": 30 * 86_400}
    for args, given in (
        ((59, 60, 60), 59),
        ((60, 30 * 86_400 + 1, 60), 30 * 86_400 + 1),
        ((60, 60, 0), 0),
    ):
        assert revert(chain, market.fn.setWindows(*args), chain.admin) == (
            "WindowOutOfRange",
            {"given": given, **bounds},
        )
    # new jobs use the new windows
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    job = market.job(job_id)
    assert (job["revealWindow"], job["challengeWindow"], job["arbitrationWindow"]) == (
        60,
        120,
        30 * 86_400,
    )
    assert job["revealDeadline"] == job["execDeadline"] + 60


def test_windows_are_fixed_when_the_job_is_posted(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id, _ = market.post(requester)
    market.send(market.fn.setWindows(60, 60, 60), chain.admin)
    market.bid(p, job_id, SALT)
    market.assign(job_id, requester)
    market.commit(p, job_id)
    market.reveal(p, job_id)
    job = market.job(job_id)
    assert job["revealDeadline"] == job["execDeadline"] + 3_600
    chain.advance(120)
    market.send(
        market.fn.disputeResult(job_id), requester, DISPUTE_BOND
    )  # still inside the 1 h window


def test_set_slash_rates(chain: ChainUnderTest, market: Market) -> None:
    receipt = market.send(market.fn.setSlashRates(100, 5_000), chain.admin)
    assert market.events(receipt, "SlashRatesUpdated") == [
        {"timeoutSlashBps": 100, "wrongResultSlashBps": 5_000}
    ]
    assert (market.fn.timeoutSlashBps().call(), market.fn.wrongResultSlashBps().call()) == (
        100,
        5_000,
    )
    for args, given in (
        ((99, 500), 99),
        ((500, 5_001), 5_001),
        ((0, 500), 0),
        ((65_535, 500), 65_535),
    ):
        assert revert(chain, market.fn.setSlashRates(*args), chain.admin) == (
            "SlashRateOutOfRange",
            {"given": given, "min": 100, "max": 5_000},
        )


def test_admin_functions_reject_everyone_else(chain: ChainUnderTest, market: Market) -> None:
    someone = chain.users[0]
    market.send(
        market.fn.grantRole(ARBITER_ROLE, someone.address), chain.admin
    )  # arbiters are not admins
    calls = [
        market.fn.setTreasury(someone.address),
        market.fn.setRoutingPool(someone.address),
        market.fn.setWindows(60, 60, 60),
        market.fn.setSlashRates(100, 100),
        market.fn.pause(),
        market.fn.unpause(),
        market.fn.grantRole(ARBITER_ROLE, someone.address),
    ]
    for fn in calls:
        assert revert(chain, fn, someone) == (
            "AccessControlUnauthorizedAccount",
            {"account": someone.address, "neededRole": ADMIN_ROLE},
        )


def test_pause_stops_new_business_but_not_running_jobs(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p, newcomer = chain.users[0], chain.users[3], chain.users[4]
    market.register(p, max_jobs=8, stake=2 * MIN_STAKE)  # stays active after one timeout slash
    open_job, _ = market.post(requester)
    market.bid(p, open_job, SALT)
    running = market.assigned_job(requester, p)
    revealed = market.revealed_job(requester, p)
    late = market.assigned_job(requester, p)
    to_cancel, _ = market.post(requester)

    receipt = market.send(market.fn.pause(), chain.admin)
    assert market.events(receipt, "Paused") == [{"account": chain.admin.address}]
    assert market.fn.paused().call()
    paused = ("MarketPaused", {})
    assert (
        revert(chain, market.fn.registerProvider((1, False, 1, [MODEL_A])), newcomer, MIN_STAKE)
        == paused
    )
    assert revert(chain, market.fn.postJob(market.spec()), requester, SALT) == paused
    assert revert(chain, market.fn.bid(open_job, SALT, 1), p) == paused
    assert revert(chain, market.fn.assignBestBid(open_job), requester) == paused

    # everything that finishes a job or returns money keeps working
    market.commit(p, running)
    market.reveal(p, running)
    market.send(market.fn.completeJob(revealed), requester)
    chain.advance(EXEC_WINDOW + 1)
    market.send(market.fn.timeoutJob(late), requester)
    market.send(market.fn.disputeResult(running), requester, DISPUTE_BOND)
    market.send(market.fn.resolveDispute(running, True), chain.admin)
    market.send(market.fn.cancelJob(to_cancel), requester)
    market.send(market.fn.withdraw(requester.address), requester)
    market.send(market.fn.addStake(), p, 1)
    market.send(market.fn.updateProvider((ALL_TYPES, True, 8, [])), p)  # widens: bids stay

    receipt = market.send(market.fn.unpause(), chain.admin)
    assert market.events(receipt, "Unpaused") == [{"account": chain.admin.address}]
    chain.advance(BID_WINDOW)
    market.assign(open_job)  # past the bid window: assigned now
    assert market.state(open_job) == State.Assigned
    market.assert_solvent()
