"""Audit fixes in InferenceRouter, LoRAFactory and IPFSIncentives: provider-slot squatting,
registry access rules, operator-independent refunds, snapshotted deadlines, payee checks,
bounded failure reasons, named zero-address errors and claims to another address."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ZERO_ADDRESS, ChainUnderTest
from .models import register_model

SALT = 10**18
MIN_STAKE = 100 * SALT
MAX_PRICE = 1_000_000 * SALT
IN_HASH = keccak(text="input")
OUT_HASH = keccak(text="output")
FEE_PER_EPOCH = 10**16
MERGE_FEE = 5 * 10**16
JOB_TIMEOUT = 7 * 86_400
HALF = 10**18 // 2
LORA_READY, LORA_CANCELLED = 2, 4
MERGE_PENDING, MERGE_CANCELLED = 1, 4
LONG_REASON = "x" * 257


@pytest.fixture
def router(chain: ChainUnderTest) -> Contract:
    return chain.contract("InferenceRouter")


@pytest.fixture
def lora(chain: ChainUnderTest) -> Contract:
    return chain.contract("LoRAFactory")


@pytest.fixture
def registry(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelRegistry")


@pytest.fixture
def model(chain: ChainUnderTest) -> bytes:
    return register_model(chain, chain.users[9], "llama")


def cfg(models: list[bytes], min_price: int = 10**15, endpoint: str = "https://p/v1") -> tuple:
    return (endpoint, min_price, 4, models)


def register(
    chain: ChainUnderTest,
    router: Contract,
    who: Any,
    models: list[bytes],
    min_price: int = 10**15,
    stake: int = MIN_STAKE,
) -> Any:
    return chain.send(router.functions.registerProvider(cfg(models, min_price)), who, stake)


def request(
    chain: ChainUnderTest, router: Contract, user: Any, model: bytes, max_price: int
) -> int:
    receipt = chain.send(
        router.functions.requestInference(model, IN_HASH, max_price), user, max_price
    )
    return int(chain.events(receipt, router, "InferenceRequested")[0]["requestId"])


def squatters(
    chain: ChainUnderTest, router: Contract, model: bytes, price: int, n: int = 32
) -> list[Any]:
    """``n`` fresh accounts, each listed for ``model`` alone at ``price``, minimum stake."""
    accounts = []
    for _ in range(n):
        acct = Account.create()
        chain.transfer(chain.users[8], acct.address, MIN_STAKE + SALT)
        register(chain, router, acct, [model], min_price=price)
        accounts.append(acct)
    assert router.functions.modelProviderCount(model).call() == n
    return accounts


def solvent_router(chain: ChainUnderTest, router: Contract) -> None:
    chain.assert_backed(router, "totalStaked", "totalEscrowed", "totalCredits")


def solvent_lora(chain: ChainUnderTest, lora: Contract) -> None:
    chain.assert_backed(lora, "totalEscrowed", "totalCredits")


# --------------------------------------------------------------------------- 1. squatting


def test_min_price_is_capped(chain: ChainUnderTest, router: Contract, model: bytes) -> None:
    p = chain.users[0]
    fn = router.functions.registerProvider(cfg([model], MAX_PRICE + 1))
    err = chain.revert_of(fn, p, MIN_STAKE)
    assert (err.name, err.args) == ("PriceTooHigh", {"price": MAX_PRICE + 1, "max": MAX_PRICE})
    assert router.functions.MAX_PRICE().call() == MAX_PRICE
    register(chain, router, p, [model], min_price=MAX_PRICE)
    err = chain.revert_of(router.functions.updateProvider(cfg([model], 10**30)), p)
    assert err.name == "PriceTooHigh"


def test_32_squatters_cannot_block_a_model(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    squat = squatters(chain, router, model, MAX_PRICE)
    honest, user = chain.users[0], chain.users[1]
    # Not strictly cheaper than the dearest: still refused.
    fn = router.functions.registerProvider(cfg([model], MAX_PRICE))
    err = chain.revert_of(fn, honest, MIN_STAKE)
    assert (err.name, err.args) == ("TooManyProviders", {"modelId": model, "maxProviders": 32})
    # A cheaper honest provider takes the dearest slot (the first listed on a tie).
    receipt = register(chain, router, honest, [model], min_price=10**15)
    assert chain.events(receipt, router, "ProviderEvicted") == [
        {
            "modelId": model,
            "evicted": squat[0].address,
            "newcomer": honest.address,
            "ineligible": False,
        }
    ]
    assert router.functions.modelProviderCount(model).call() == 32
    listed = router.functions.getModelProviders(model, 0, 100).call()
    assert honest.address in listed and squat[0].address not in listed
    assert router.functions.getProviderModels(squat[0].address).call() == []
    rid = request(chain, router, user, model, 10**15)
    assert router.functions.getRequest(rid).call()[4] == honest.address
    # The evicted squatter keeps its stake and may leave at will; its slot is not re-taken.
    chain.send(router.functions.withdrawStake(MIN_STAKE), squat[0])
    # Squatters deactivating leave the lists at once (no dead slots).
    receipt = chain.send(router.functions.setProviderActive(False), squat[1])
    assert chain.events(receipt, router, "ProviderDelisted") == [
        {"modelId": model, "provider": squat[1].address}
    ]
    assert router.functions.modelProviderCount(model).call() == 31
    # Admin raises the minimum stake: the under-staked squatters become evictable even by a
    # provider that is not cheaper.
    chain.send(router.functions.setMinProviderStake(2 * MIN_STAKE), chain.admin)
    chain.send(router.functions.setProviderActive(False), honest)  # frees one more slot
    newcomers = [chain.users[2], chain.users[3]]
    for nc in newcomers:
        register(chain, router, nc, [model], min_price=MAX_PRICE, stake=2 * MIN_STAKE)
    assert router.functions.modelProviderCount(model).call() == 32
    receipt = register(
        chain, router, chain.users[4], [model], min_price=MAX_PRICE, stake=2 * MIN_STAKE
    )
    (ev,) = chain.events(receipt, router, "ProviderEvicted")
    assert ev["ineligible"] is True and ev["newcomer"] == chain.users[4].address
    assert ev["evicted"] in {a.address for a in squat[2:]}
    solvent_router(chain, router)


def test_eviction_does_not_strand_assigned_requests(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    price = SALT
    squat = squatters(chain, router, model, price)
    user, honest = chain.users[1], chain.users[0]
    rid = request(chain, router, user, model, price)
    assigned = router.functions.getRequest(rid).call()[4]
    assert assigned == squat[0].address
    receipt = register(chain, router, honest, [model], min_price=price - 1)
    (ev,) = chain.events(receipt, router, "ProviderEvicted")
    assert ev["evicted"] == squat[0].address
    # Stake stays locked while the request is open; the provider still completes and is paid.
    err = chain.revert_of(router.functions.withdrawStake(MIN_STAKE), squat[0])
    assert (err.name, err.args["activeRequests"]) == ("StakeLocked", 1)
    chain.send(router.functions.completeInference(rid, OUT_HASH), squat[0])
    fee = price * 250 // 10_000
    assert router.functions.creditOf(squat[0].address).call() == price - fee
    chain.send(router.functions.withdrawStake(MIN_STAKE), squat[0])
    solvent_router(chain, router)


def test_deactivation_delists_and_reactivation_relists(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p, q = chain.users[0], chain.users[1]
    register(chain, router, p, [model])
    receipt = chain.send(router.functions.setProviderActive(False), p)
    assert chain.events(receipt, router, "ProviderDelisted") == [
        {"modelId": model, "provider": p.address}
    ]
    assert router.functions.modelProviderCount(model).call() == 0
    assert router.functions.getProviderModels(p.address).call() == [model]  # kept for later
    chain.send(router.functions.setProviderActive(True), p)
    assert router.functions.getModelProviders(model, 0, 10).call() == [p.address]
    rid = request(chain, router, chain.users[2], model, 10**15)
    assert router.functions.getRequest(rid).call()[4] == p.address
    # updateProvider while inactive lists the new models and reactivates.
    chain.send(router.functions.setProviderActive(False), p)
    register(chain, router, q, [model])
    receipt = chain.send(router.functions.updateProvider(cfg([model], 5)), p)
    assert chain.events(receipt, router, "ProviderStatusChanged") == [
        {"provider": p.address, "active": True}
    ]
    assert router.functions.getModelProviders(model, 0, 10).call() == [q.address, p.address]


def test_reactivation_on_a_full_list_follows_the_eviction_rules(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    squat = squatters(chain, router, model, 10**15)
    chain.send(router.functions.setProviderActive(False), squat[0])
    register(chain, router, chain.users[0], [model], min_price=10**15)
    err = chain.revert_of(router.functions.setProviderActive(True), squat[0])
    assert (err.name, err.args) == ("TooManyProviders", {"modelId": model, "maxProviders": 32})
    chain.send(router.functions.updateProvider(cfg([model], 10**15 - 1)), squat[0])
    assert squat[0].address in router.functions.getModelProviders(model, 0, 100).call()


# --------------------------------------------------------------------------- 2. access rules


def test_router_enforces_registry_access(
    chain: ChainUnderTest, router: Contract, registry: Contract
) -> None:
    owner, user, p = chain.users[9], chain.users[1], chain.users[0]
    priced = register_model(chain, owner, "priced", price=10**16)
    register(chain, router, p, [priced])
    fn = router.functions.requestInference(priced, IN_HASH, 10**15)
    err = chain.revert_of(fn, user, 10**15)
    assert (err.name, err.args) == ("NoModelAccess", {"modelId": priced, "user": user.address})
    request(chain, router, owner, priced, 10**15)  # the owner always has access
    chain.send(registry.functions.grantAccess(priced, user.address), owner)
    request(chain, router, user, priced, 10**15)


def test_lora_create_needs_base_access(
    chain: ChainUnderTest, lora: Contract, registry: Contract
) -> None:
    owner, creator = chain.users[9], chain.users[1]
    priced = register_model(chain, owner, "priced", price=10**16)
    fn = lora.functions.createLoRA(*create_args(priced))
    err = chain.revert_of(fn, creator, 3 * FEE_PER_EPOCH)
    assert (err.name, err.args) == (
        "NoBaseModelAccess",
        {"baseModelId": priced, "user": creator.address},
    )
    chain.send(registry.functions.grantAccess(priced, creator.address), owner)
    chain.send(fn, creator, 3 * FEE_PER_EPOCH)


def test_lora_price_not_below_base_price(
    chain: ChainUnderTest, lora: Contract, registry: Contract
) -> None:
    owner, creator, user = chain.users[9], chain.users[1], chain.users[2]
    base = register_model(chain, owner, "base", price=0)
    lid = ready_lora(chain, lora, creator, base, price=1_001)
    chain.send(registry.functions.setInferencePrice(base, 10**15), owner)
    err = chain.revert_of(lora.functions.inferWithLoRA(lid), user, 1_001)
    assert (err.name, err.args) == (
        "PriceBelowBaseModel",
        {"loraId": lid, "price": 1_001, "basePrice": 10**15},
    )
    odd = 10**15 + 7
    chain.send(lora.functions.setInferencePrice(lid, odd), creator)
    receipt = chain.send(lora.functions.inferWithLoRA(lid), user, odd)
    (ev,) = chain.events(receipt, lora, "LoRAInference")
    base_share = odd * 8_000 // 10_000
    assert (ev["baseOwnerAmount"], ev["creatorAmount"]) == (base_share, odd - base_share)
    solvent_lora(chain, lora)


# --------------------------------------------------------------------------- 3. LoRA deadlines


def create_args(base: bytes, epochs: int = 3) -> tuple:
    config = (epochs, 8, 2 * 10**14, "bafydataset", 10_000, 1_000)
    return (base, "pirate-lora", "talks like a pirate", 16, 32, 500, config)


def create_lora(chain: ChainUnderTest, lora: Contract, creator: Any, base: bytes) -> bytes:
    receipt = chain.send(lora.functions.createLoRA(*create_args(base)), creator, 3 * FEE_PER_EPOCH)
    return bytes(chain.events(receipt, lora, "LoRACreated")[0]["loraId"])


def ready_lora(
    chain: ChainUnderTest, lora: Contract, creator: Any, base: bytes, price: int = 0
) -> bytes:
    lid = create_lora(chain, lora, creator, base)
    chain.send(lora.functions.completeTraining(lid, "bafyadapter"), chain.admin)
    chain.send(lora.functions.setPublic(lid, True), creator)
    if price:
        chain.send(lora.functions.setInferencePrice(lid, price), creator)
    return lid


def lora_field(lora: Contract, lid: bytes, name: str) -> Any:
    fn = lora.functions.getLoRA(lid)
    names = [c["name"] for c in fn.abi["outputs"][0]["components"]]
    return fn.call()[names.index(name)]


def merge_field(lora: Contract, mid: bytes, name: str) -> Any:
    fn = lora.functions.getMergeRequest(mid)
    names = [c["name"] for c in fn.abi["outputs"][0]["components"]]
    return fn.call()[names.index(name)]


def test_training_cancel_after_deadline(chain: ChainUnderTest, lora: Contract) -> None:
    creator = chain.users[1]
    base = register_model(chain, chain.users[9], "base")
    lid = create_lora(chain, lora, creator, base)
    deadline = lora_field(lora, lid, "deadline")
    assert deadline == lora_field(lora, lid, "createdAt") + JOB_TIMEOUT
    # A longer timeout set later does not move this job's deadline.
    chain.send(lora.functions.setJobTimeout(30 * 86_400), chain.admin)
    err = chain.revert_of(lora.functions.cancelTraining(lid), creator)
    assert (err.name, err.args) == ("DeadlineNotReached", {"deadline": deadline})
    chain.advance(JOB_TIMEOUT + 1)
    err = chain.revert_of(lora.functions.cancelTraining(lid), chain.users[2])
    assert err.name == "NotCreator"
    receipt = chain.send(lora.functions.cancelTraining(lid), creator)
    fee = 3 * FEE_PER_EPOCH
    assert chain.events(receipt, lora, "TrainingCancelled") == [{"loraId": lid, "refund": fee}]
    assert lora_field(lora, lid, "status") == LORA_CANCELLED
    assert lora.functions.totalEscrowed().call() == 0
    err = chain.revert_of(lora.functions.completeTraining(lid, "bafyadapter"), chain.admin)
    assert (err.name, err.args["actual"]) == ("WrongLoRAStatus", LORA_CANCELLED)
    err = chain.revert_of(lora.functions.cancelTraining(lid), creator)
    assert err.name == "WrongLoRAStatus"
    chain.withdraw_exactly(lora, creator.address, fee, by=chain.users[3])
    solvent_lora(chain, lora)


def test_merge_cancel_after_deadline(chain: ChainUnderTest, lora: Contract) -> None:
    creator, requester = chain.users[1], chain.users[2]
    base = register_model(chain, chain.users[9], "base")
    ids = [ready_lora(chain, lora, creator, base) for _ in range(2)]
    receipt = chain.send(lora.functions.mergeLoRAs(ids, [HALF, HALF], 0), requester, MERGE_FEE)
    mid = bytes(chain.events(receipt, lora, "MergeRequested")[0]["requestId"])
    deadline = merge_field(lora, mid, "deadline")
    err = chain.revert_of(lora.functions.cancelMerge(mid), requester)
    assert (err.name, err.args) == ("DeadlineNotReached", {"deadline": deadline})
    chain.advance(JOB_TIMEOUT + 1)
    err = chain.revert_of(lora.functions.cancelMerge(mid), creator)
    assert (err.name, err.args) == (
        "NotMergeRequester",
        {"requestId": mid, "requester": requester.address},
    )
    receipt = chain.send(lora.functions.cancelMerge(mid), requester)
    assert chain.events(receipt, lora, "MergeCancelled") == [
        {"requestId": mid, "refund": MERGE_FEE}
    ]
    assert merge_field(lora, mid, "status") == MERGE_CANCELLED
    err = chain.revert_of(lora.functions.completeMerge(mid, "bafymerged"), chain.admin)
    assert (err.name, err.args["status"]) == ("MergeNotPending", MERGE_CANCELLED)
    chain.withdraw_exactly(lora, requester.address, MERGE_FEE, by=requester)
    solvent_lora(chain, lora)


def test_job_timeout_setter(chain: ChainUnderTest, lora: Contract) -> None:
    assert lora.functions.jobTimeout().call() == JOB_TIMEOUT
    for bad in (3_599, 90 * 86_400 + 1):
        err = chain.revert_of(lora.functions.setJobTimeout(bad), chain.admin)
        assert (err.name, err.args) == (
            "InvalidJobTimeout",
            {"timeout": bad, "min": 3_600, "max": 90 * 86_400},
        )
    receipt = chain.send(lora.functions.setJobTimeout(3_600), chain.admin)
    assert chain.events(receipt, lora, "JobTimeoutUpdated") == [
        {"oldTimeout": JOB_TIMEOUT, "newTimeout": 3_600}
    ]
    err = chain.revert_of(lora.functions.setJobTimeout(3_600), chain.users[0])
    assert err.name == "AccessControlUnauthorizedAccount"


# --------------------------------------------------------------------------- 4. router deadline


def test_request_timeout_is_snapshotted(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p, user = chain.users[0], chain.users[1]
    register(chain, router, p, [model])
    rid = request(chain, router, user, model, 10**15)
    fn = router.functions.getRequest(rid)
    names = [c["name"] for c in fn.abi["outputs"][0]["components"]]
    r = dict(zip(names, fn.call(), strict=True))
    assert r["cancellableAt"] == r["createdAt"] + 3_600
    chain.send(router.functions.setRequestTimeout(7 * 86_400), chain.admin)
    chain.advance(3_601)
    receipt = chain.send(router.functions.cancelRequest(rid), user)
    assert chain.events(receipt, router, "InferenceCancelled")[0]["refund"] == 10**15
    solvent_router(chain, router)


# --------------------------------------------------------------------------- 5. payees


@pytest.mark.parametrize("name", ["InferenceRouter", "LoRAFactory"])
def test_treasury_must_be_a_payee(chain: ChainUnderTest, name: str) -> None:
    c = chain.contract(name)
    err = chain.revert_of(c.functions.setTreasury(c.address), chain.admin)
    assert err.name == "PayeeIsThisContract"
    err = chain.revert_of(c.functions.setTreasury(ZERO_ADDRESS), chain.admin)
    assert err.name == "ZeroPayee"
    reg = chain.addresses["ModelRegistry"]
    err = chain.deploy_revert(name, chain.users[0], chain.admin.address, reg, ZERO_ADDRESS)
    assert err.name == "ZeroPayee"
    err = chain.deploy_revert(name, chain.users[0], ZERO_ADDRESS, reg, chain.treasury.address)
    assert (err.name, err.args) == ("ZeroAddress", {"what": "admin"})
    err = chain.deploy_revert(
        name, chain.users[0], chain.admin.address, ZERO_ADDRESS, chain.treasury.address
    )
    assert (err.name, err.args) == ("ZeroAddress", {"what": "registry"})


def test_router_withdraw_to_for_provider_and_treasury(
    chain: ChainUnderTest, router: Contract, model: bytes
) -> None:
    p, user, dest = chain.users[0], chain.users[1], Account.create().address
    price = 10**15 + 3
    register(chain, router, p, [model], min_price=price)
    rid = request(chain, router, user, model, price)
    chain.send(router.functions.completeInference(rid, OUT_HASH), p)
    fee = price * 250 // 10_000
    receipt = chain.send(router.functions.withdrawTo(dest), p)
    assert chain.events(receipt, router, "PaymentWithdrawnTo") == [
        {"payee": p.address, "to": dest, "amount": price - fee}
    ]
    assert chain.balance(dest) == price - fee
    chain.transfer(chain.users[7], chain.treasury.address, SALT)  # gas for the treasury key
    receipt = chain.send(router.functions.withdrawTo(dest), chain.treasury)
    assert chain.events(receipt, router, "PaymentWithdrawnTo")[0]["amount"] == fee
    assert chain.balance(dest) == price
    solvent_router(chain, router)


def test_ipfs_claim_rewards_to(chain: ChainUnderTest) -> None:
    ipfs = chain.contract("IPFSIncentives")
    chain.send(ipfs.functions.fund(), chain.users[9], 100 * SALT)
    pinner = Reentrant.deploy(chain, chain.users[0])
    pinner.refuse_payments()
    chain.send(ipfs.functions.reportPinning("bafypin", 10**9, 0, pinner.address), chain.admin)
    owed = 2 * SALT
    assert ipfs.functions.rewardsOf(pinner.address).call() == owed
    # The pinner cannot receive ether, so a plain claim fails; a claim to another address works.
    with pytest.raises(AssertionError):
        pinner.act(ipfs.functions.claimRewards())
    dest = Account.create().address
    receipt = pinner.act(ipfs.functions.claimRewardsTo(dest))
    assert chain.events(receipt, ipfs, "RewardsClaimedTo") == [
        {"pinner": pinner.address, "to": dest, "amount": owed}
    ]
    assert chain.balance(dest) == owed
    assert ipfs.functions.rewardsOf(pinner.address).call() == 0
    assert ipfs.functions.totalClaimed().call() == owed


def test_ipfs_claim_rewards_to_rejects_bad_recipients(chain: ChainUnderTest) -> None:
    ipfs = chain.contract("IPFSIncentives")
    chain.send(ipfs.functions.fund(), chain.users[9], 100 * SALT)
    pinner = chain.users[1]
    chain.send(ipfs.functions.reportPinning("bafypin", 10**9, 0, pinner.address), chain.admin)
    err = chain.revert_of(ipfs.functions.claimRewardsTo(ZERO_ADDRESS), pinner)
    assert (err.name, err.args) == ("ZeroAddress", {})
    err = chain.revert_of(ipfs.functions.claimRewardsTo(ipfs.address), pinner)
    assert (err.name, err.args) == ("InvalidRecipient", {"to": ipfs.address})
    err = chain.revert_of(ipfs.functions.claimRewardsTo(chain.users[2].address), chain.users[3])
    assert err.name == "NothingToClaim"


# --------------------------------------------------------------------------- 6. reasons


def test_failure_reasons_are_bounded(
    chain: ChainUnderTest, router: Contract, lora: Contract, model: bytes
) -> None:
    p, user = chain.users[0], chain.users[1]
    register(chain, router, p, [model])
    rid = request(chain, router, user, model, 10**15)
    err = chain.revert_of(router.functions.failInference(rid, LONG_REASON), p)
    assert (err.name, err.args) == ("ReasonTooLong", {"length": 257, "max": 256})
    chain.send(router.functions.failInference(rid, "x" * 256), p)

    lid = create_lora(chain, lora, user, model)
    err = chain.revert_of(lora.functions.failTraining(lid, LONG_REASON), chain.admin)
    assert (err.name, err.args) == ("ReasonTooLong", {"length": 257, "max": 256})
    ids = [ready_lora(chain, lora, user, model) for _ in range(2)]
    receipt = chain.send(lora.functions.mergeLoRAs(ids, [HALF, HALF], 0), user, MERGE_FEE)
    mid = bytes(chain.events(receipt, lora, "MergeRequested")[0]["requestId"])
    err = chain.revert_of(lora.functions.failMerge(mid, LONG_REASON), chain.admin)
    assert (err.name, err.args) == ("ReasonTooLong", {"length": 257, "max": 256})
    chain.send(lora.functions.failMerge(mid, "y" * 256), chain.admin)


def test_lora_zero_user_is_named(chain: ChainUnderTest, lora: Contract) -> None:
    creator = chain.users[1]
    base = register_model(chain, chain.users[9], "base")
    lid = create_lora(chain, lora, creator, base)
    err = chain.revert_of(lora.functions.grantPermission(lid, ZERO_ADDRESS), creator)
    assert (err.name, err.args) == ("ZeroAddress", {"what": "user"})
