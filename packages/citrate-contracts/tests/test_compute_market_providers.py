"""ComputeMarket providers: registration, configuration, stake, deregistration."""

from __future__ import annotations

import pytest

from .harness import ChainUnderTest
from .test_compute_market import (
    ALL_TYPES,
    MIN_STAKE,
    MODEL_A,
    MODEL_B,
    SALT,
    ZERO32,
    JobType,
    Market,
    revert,
)


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


def test_register_records_provider_and_emits(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    stake = MIN_STAKE + 123
    receipt = market.register(
        p, stake=stake, job_types=0b00101, models=(MODEL_A, MODEL_B), max_jobs=3
    )
    assert market.events(receipt, "ProviderRegistered") == [
        {
            "provider": p.address,
            "stake": stake,
            "jobTypes": 0b00101,
            "anyModel": False,
            "maxConcurrentJobs": 3,
            "models": [MODEL_A, MODEL_B],
        }
    ]
    info = market.provider(p.address)
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert info == {
        "stake": stake,
        "registered": True,
        "anyModel": False,
        "jobTypes": 0b00101,
        "reputation": 5_000,
        "activeJobs": 0,
        "openBids": 0,
        "maxConcurrentJobs": 3,
        "jobsCompleted": 0,
        "jobsTimedOut": 0,
        "jobsFailed": 0,
        "registeredAt": block["timestamp"],
    }
    assert market.fn.getProviderModels(p.address).call() == [MODEL_A, MODEL_B]
    assert market.fn.totalStaked().call() == stake
    assert market.fn.providerCount().call() == 1
    market.assert_solvent()


def test_can_serve_follows_job_types_and_models(chain: ChainUnderTest, market: Market) -> None:
    p, q = chain.users[3], chain.users[4]
    market.register(p, job_types=(1 << JobType.Inference) | (1 << JobType.Image), models=(MODEL_A,))
    market.register(q, job_types=1 << JobType.Training, any_model=True, models=())
    can = market.fn.canServe
    assert can(p.address, JobType.Inference, MODEL_A).call()
    assert can(p.address, JobType.Image, MODEL_A).call()
    assert not can(p.address, JobType.Embedding, MODEL_A).call()
    assert not can(p.address, JobType.Inference, MODEL_B).call()
    assert can(q.address, JobType.Training, MODEL_B).call()
    assert can(q.address, JobType.Training, b"\x42" * 32).call()
    assert not can(q.address, JobType.LoRA, MODEL_B).call()
    assert not can(chain.users[5].address, JobType.Inference, MODEL_A).call()
    assert not can(p.address, 7, MODEL_A).call()  # unknown job type: no bit set


@pytest.mark.parametrize(
    ("kwargs", "error", "args"),
    [
        (
            {"stake": MIN_STAKE - 1},
            "InsufficientStake",
            {"required": MIN_STAKE, "sent": MIN_STAKE - 1},
        ),
        ({"stake": 0}, "InsufficientStake", {"required": MIN_STAKE, "sent": 0}),
        ({"job_types": 0}, "InvalidJobTypes", {"jobTypes": 0}),
        ({"job_types": 32}, "InvalidJobTypes", {"jobTypes": 32}),
        ({"job_types": 255}, "InvalidJobTypes", {"jobTypes": 255}),
        ({"max_jobs": 0}, "InvalidMaxConcurrentJobs", {"given": 0, "max": 64}),
        ({"max_jobs": 65}, "InvalidMaxConcurrentJobs", {"given": 65, "max": 64}),
        ({"models": ()}, "NoModels", {}),
        (
            {"models": tuple(bytes([i + 1]) * 32 for i in range(33))},
            "TooManyModels",
            {"given": 33, "max": 32},
        ),
        ({"models": (MODEL_A, ZERO32)}, "ZeroModelId", {}),
        ({"models": (MODEL_A, MODEL_B, MODEL_A)}, "DuplicateModel", {"modelId": MODEL_A}),
    ],
)
def test_register_rejects_bad_input(
    chain: ChainUnderTest, market: Market, kwargs: dict, error: str, args: dict
) -> None:
    p = chain.users[3]
    config = (
        kwargs.get("job_types", ALL_TYPES),
        False,
        kwargs.get("max_jobs", 4),
        list(kwargs.get("models", (MODEL_A,))),
    )
    err = chain.revert_of(market.fn.registerProvider(config), p, kwargs.get("stake", MIN_STAKE))
    assert err.name == error
    assert err.args == args


def test_register_error_messages_are_readable(chain: ChainUnderTest, market: Market) -> None:
    err = chain.revert_of(market.fn.registerProvider((1, False, 1, [MODEL_A])), chain.users[3], 5)
    assert err.message == (
        f"InsufficientStake: The stake sent is below the minimum; send at least {MIN_STAKE} wei."
    )
    err = chain.revert_of(
        market.fn.registerProvider((64, False, 1, [MODEL_A])), chain.users[3], MIN_STAKE
    )
    assert (
        err.message
        == "InvalidJobTypes: 64 must be a non-zero bitmask of the five job types (1..31)."
    )


def test_register_any_model_without_list_and_the_maximum_list(
    chain: ChainUnderTest, market: Market
) -> None:
    market.register(chain.users[3], any_model=True, models=())
    models = tuple(bytes([i + 1]) * 32 for i in range(32))
    market.register(chain.users[4], models=models, max_jobs=64)
    assert market.fn.getProviderModels(chain.users[4].address).call() == list(models)
    assert market.provider(chain.users[3].address)["anyModel"]


def test_register_twice_is_rejected(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    market.register(p)
    got = revert(chain, market.fn.registerProvider((1, False, 1, [MODEL_A])), p, MIN_STAKE)
    assert got == ("AlreadyRegistered", {"provider": p.address})


def test_update_provider_replaces_the_configuration(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    market.register(p, job_types=1, models=(MODEL_A,), max_jobs=2)
    receipt = market.send(market.fn.updateProvider((0b11000, False, 9, [MODEL_B])), p)
    assert market.events(receipt, "ProviderUpdated") == [
        {
            "provider": p.address,
            "jobTypes": 0b11000,
            "anyModel": False,
            "maxConcurrentJobs": 9,
            "models": [MODEL_B],
        }
    ]
    assert market.fn.getProviderModels(p.address).call() == [MODEL_B]
    assert not market.fn.canServe(p.address, JobType.LoRA, MODEL_A).call()  # old model cleared
    assert market.fn.canServe(p.address, JobType.LoRA, MODEL_B).call()
    assert not market.fn.canServe(p.address, JobType.Inference, MODEL_B).call()
    info = market.provider(p.address)
    assert (info["jobTypes"], info["maxConcurrentJobs"], info["stake"]) == (0b11000, 9, MIN_STAKE)
    # the same validation as registration
    err = chain.revert_of(market.fn.updateProvider((1, False, 1, [MODEL_B, MODEL_B])), p)
    assert err.name == "DuplicateModel"
    err = chain.revert_of(market.fn.updateProvider((1, False, 1, [])), p)
    assert err.name == "NoModels"


def test_update_and_add_stake_need_registration(chain: ChainUnderTest, market: Market) -> None:
    outsider = chain.users[9]
    for fn, value in (
        (market.fn.updateProvider((1, True, 1, [])), 0),
        (market.fn.addStake(), SALT),
    ):
        got = revert(chain, fn, outsider, value)
        assert got == ("NotRegistered", {"provider": outsider.address})
    err = chain.revert_of(market.fn.withdrawStake(1), outsider)
    assert err.name == "NotRegistered"


def test_add_stake(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    market.register(p)
    receipt = market.send(market.fn.addStake(), p, 7)
    assert market.events(receipt, "StakeAdded") == [
        {"provider": p.address, "amount": 7, "newStake": MIN_STAKE + 7}
    ]
    assert market.provider(p.address)["stake"] == MIN_STAKE + 7
    assert market.fn.totalStaked().call() == MIN_STAKE + 7
    assert chain.revert_of(market.fn.addStake(), p, 0).name == "ZeroAmount"
    market.assert_solvent()


def test_withdraw_stake_partially_and_fully(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    market.register(p, stake=MIN_STAKE + 5 * SALT)
    before = chain.balance(p.address)
    receipt = market.send(market.fn.withdrawStake(5 * SALT), p)
    assert chain.balance(p.address) == before + 5 * SALT - chain.gas_cost(receipt)
    assert market.events(receipt, "StakeWithdrawn") == [
        {"provider": p.address, "amount": 5 * SALT, "newStake": MIN_STAKE}
    ]
    assert market.events(receipt, "ProviderDeregistered") == []
    assert market.provider(p.address)["registered"]

    before = chain.balance(p.address)
    receipt = market.send(market.fn.withdrawStake(MIN_STAKE), p)
    assert chain.balance(p.address) == before + MIN_STAKE - chain.gas_cost(receipt)
    assert market.events(receipt, "ProviderDeregistered") == [{"provider": p.address}]
    info = market.provider(p.address)
    assert (info["registered"], info["stake"]) == (False, 0)
    assert not market.fn.canServe(p.address, JobType.Inference, MODEL_A).call()
    assert market.fn.totalStaked().call() == 0
    assert chain.balance(market.address) == 0
    err = chain.revert_of(market.fn.withdrawStake(1), p)
    assert err.name == "NotRegistered"


def test_withdraw_stake_rejections(chain: ChainUnderTest, market: Market) -> None:
    p = chain.users[3]
    market.register(p, stake=MIN_STAKE + 10)
    err = chain.revert_of(market.fn.withdrawStake(0), p)
    assert err.name == "ZeroAmount"
    got = revert(chain, market.fn.withdrawStake(MIN_STAKE + 11), p)
    assert got == ("AmountExceedsStake", {"amount": MIN_STAKE + 11, "stake": MIN_STAKE + 10})
    got = revert(chain, market.fn.withdrawStake(11), p)
    assert got == ("StakeBelowMinimum", {"remaining": MIN_STAKE - 1, "minimum": MIN_STAKE})
    got = revert(chain, market.fn.withdrawStake(MIN_STAKE), p)
    assert got == ("StakeBelowMinimum", {"remaining": 10, "minimum": MIN_STAKE})
    market.send(market.fn.withdrawStake(10), p)  # exactly down to the minimum is fine


def test_stake_is_locked_while_a_job_is_active(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, stake=MIN_STAKE + SALT)
    job_id = market.assigned_job(requester, p)
    assert market.provider(p.address)["activeJobs"] == 1
    for amount in (1, SALT, MIN_STAKE + SALT):
        got = revert(chain, market.fn.withdrawStake(amount), p)
        assert got == ("StakeLocked", {"provider": p.address, "activeJobs": 1, "openBids": 0})
    market.commit(p, job_id)
    market.reveal(p, job_id)
    assert chain.revert_of(market.fn.withdrawStake(1), p).name == "StakeLocked"
    market.send(market.fn.completeJob(job_id), requester)
    assert market.provider(p.address)["activeJobs"] == 0
    market.send(market.fn.withdrawStake(MIN_STAKE + SALT), p)


def test_open_bids_lock_the_stake(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, stake=MIN_STAKE + SALT)
    job_id, _ = market.post(requester)
    market.bid(p, job_id, SALT)
    assert market.provider(p.address)["openBids"] == 1
    for amount in (1, SALT, MIN_STAKE + SALT):  # not even the part above the minimum
        got = revert(chain, market.fn.withdrawStake(amount), p)
        assert got == ("StakeLocked", {"provider": p.address, "activeJobs": 0, "openBids": 1})
    market.send(market.fn.addStake(), p, 1)  # adding is always fine
    market.send(market.fn.cancelJob(job_id), requester)
    assert market.provider(p.address)["openBids"] == 0
    market.send(market.fn.withdrawStake(MIN_STAKE + SALT + 1), p)


def test_update_provider_while_bidding_may_only_widen(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p, job_types=0b00011, models=(MODEL_A,), max_jobs=3)
    first, _ = market.post(requester, job_type=JobType.Inference, model=MODEL_A)
    second, _ = market.post(requester, job_type=JobType.Embedding, model=MODEL_A)
    market.bid(p, first, SALT)
    market.bid(p, second, SALT)
    locked = ("ServiceLockedByBids", {"provider": p.address, "openBids": 2})
    for narrower in (
        (0b00001, False, 3, [MODEL_A]),  # drops a job type
        (0b00010, False, 3, [MODEL_A]),
        (0b00011, False, 3, [MODEL_B]),  # drops a model
        (0b00011, False, 3, [MODEL_B, b"\x05" * 32]),
        (0b00011, False, 1, [MODEL_A]),  # capacity below active jobs + open bids
    ):
        assert revert(chain, market.fn.updateProvider(narrower), p) == locked, narrower
    # bad input is still reported as such first
    assert revert(chain, market.fn.updateProvider((0, False, 3, [MODEL_A])), p) == (
        "InvalidJobTypes",
        {"jobTypes": 0},
    )
    # capacity may shrink down to active jobs + open bids
    market.send(market.fn.updateProvider((0b00011, False, 2, [MODEL_A])), p)
    # widening is fine: more job types, more models, more capacity, then any model
    market.send(market.fn.updateProvider((0b00111, False, 4, [MODEL_B, MODEL_A])), p)
    market.send(market.fn.updateProvider((0b00111, True, 4, [])), p)
    # from any model back to a list is narrower
    err = chain.revert_of(market.fn.updateProvider((0b00111, False, 4, [MODEL_A])), p)
    assert (err.name, err.args) == locked
    assert err.message == (
        "ServiceLockedByBids: The provider has 2 open bids: until their jobs are assigned, "
        "expire or are cancelled it may only add job types, models or capacity "
        "(at least active jobs + open bids)."
    )
    market.send(market.fn.cancelJob(second), requester)
    market.assign(first, requester)  # both bids ended: anything goes again
    market.send(market.fn.updateProvider((0b10000, False, 1, [MODEL_B])), p)
    info = market.provider(p.address)
    assert (info["activeJobs"], info["openBids"], info["maxConcurrentJobs"]) == (1, 0, 1)


def test_reregistration_keeps_reputation_and_history(chain: ChainUnderTest, market: Market) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.revealed_job(requester, p)
    market.send(market.fn.completeJob(job_id), requester)
    assert market.provider(p.address)["reputation"] == 5_250
    market.send(market.fn.withdrawStake(MIN_STAKE), p)
    receipt = market.register(p, models=(MODEL_B,))
    info = market.provider(p.address)
    assert (info["reputation"], info["jobsCompleted"], info["registered"]) == (5_250, 1, True)
    assert info["registeredAt"] == chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert market.fn.getProviderModels(p.address).call() == [MODEL_B]
    assert market.fn.providerCount().call() == 1  # listed once


def test_slashed_below_minimum_is_inactive_until_topped_up(
    chain: ChainUnderTest, market: Market
) -> None:
    requester, p = chain.users[0], chain.users[3]
    market.register(p)
    job_id = market.assigned_job(requester, p)
    market.chain.advance(601)
    market.send(market.fn.timeoutJob(job_id), requester)
    stake = market.provider(p.address)["stake"]
    assert stake == MIN_STAKE - MIN_STAKE * 500 // 10_000
    new_job, _ = market.post(requester)
    got = revert(chain, market.fn.bid(new_job, SALT, 1), p)
    assert got == (
        "ProviderNotActive",
        {"provider": p.address, "stake": stake, "minimum": MIN_STAKE},
    )
    assert not market.fn.canServe(p.address, JobType.Inference, MODEL_A).call()
    # a partial withdrawal is still refused; everything may go
    assert chain.revert_of(market.fn.withdrawStake(1), p).name == "StakeBelowMinimum"
    market.send(market.fn.addStake(), p, MIN_STAKE - stake)
    market.bid(p, new_job, SALT)
    market.assert_solvent()
