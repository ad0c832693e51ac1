"""InferenceRouter: providers, routing, escrow, the 2.5 % split, refunds, reentrancy, invariants."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ZERO_ADDRESS, ChainUnderTest, Reverted, struct
from .models import register_model

SALT = 10**18
MIN_STAKE = 100 * SALT
BPS = 10_000
ASSIGNED, COMPLETED, FAILED, CANCELLED = 1, 2, 3, 4
IN_HASH = keccak(text="input")
OUT_HASH = keccak(text="output")


# --------------------------------------------------------------------------- helpers


def solvent(chain: ChainUnderTest, router: Contract) -> None:
    chain.assert_backed(router, "totalStaked", "totalEscrowed", "totalCredits")


def fund_fresh(chain: ChainUnderTest, funder: Any, amount: int) -> Any:
    acct = Account.create()
    chain.transfer(funder, acct.address, amount)
    return acct


@pytest.fixture
def router(chain: ChainUnderTest) -> Contract:
    return chain.contract("InferenceRouter")


@pytest.fixture
def model(chain: ChainUnderTest) -> bytes:
    return register_model(chain, chain.users[9], "llama")


def register(
    chain: ChainUnderTest,
    router: Contract,
    provider: Any,
    models: list[bytes],
    min_price: int = 10**15,
    max_concurrent: int = 4,
    stake: int = MIN_STAKE,
    endpoint: str = "https://p.example/v1",
) -> Any:
    cfg = (endpoint, min_price, max_concurrent, models)
    return chain.send(router.functions.registerProvider(cfg), provider, value=stake)


def request(
    chain: ChainUnderTest,
    router: Contract,
    user: Any,
    model: bytes,
    max_price: int,
    value: int | None = None,
) -> tuple[int, Any]:
    receipt = chain.send(
        router.functions.requestInference(model, IN_HASH, max_price),
        user,
        value=max_price if value is None else value,
    )
    ev = chain.events(receipt, router, "InferenceRequested")[0]
    return int(ev["requestId"]), receipt


# --------------------------------------------------------------------------- deployment


def test_initial_state(chain: ChainUnderTest, router: Contract) -> None:
    assert router.functions.registry().call() == chain.addresses["ModelRegistry"]
    assert router.functions.treasury().call() == chain.treasury.address
    assert router.functions.minProviderStake().call() == MIN_STAKE
    assert router.functions.platformFeeBps().call() == 250
    assert router.functions.requestTimeout().call() == 3600
    assert router.functions.MAX_PLATFORM_FEE_BPS().call() == 1000
    assert router.functions.MAX_PROVIDERS_PER_MODEL().call() == 32
    assert router.functions.MAX_MODELS_PER_PROVIDER().call() == 16
    assert router.functions.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert not router.functions.hasRole(ADMIN_ROLE, chain.users[0].address).call()
    assert router.functions.requestCount().call() == 0
    assert router.functions.providerCount().call() == 0
    reg = chain.contract("ModelRegistry")
    role = reg.functions.USAGE_REPORTER_ROLE().call()
    assert reg.functions.hasRole(role, router.address).call()
    solvent(chain, router)


@pytest.mark.parametrize("zero_at", [0, 1, 2])
def test_constructor_rejects_zero_addresses(
    chain: ChainUnderTest, router: Contract, zero_at: int
) -> None:
    args = [chain.admin.address, chain.addresses["ModelRegistry"], chain.treasury.address]
    args[zero_at] = ZERO_ADDRESS
    err = chain.deploy_revert("InferenceRouter", chain.users[0], *args)
    expected = [("ZeroAddress", {"what": "admin"}), ("ZeroAddress", {"what": "registry"})]
    expected.append(("ZeroPayee", {}))
    assert (err.name, err.args) == expected[zero_at]


# --------------------------------------------------------------------------- providers


def test_register_provider(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p = chain.users[0]
    before = chain.balance(p.address)
    receipt = register(
        chain, router, p, [model], min_price=5, max_concurrent=3, stake=MIN_STAKE + 1
    )
    assert chain.balance(p.address) == before - MIN_STAKE - 1 - chain.gas_cost(receipt)
    assert chain.events(receipt, router, "ProviderRegistered") == [
        {
            "provider": p.address,
            "stake": MIN_STAKE + 1,
            "endpoint": "https://p.example/v1",
            "minPrice": 5,
            "maxConcurrent": 3,
            "models": [model],
        }
    ]
    info = struct(router.functions.getProvider(p.address))
    assert info["registered"] and info["active"]
    assert info["stake"] == MIN_STAKE + 1
    assert info["minPrice"] == 5 and info["maxConcurrent"] == 3
    assert info["activeRequests"] == info["completed"] == info["failed"] == 0
    assert info["models"] == [model]
    assert info["registeredAt"] > 0
    assert router.functions.getProviderModels(p.address).call() == [model]
    assert router.functions.getModelProviders(model, 0, 10).call() == [p.address]
    assert router.functions.modelProviderCount(model).call() == 1
    assert router.functions.getProviders(0, 10).call() == [p.address]
    assert router.functions.providerCount().call() == 1
    assert router.functions.totalStaked().call() == MIN_STAKE + 1
    assert router.functions.successRateBps(p.address).call() == BPS
    solvent(chain, router)


def test_register_provider_rejects_bad_input(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p = chain.users[0]
    fn = router.functions.registerProvider
    good = ("https://x", 1, 2, [model])

    err = chain.revert_of(fn(good), p, value=MIN_STAKE - 1)
    assert (err.name, err.args) == (
        "InsufficientStake",
        {"required": MIN_STAKE, "sent": MIN_STAKE - 1},
    )
    assert "send at least" in err.message

    err = chain.revert_of(fn(("", 1, 2, [model])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("InvalidEndpoint", {"length": 0, "maxLength": 256})
    err = chain.revert_of(fn(("x" * 257, 1, 2, [model])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("InvalidEndpoint", {"length": 257, "maxLength": 256})

    err = chain.revert_of(fn(("x", 1, 0, [model])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("InvalidMaxConcurrent", {"value": 0, "maxAllowed": 1000})
    err = chain.revert_of(fn(("x", 1, 1001, [model])), p, value=MIN_STAKE)
    assert err.name == "InvalidMaxConcurrent"

    err = chain.revert_of(fn(("x", 1, 1, [])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("InvalidModelCount", {"count": 0, "maxAllowed": 16})
    err = chain.revert_of(fn(("x", 1, 1, [model] * 17)), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("InvalidModelCount", {"count": 17, "maxAllowed": 16})

    unknown = keccak(text="nope")
    err = chain.revert_of(fn(("x", 1, 1, [unknown])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": unknown})
    err = chain.revert_of(fn(("x", 1, 1, [model, model])), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("DuplicateModel", {"modelId": model})

    chain.send(fn(good), p, value=MIN_STAKE)
    err = chain.revert_of(fn(good), p, value=MIN_STAKE)
    assert (err.name, err.args) == ("AlreadyRegistered", {"provider": p.address})
    chain.send(
        fn(("x" * 256, 1, 1000, [model] + [register_model(chain, p, f"m{i}") for i in range(15)])),
        chain.users[1],
        value=MIN_STAKE,
    )
    assert len(struct(router.functions.getProvider(chain.users[1].address))["models"]) == 16


def test_inactive_model_can_be_listed_but_not_requested(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    reg = chain.contract("ModelRegistry")
    chain.send(reg.functions.deactivateModel(model), chain.users[9])
    register(chain, router, chain.users[0], [model], min_price=1)
    err = chain.revert_of(
        router.functions.requestInference(model, IN_HASH, 1), chain.users[1], value=1
    )
    assert (err.name, err.args) == ("ModelInactive", {"modelId": model})


def test_model_provider_cap(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    chain.send(router.functions.setMinProviderStake(1), chain.admin)
    for _ in range(32):
        acct = fund_fresh(chain, chain.users[8], SALT // 100)
        register(chain, router, acct, [model], stake=1)
    assert router.functions.modelProviderCount(model).call() == 32
    page = router.functions.getModelProviders(model, 30, 100).call()
    assert len(page) == 2
    # Full, every entry eligible and none dearer than the newcomer: refused.
    err = chain.revert_of(
        router.functions.registerProvider(("x", 10**15, 1, [model])), chain.users[0], value=1
    )
    assert (err.name, err.args) == ("TooManyProviders", {"modelId": model, "maxProviders": 32})
    # A strictly cheaper newcomer takes the dearest slot (test_router_lora_audit covers more).
    receipt = chain.send(
        router.functions.registerProvider(("x", 10**15 - 1, 1, [model])), chain.users[0], value=1
    )
    assert len(chain.events(receipt, router, "ProviderEvicted")) == 1
    assert router.functions.modelProviderCount(model).call() == 32


def test_update_provider_replaces_config_and_models(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    other = register_model(chain, chain.users[9], "other")
    a, b = chain.users[0], chain.users[1]
    register(chain, router, a, [model])
    register(chain, router, b, [model, other])
    receipt = chain.send(router.functions.updateProvider(("https://new", 9, 7, [other])), a)
    assert chain.events(receipt, router, "ProviderUpdated") == [
        {
            "provider": a.address,
            "endpoint": "https://new",
            "minPrice": 9,
            "maxConcurrent": 7,
            "models": [other],
        }
    ]
    info = struct(router.functions.getProvider(a.address))
    assert (info["endpoint"], info["minPrice"], info["maxConcurrent"]) == ("https://new", 9, 7)
    assert info["models"] == [other]
    assert router.functions.getModelProviders(model, 0, 10).call() == [b.address]
    assert router.functions.getModelProviders(other, 0, 10).call() == [b.address, a.address]
    # The same model list again is not a duplicate (the old list is cleared first).
    chain.send(router.functions.updateProvider(("https://new", 9, 7, [other])), a)
    assert router.functions.getModelProviders(other, 0, 10).call() == [b.address, a.address]


def test_update_provider_rejects(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p = chain.users[0]
    err = chain.revert_of(router.functions.updateProvider(("x", 1, 1, [model])), p)
    assert (err.name, err.args) == ("NotProvider", {"account": p.address})
    register(chain, router, p, [model])
    err = chain.revert_of(router.functions.updateProvider(("x", 1, 0, [model])), p)
    assert err.name == "InvalidMaxConcurrent"
    err = chain.revert_of(router.functions.updateProvider(("x", 1, 1, [model, model])), p)
    assert err.name == "DuplicateModel"
    chain.send(router.functions.setMinProviderStake(MIN_STAKE + 1), chain.admin)
    err = chain.revert_of(router.functions.updateProvider(("x", 1, 1, [model])), p)
    assert (err.name, err.args) == (
        "InsufficientStake",
        {"required": MIN_STAKE + 1, "sent": MIN_STAKE},
    )


def test_set_provider_active(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p = chain.users[0]
    err = chain.revert_of(router.functions.setProviderActive(False), p)
    assert err.name == "NotProvider"
    register(chain, router, p, [model], min_price=1)
    err = chain.revert_of(router.functions.setProviderActive(True), p)
    assert (err.name, err.args) == ("StatusUnchanged", {"active": True})
    receipt = chain.send(router.functions.setProviderActive(False), p)
    assert chain.events(receipt, router, "ProviderStatusChanged") == [
        {"provider": p.address, "active": False}
    ]
    assert router.functions.providerScore(p.address, 10).call() == 0
    err = chain.revert_of(
        router.functions.requestInference(model, IN_HASH, 10), chain.users[1], value=10
    )
    assert (err.name, err.args) == ("NoProviderAvailable", {"modelId": model, "maxPrice": 10})
    chain.send(router.functions.setMinProviderStake(MIN_STAKE * 2), chain.admin)
    err = chain.revert_of(router.functions.setProviderActive(True), p)
    assert (err.name, err.args) == (
        "InsufficientStake",
        {"required": MIN_STAKE * 2, "sent": MIN_STAKE},
    )
    chain.send(router.functions.addStake(), p, value=MIN_STAKE)
    receipt = chain.send(router.functions.setProviderActive(True), p)
    assert chain.events(receipt, router, "ProviderStatusChanged") == [
        {"provider": p.address, "active": True}
    ]
    request(chain, router, chain.users[1], model, 10)


def test_add_stake(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p = chain.users[0]
    err = chain.revert_of(router.functions.addStake(), p, value=1)
    assert err.name == "NotProvider"
    register(chain, router, p, [model])
    err = chain.revert_of(router.functions.addStake(), p, value=0)
    assert err.name == "ZeroAmount"
    receipt = chain.send(router.functions.addStake(), p, value=3)
    assert chain.events(receipt, router, "StakeAdded") == [
        {"provider": p.address, "amount": 3, "newStake": MIN_STAKE + 3}
    ]
    assert router.functions.totalStaked().call() == MIN_STAKE + 3
    solvent(chain, router)


def test_withdraw_stake_partial_and_full_exit(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p = chain.users[0]
    err = chain.revert_of(router.functions.withdrawStake(1), p)
    assert err.name == "NotProvider"
    register(chain, router, p, [model], stake=MIN_STAKE + 10)
    err = chain.revert_of(router.functions.withdrawStake(0), p)
    assert err.name == "ZeroAmount"
    err = chain.revert_of(router.functions.withdrawStake(MIN_STAKE + 11), p)
    assert (err.name, err.args) == (
        "WithdrawTooLarge",
        {"requested": MIN_STAKE + 11, "stake": MIN_STAKE + 10},
    )
    err = chain.revert_of(router.functions.withdrawStake(11), p)
    assert (err.name, err.args) == (
        "StakeBelowMinimum",
        {"remaining": MIN_STAKE - 1, "minimum": MIN_STAKE},
    )

    before = chain.balance(p.address)
    receipt = chain.send(router.functions.withdrawStake(10), p)
    assert chain.balance(p.address) == before + 10 - chain.gas_cost(receipt)
    assert chain.events(receipt, router, "StakeWithdrawn") == [
        {"provider": p.address, "amount": 10, "newStake": MIN_STAKE}
    ]
    assert chain.events(receipt, router, "ProviderExited") == []

    before = chain.balance(p.address)
    receipt = chain.send(router.functions.withdrawStake(MIN_STAKE), p)
    assert chain.balance(p.address) == before + MIN_STAKE - chain.gas_cost(receipt)
    assert chain.events(receipt, router, "ProviderExited") == [{"provider": p.address}]
    assert chain.events(receipt, router, "ProviderDelisted") == [
        {"modelId": model, "provider": p.address}
    ]
    info = struct(router.functions.getProvider(p.address))
    assert info["stake"] == 0 and not info["active"] and info["registered"]
    assert info["models"] == []
    assert router.functions.modelProviderCount(model).call() == 0
    assert router.functions.totalStaked().call() == 0
    solvent(chain, router)
    # Coming back: stake again, then re-list (updateProvider reactivates).
    chain.send(router.functions.addStake(), p, value=MIN_STAKE)
    receipt = chain.send(router.functions.updateProvider(("https://back", 1, 1, [model])), p)
    assert chain.events(receipt, router, "ProviderStatusChanged") == [
        {"provider": p.address, "active": True}
    ]
    assert router.functions.getModelProviders(model, 0, 10).call() == [p.address]


def test_stake_locked_while_requests_active(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p = chain.users[0]
    register(chain, router, p, [model], min_price=1, stake=MIN_STAKE * 2)
    rid, _ = request(chain, router, chain.users[1], model, 1)
    err = chain.revert_of(router.functions.withdrawStake(1), p)
    assert (err.name, err.args) == ("StakeLocked", {"provider": p.address, "activeRequests": 1})
    chain.send(router.functions.completeInference(rid, OUT_HASH), p)
    chain.send(router.functions.withdrawStake(MIN_STAKE), p)


# --------------------------------------------------------------------------- requests


def test_request_escrows_and_refunds_excess(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p, u = chain.users[0], chain.users[1]
    register(chain, router, p, [model], min_price=7)
    before = chain.balance(u.address)
    receipt = chain.send(router.functions.requestInference(model, IN_HASH, 100), u, value=1_000)
    assert chain.balance(u.address) == before - 100 - chain.gas_cost(receipt)
    ev = chain.events(receipt, router, "InferenceRequested")
    assert ev == [
        {
            "requestId": 1,
            "requester": u.address,
            "modelId": model,
            "provider": p.address,
            "inputHash": IN_HASH,
            "maxPrice": 100,
            "price": 7,
        }
    ]
    r = struct(router.functions.getRequest(1))
    assert r["requester"] == u.address and r["provider"] == p.address
    assert (r["status"], r["maxPrice"], r["price"], r["feeBps"]) == (ASSIGNED, 100, 7, 250)
    assert r["modelId"] == model and r["inputHash"] == IN_HASH
    assert r["outputHash"] == b"\x00" * 32 and r["finishedAt"] == 0
    assert router.functions.totalEscrowed().call() == 100
    assert router.functions.requestCount().call() == 1
    assert struct(router.functions.getProvider(p.address))["activeRequests"] == 1
    assert router.functions.getUserRequests(u.address, 0, 10).call() == [1]
    assert router.functions.requestCountOf(u.address).call() == 1
    solvent(chain, router)


def test_request_rejects_bad_input(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    u = chain.users[1]
    fn = router.functions.requestInference
    err = chain.revert_of(fn(model, b"\x00" * 32, 10), u, value=10)
    assert err.name == "ZeroInputHash"
    err = chain.revert_of(fn(model, IN_HASH, 10), u, value=9)
    assert (err.name, err.args) == ("InsufficientPayment", {"required": 10, "sent": 9})
    unknown = keccak(text="unknown")
    err = chain.revert_of(fn(unknown, IN_HASH, 10), u, value=10)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": unknown})
    err = chain.revert_of(fn(model, IN_HASH, 10), u, value=10)
    assert err.name == "NoProviderAvailable"
    assert "raise maxPrice or retry later" in err.message
    register(chain, router, chain.users[0], [model], min_price=11, max_concurrent=1)
    err = chain.revert_of(fn(model, IN_HASH, 10), u, value=10)
    assert (err.name, err.args) == ("NoProviderAvailable", {"modelId": model, "maxPrice": 10})
    request(chain, router, u, model, 11)
    err = chain.revert_of(fn(model, IN_HASH, 11), u, value=11)  # at capacity
    assert err.name == "NoProviderAvailable"


def test_underfunded_provider_is_not_routed(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    a, b = chain.users[0], chain.users[1]
    register(chain, router, a, [model], min_price=1)
    register(chain, router, b, [model], min_price=5, stake=MIN_STAKE * 2)
    chain.send(router.functions.setMinProviderStake(MIN_STAKE * 2), chain.admin)
    assert router.functions.previewProvider(model, 10).call() == [b.address, 5]
    rid, _ = request(chain, router, chain.users[2], model, 10)
    assert struct(router.functions.getRequest(rid))["provider"] == b.address


def expected_score(
    min_price: int, max_price: int, load: int, max_concurrent: int, success: int
) -> int:
    price = BPS if max_price == 0 else BPS - min_price * BPS // max_price
    load_score = BPS - load * BPS // max_concurrent
    return 40 * price + 30 * load_score + 30 * success + 1


def test_routing_score_price_load_and_success(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    cheap, dear = chain.users[0], chain.users[1]
    register(chain, router, cheap, [model], min_price=10, max_concurrent=2)
    register(chain, router, dear, [model], min_price=40, max_concurrent=10)
    s_cheap = router.functions.providerScore(cheap.address, 100).call()
    s_dear = router.functions.providerScore(dear.address, 100).call()
    assert s_cheap == expected_score(10, 100, 0, 2, BPS)
    assert s_dear == expected_score(40, 100, 0, 10, BPS)
    assert router.functions.providerScore(dear.address, 39).call() == 0  # priced above maxPrice
    # The cheap provider wins first.
    rid1, _ = request(chain, router, chain.users[2], model, 100)
    assert struct(router.functions.getRequest(rid1))["provider"] == cheap.address
    # Half loaded: 40*9000 + 30*5000 + 30*10000 vs 40*6000 + 30*10000 + 30*10000 -> dear wins.
    assert router.functions.providerScore(cheap.address, 100).call() == expected_score(
        10, 100, 1, 2, BPS
    )
    rid2, _ = request(chain, router, chain.users[2], model, 100)
    assert struct(router.functions.getRequest(rid2))["provider"] == dear.address
    # A failure drops the cheap provider's success rate to 0 (0 completed of 1).
    chain.send(router.functions.failInference(rid1, "gpu oom"), cheap)
    assert router.functions.successRateBps(cheap.address).call() == 0
    assert router.functions.providerScore(cheap.address, 100).call() == expected_score(
        10, 100, 0, 2, 0
    )
    assert router.functions.previewProvider(model, 100).call() == [dear.address, 40]
    assert router.functions.previewProvider(model, 5).call() == [ZERO_ADDRESS, 0]


def test_routing_ties_go_to_the_first_listed(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    a, b = chain.users[0], chain.users[1]
    register(chain, router, a, [model], min_price=0)
    register(chain, router, b, [model], min_price=0)
    rid, _ = request(chain, router, chain.users[2], model, 0, value=0)
    # Both have the maximal score; a was listed first.
    assert struct(router.functions.getRequest(rid))["provider"] == a.address
    # Zero-price request completes with nothing to pay.
    receipt = chain.send(router.functions.completeInference(rid, OUT_HASH), a)
    ev = chain.events(receipt, router, "InferenceCompleted")[0]
    assert (ev["price"], ev["fee"], ev["providerAmount"], ev["refund"]) == (0, 0, 0, 0)
    assert chain.events(receipt, router, "PaymentCredited") == []


# --------------------------------------------------------------------------- completion and splits


@pytest.mark.parametrize(
    ("price", "max_price"),
    [(1, 1), (3, 5), (10**18 + 7, 10**18 + 7), (10**18 + 7, 2 * 10**18), (40, 41), (39, 100)],
)
def test_complete_splits_exactly(
    chain: ChainUnderTest, router: Contract, model: bytes, price: int, max_price: int
) -> None:
    p, u = chain.users[0], chain.users[1]
    reg = chain.contract("ModelRegistry")
    register(chain, router, p, [model], min_price=price)
    rid, _ = request(chain, router, u, model, max_price)
    treasury_before = router.functions.creditOf(chain.treasury.address).call()
    receipt = chain.send(router.functions.completeInference(rid, OUT_HASH), p)
    fee = price * 250 // BPS
    provider_amount = price - fee  # the rounding dust stays with the provider
    refund = max_price - price
    assert fee + provider_amount + refund == max_price  # nothing lost
    assert chain.events(receipt, router, "InferenceCompleted") == [
        {
            "requestId": rid,
            "provider": p.address,
            "outputHash": OUT_HASH,
            "price": price,
            "fee": fee,
            "providerAmount": provider_amount,
            "refund": refund,
        }
    ]
    assert router.functions.creditOf(chain.treasury.address).call() - treasury_before == fee
    assert router.functions.creditOf(p.address).call() == provider_amount
    assert router.functions.creditOf(u.address).call() == refund
    assert router.functions.totalEscrowed().call() == 0
    r = struct(router.functions.getRequest(rid))
    assert (r["status"], r["outputHash"]) == (COMPLETED, OUT_HASH)
    assert r["finishedAt"] >= r["createdAt"]
    info = struct(router.functions.getProvider(p.address))
    assert (info["activeRequests"], info["completed"], info["earned"]) == (0, 1, provider_amount)
    assert chain.events(receipt, reg, "UsageRecorded") == [
        {"modelId": model, "reporter": router.address, "inferences": 1, "revenue": 0}
    ]
    solvent(chain, router)
    # Each party withdraws exactly its credit.
    for acct, amount in ((p, provider_amount), (u, refund), (chain.treasury, fee)):
        # Anyone may trigger a withdrawal; the funds go to the payee.
        chain.withdraw_exactly(router, acct.address, amount, by=chain.users[5])
    solvent(chain, router)


def test_complete_rejects(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p, u = chain.users[0], chain.users[1]
    register(chain, router, p, [model], min_price=1)
    err = chain.revert_of(router.functions.completeInference(1, OUT_HASH), p)
    assert (err.name, err.args) == ("UnknownRequest", {"requestId": 1})
    rid, _ = request(chain, router, u, model, 1)
    err = chain.revert_of(router.functions.completeInference(rid, OUT_HASH), u)
    assert (err.name, err.args) == (
        "NotAssignedProvider",
        {"requestId": rid, "provider": p.address},
    )
    err = chain.revert_of(router.functions.completeInference(rid, b"\x00" * 32), p)
    assert err.name == "ZeroOutputHash"
    chain.send(router.functions.completeInference(rid, OUT_HASH), p)
    err = chain.revert_of(router.functions.completeInference(rid, OUT_HASH), p)  # no double pay
    assert (err.name, err.args) == (
        "RequestNotAssigned",
        {"requestId": rid, "status": COMPLETED},
    )
    err = chain.revert_of(router.functions.failInference(rid, "late"), p)
    assert err.name == "RequestNotAssigned"


def test_price_and_fee_are_snapshotted_at_request_time(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p, u = chain.users[0], chain.users[1]
    register(chain, router, p, [model], min_price=1_000)
    rid, _ = request(chain, router, u, model, 5_000)
    chain.send(router.functions.updateProvider(("https://p", 5_000, 4, [model])), p)
    chain.send(router.functions.setPlatformFee(1_000), chain.admin)
    receipt = chain.send(router.functions.completeInference(rid, OUT_HASH), p)
    ev = chain.events(receipt, router, "InferenceCompleted")[0]
    assert (ev["price"], ev["fee"], ev["providerAmount"], ev["refund"]) == (1_000, 25, 975, 4_000)
    rid2, _ = request(chain, router, u, model, 5_000)
    receipt = chain.send(router.functions.completeInference(rid2, OUT_HASH), p)
    ev = chain.events(receipt, router, "InferenceCompleted")[0]
    assert (ev["price"], ev["fee"], ev["providerAmount"], ev["refund"]) == (5_000, 500, 4_500, 0)


def test_fail_refunds_in_full(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p, u = chain.users[0], chain.users[1]
    register(chain, router, p, [model], min_price=3)
    rid, _ = request(chain, router, u, model, 10**18 + 7)
    err = chain.revert_of(router.functions.failInference(rid, "x"), u)
    assert err.name == "NotAssignedProvider"
    err = chain.revert_of(router.functions.failInference(99, "x"), p)
    assert err.name == "UnknownRequest"
    receipt = chain.send(router.functions.failInference(rid, "gpu oom"), p)
    assert chain.events(receipt, router, "InferenceFailed") == [
        {"requestId": rid, "provider": p.address, "reason": "gpu oom", "refund": 10**18 + 7}
    ]
    assert router.functions.creditOf(u.address).call() == 10**18 + 7
    assert router.functions.creditOf(p.address).call() == 0
    assert router.functions.creditOf(chain.treasury.address).call() == 0
    info = struct(router.functions.getProvider(p.address))
    assert (info["activeRequests"], info["failed"], info["completed"]) == (0, 1, 0)
    assert struct(router.functions.getRequest(rid))["status"] == FAILED
    assert router.functions.successRateBps(p.address).call() == 0
    rid2, _ = request(chain, router, u, model, 3)
    chain.send(router.functions.completeInference(rid2, OUT_HASH), p)
    assert router.functions.successRateBps(p.address).call() == 5_000
    solvent(chain, router)


def test_cancel_after_timeout(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p, u = chain.users[0], chain.users[1]
    register(chain, router, p, [model], min_price=3)
    err = chain.revert_of(router.functions.cancelRequest(1), u)
    assert (err.name, err.args) == ("UnknownRequest", {"requestId": 1})
    rid, _ = request(chain, router, u, model, 1_001)
    created = struct(router.functions.getRequest(rid))["createdAt"]
    err = chain.revert_of(router.functions.cancelRequest(rid), u)
    assert (err.name, err.args) == (
        "RequestNotTimedOut",
        {"requestId": rid, "cancellableAt": created + 3600},
    )
    err = chain.revert_of(router.functions.cancelRequest(rid), chain.users[2])
    assert (err.name, err.args) == ("NotRequester", {"requestId": rid, "requester": u.address})
    chain.advance(3601)
    before = chain.balance(u.address)
    receipt = chain.send(router.functions.cancelRequest(rid), u)
    assert chain.balance(u.address) == before + 1_001 - chain.gas_cost(receipt)
    assert chain.events(receipt, router, "InferenceCancelled") == [
        {"requestId": rid, "requester": u.address, "refund": 1_001}
    ]
    assert struct(router.functions.getRequest(rid))["status"] == CANCELLED
    info = struct(router.functions.getProvider(p.address))
    assert (info["activeRequests"], info["failed"]) == (0, 1)
    err = chain.revert_of(router.functions.cancelRequest(rid), u)
    assert (err.name, err.args) == (
        "RequestNotAssigned",
        {"requestId": rid, "status": CANCELLED},
    )
    err = chain.revert_of(router.functions.completeInference(rid, OUT_HASH), p)
    assert err.name == "RequestNotAssigned"
    solvent(chain, router)


# --------------------------------------------------------------------------- admin


def test_admin_setters(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    a = chain.admin
    receipt = chain.send(router.functions.setMinProviderStake(5), a)
    assert chain.events(receipt, router, "MinProviderStakeUpdated") == [
        {"oldStake": MIN_STAKE, "newStake": 5}
    ]
    err = chain.revert_of(router.functions.setMinProviderStake(0), a)
    assert err.name == "InvalidMinStake"

    receipt = chain.send(router.functions.setPlatformFee(1_000), a)
    assert chain.events(receipt, router, "PlatformFeeUpdated") == [
        {"oldFeeBps": 250, "newFeeBps": 1000}
    ]
    err = chain.revert_of(router.functions.setPlatformFee(1_001), a)
    assert (err.name, err.args) == ("PlatformFeeTooHigh", {"bps": 1001, "maxBps": 1000})
    chain.send(router.functions.setPlatformFee(0), a)
    assert router.functions.platformFeeBps().call() == 0

    new_treasury = chain.users[7].address
    receipt = chain.send(router.functions.setTreasury(new_treasury), a)
    assert chain.events(receipt, router, "TreasuryUpdated") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": new_treasury}
    ]
    err = chain.revert_of(router.functions.setTreasury(ZERO_ADDRESS), a)
    assert err.name == "ZeroPayee"
    err = chain.revert_of(router.functions.setTreasury(router.address), a)
    assert err.name == "PayeeIsThisContract"

    receipt = chain.send(router.functions.setRequestTimeout(60), a)
    assert chain.events(receipt, router, "RequestTimeoutUpdated") == [
        {"oldTimeout": 3600, "newTimeout": 60}
    ]
    err = chain.revert_of(router.functions.setRequestTimeout(59), a)
    assert (err.name, err.args) == (
        "InvalidTimeout",
        {"timeout": 59, "min": 60, "max": 7 * 86400},
    )
    err = chain.revert_of(router.functions.setRequestTimeout(7 * 86400 + 1), a)
    assert err.name == "InvalidTimeout"

    # New fees go to the new treasury.
    chain.send(router.functions.setPlatformFee(250), a)
    register(chain, router, chain.users[0], [model], min_price=10_000, stake=5)
    rid, _ = request(chain, router, chain.users[1], model, 10_000)
    chain.send(router.functions.completeInference(rid, OUT_HASH), chain.users[0])
    assert router.functions.creditOf(new_treasury).call() == 250


@pytest.mark.parametrize(
    ("fn_name", "args"),
    [
        ("setMinProviderStake", (1,)),
        ("setPlatformFee", (100,)),
        ("setTreasury", ("0x" + "11" * 20,)),
        ("setRequestTimeout", (120,)),
        ("grantRole", (ADMIN_ROLE, "0x" + "11" * 20)),
    ],
)
def test_admin_functions_reject_others(
    chain: ChainUnderTest, router: Contract, fn_name: str, args: tuple
) -> None:
    fn = getattr(router.functions, fn_name)(*args)
    chain.assert_needs_role(fn, ADMIN_ROLE, chain.users[0], chain.treasury)


# --------------------------------------------------------------------------- views


def test_paged_views(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    register(chain, router, chain.users[0], [model], min_price=0, max_concurrent=200)
    u = chain.users[1]
    for _ in range(3):
        request(chain, router, u, model, 0)
    assert router.functions.getUserRequests(u.address, 0, 2).call() == [1, 2]
    assert router.functions.getUserRequests(u.address, 2, 10).call() == [3]
    assert router.functions.getUserRequests(u.address, 3, 10).call() == []
    assert router.functions.getUserRequests(u.address, 2**256 - 1, 2**256 - 1).call() == []
    assert router.functions.getProviders(1, 5).call() == []
    assert router.functions.getModelProviders(model, 0, 0).call() == []
    empty = struct(router.functions.getRequest(999))
    assert empty["status"] == 0 and empty["requester"] == ZERO_ADDRESS
    assert struct(router.functions.getProvider(chain.users[5].address))["registered"] is False


def test_page_limit_is_capped(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    register(chain, router, chain.users[0], [model], min_price=0, max_concurrent=1000)
    u = chain.users[1]
    for _ in range(101):
        request(chain, router, u, model, 0)
    assert len(router.functions.getUserRequests(u.address, 0, 10**6).call()) == 100
    assert router.functions.getUserRequests(u.address, 100, 10**6).call() == [101]


# --------------------------------------------------------------------------- reentrancy


def test_reentrancy_on_excess_refund(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    register(chain, router, chain.users[0], [model], min_price=1)
    atk = Reentrant.deploy(chain, chain.users[2])
    # While its excess is being refunded, the attacker tries to open another request.
    atk_fund = 10 * SALT
    chain.transfer(chain.users[2], atk.address, atk_fund)  # (not armed yet: no re-entry)
    atk.arm(router.functions.requestInference(model, IN_HASH, 1))
    atk.act(router.functions.requestInference(model, IN_HASH, 10), 25, prefunded=True)
    atk.assert_reentry_blocked()
    assert atk.received_total == atk_fund + 15
    assert router.functions.requestCount().call() == 1
    solvent(chain, router)


def test_reentrancy_on_cancel_and_withdraw(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p = chain.users[0]
    register(chain, router, p, [model], min_price=1)
    atk = Reentrant.deploy(chain, chain.users[2])
    atk.act(router.functions.requestInference(model, IN_HASH, 500), 500)
    atk.act(router.functions.requestInference(model, IN_HASH, 700), 700)
    # Cancel request 1 and try to cancel it again from the refund.
    chain.advance(3601)
    atk.arm(router.functions.cancelRequest(1))
    atk.act(router.functions.cancelRequest(1))
    atk.assert_reentry_blocked()
    assert atk.received_total == 500
    # Request 2 fails: the refund is a credit; withdrawing it re-enters withdraw.
    chain.send(router.functions.failInference(2, "x"), p)
    # A fresh attacker (each re-enters once) for the withdraw path.
    atk2 = Reentrant.deploy(chain, chain.users[3])
    atk2.act(router.functions.requestInference(model, IN_HASH, 9), 9)
    chain.send(router.functions.failInference(3, "x"), p)
    atk2.arm(router.functions.withdraw(atk2.address))
    chain.withdraw_exactly(router, atk2.address, 9, by=chain.users[4])
    atk2.assert_reentry_blocked()
    assert atk2.received_total == 9
    assert router.functions.creditOf(atk2.address).call() == 0
    assert router.functions.creditOf(atk.address).call() == 700
    solvent(chain, router)


def test_reentrancy_on_stake_withdrawal(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    atk = Reentrant.deploy(chain, chain.users[2])
    cfg = ("https://evil", 1, 4, [model])
    atk.act(router.functions.registerProvider(cfg), MIN_STAKE * 2)
    atk.arm(router.functions.withdrawStake(MIN_STAKE))
    atk.act(router.functions.withdrawStake(MIN_STAKE))
    atk.assert_reentry_blocked()
    assert atk.received_total == MIN_STAKE
    assert struct(router.functions.getProvider(atk.address))["stake"] == MIN_STAKE
    solvent(chain, router)


def test_provider_payout_reentrancy(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    """A provider contract withdrawing its earnings tries to complete another request meanwhile."""
    atk = Reentrant.deploy(chain, chain.users[2])
    cfg = ("https://evil", 1_000, 4, [model])
    atk.act(router.functions.registerProvider(cfg), MIN_STAKE)
    request(chain, router, chain.users[1], model, 1_000)
    request(chain, router, chain.users[1], model, 1_000)
    atk.act(router.functions.completeInference(1, OUT_HASH))
    atk.arm(router.functions.completeInference(2, OUT_HASH))
    atk.act(router.functions.withdraw(atk.address))
    atk.assert_reentry_blocked()
    assert atk.received_total == 975
    assert struct(router.functions.getRequest(2))["status"] == ASSIGNED
    solvent(chain, router)


def test_rejecting_payee_keeps_its_credit(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p = chain.users[0]
    register(chain, router, p, [model], min_price=1)
    rej = Reentrant.deploy(chain, chain.users[2])
    rej.refuse_payments()
    # Excess value cannot be pushed back to a contract that refuses it: the request reverts.
    with pytest.raises(Reverted) as info:
        rej.act(router.functions.requestInference(model, IN_HASH, 10), 11)
    assert info.value.error.name == "PaymentFailed"
    rej.act(router.functions.requestInference(model, IN_HASH, 10), 10)
    chain.send(router.functions.completeInference(1, OUT_HASH), p)
    err = chain.revert_of(router.functions.withdraw(rej.address), chain.users[3])
    assert (err.name, err.args) == ("PaymentFailed", {"payee": rej.address, "amount": 9})
    assert router.functions.creditOf(rej.address).call() == 9
    solvent(chain, router)


# --------------------------------------------------------------------------- invariant

_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("request"),
            st.integers(0, 2),
            st.sampled_from([0, 1, 3, 40, 10**18 + 7]),
            st.integers(0, 5),
        ),
        st.tuples(st.just("complete"), st.integers(0, 10)),
        st.tuples(st.just("fail"), st.integers(0, 10)),
        st.tuples(st.just("cancel"), st.integers(0, 10)),
        st.tuples(st.just("withdraw"), st.integers(0, 6)),
        st.tuples(st.just("stake"), st.integers(0, 2), st.sampled_from([1, 7, SALT])),
        st.tuples(st.just("unstake"), st.integers(0, 2), st.sampled_from([1, SALT])),
        st.tuples(st.just("fee"), st.sampled_from([0, 1, 250, 999, 1000])),
    ),
    min_size=1,
    max_size=10,
)


def test_invariant_balance_equals_stakes_escrow_and_credits(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    providers = chain.users[0:3]
    requesters = chain.users[3:6]
    for prov, price in zip(providers, (1, 3, 10**18 + 7), strict=True):
        register(
            chain, router, prov, [model], min_price=price, max_concurrent=3, stake=MIN_STAKE + SALT
        )
    accounts = [*providers, *requesters]
    payees = [a.address for a in accounts] + [chain.treasury.address]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=_OPS)
    def run(ops: list[tuple]) -> None:
        snap = chain.snapshot()
        try:
            open_ids: list[int] = []
            paid: set[int] = set()
            for op in ops:
                kind = op[0]
                if kind == "request":
                    _, who, max_price, extra = op
                    try:
                        rid, _ = request(
                            chain,
                            router,
                            requesters[who],
                            model,
                            max_price,
                            value=max_price + extra,
                        )
                        open_ids.append(rid)
                    except Reverted as e:
                        assert e.error.name == "NoProviderAvailable"
                elif kind in ("complete", "fail", "cancel") and open_ids:
                    rid = open_ids[op[1] % len(open_ids)]
                    r = struct(router.functions.getRequest(rid))
                    prov = next(a for a in providers if a.address == r["provider"])
                    if kind == "complete":
                        chain.send(router.functions.completeInference(rid, OUT_HASH), prov)
                    elif kind == "fail":
                        chain.send(router.functions.failInference(rid, "x"), prov)
                    else:
                        chain.advance(3601)
                        requester = next(a for a in requesters if a.address == r["requester"])
                        chain.send(router.functions.cancelRequest(rid), requester)
                    assert rid not in paid
                    paid.add(rid)
                    open_ids.remove(rid)
                    # A finished request can never be finished (paid) again.
                    assert chain.revert_of(
                        router.functions.completeInference(rid, OUT_HASH), prov
                    ).name == ("RequestNotAssigned")
                elif kind == "withdraw":
                    payee = payees[op[1]]
                    if router.functions.creditOf(payee).call():
                        chain.send(router.functions.withdraw(payee), chain.users[9])
                elif kind == "stake":
                    chain.send(router.functions.addStake(), providers[op[1]], value=op[2])
                elif kind == "unstake":
                    prov = providers[op[1]]
                    info = struct(router.functions.getProvider(prov.address))
                    if info["activeRequests"] == 0 and info["stake"] - op[2] >= MIN_STAKE:
                        chain.send(router.functions.withdrawStake(op[2]), prov)
                elif kind == "fee":
                    chain.send(router.functions.setPlatformFee(op[1]), chain.admin)
                solvent(chain, router)
            escrow = sum(struct(router.functions.getRequest(i))["maxPrice"] for i in open_ids)
            assert router.functions.totalEscrowed().call() == escrow
            credits = sum(router.functions.creditOf(a).call() for a in payees)
            assert router.functions.totalCredits().call() == credits
        finally:
            chain.revert_to(snap)

    run()
