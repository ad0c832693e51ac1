"""LoRAFactory: adapters, training and merge jobs, the 80/20 split, access, reentrancy."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ZERO_ADDRESS, ChainUnderTest, struct
from .models import register_model

SALT = 10**18
FEE_PER_EPOCH = SALT // 100
MERGE_FEE = 5 * SALT // 100
OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
TRAINING, READY, FAILED = 1, 2, 3
PENDING, COMPLETED = 1, 2
LINEAR, SVD, TASK_ARITHMETIC, TIES = 0, 1, 2, 3
HALF = 10**18 // 2


# --------------------------------------------------------------------------- helpers


def config(epochs: int = 3, **over: Any) -> tuple:
    c = {
        "epochs": epochs,
        "batchSize": 8,
        "learningRate": 2 * 10**14,
        "datasetCID": "bafydataset",
        "datasetSize": 10_000,
        "validationSplitBps": 1_000,
    }
    c.update(over)
    return tuple(c.values())


def create_args(base: bytes, **over: Any) -> tuple:
    a = {
        "baseModelId": base,
        "name": "pirate-lora",
        "description": "talks like a pirate",
        "rank": 16,
        "alpha": 32,
        "dropoutBps": 500,
        "config": config(),
    }
    a.update(over)
    return tuple(a.values())


def solvent(chain: ChainUnderTest, lora: Contract) -> None:
    chain.assert_backed(lora, "totalEscrowed", "totalCredits")


@pytest.fixture
def lora(chain: ChainUnderTest) -> Contract:
    return chain.contract("LoRAFactory")


@pytest.fixture
def base_owner(chain: ChainUnderTest) -> Any:
    return chain.users[9]


@pytest.fixture
def base(chain: ChainUnderTest, base_owner: Any) -> bytes:
    return register_model(chain, base_owner, "base")


def create(
    chain: ChainUnderTest, lora: Contract, creator: Any, base: bytes, epochs: int = 3, **over: Any
) -> bytes:
    args = create_args(base, config=config(epochs), **over)
    receipt = chain.send(lora.functions.createLoRA(*args), creator, value=epochs * FEE_PER_EPOCH)
    return bytes(chain.events(receipt, lora, "LoRACreated")[0]["loraId"])


def ready(
    chain: ChainUnderTest,
    lora: Contract,
    creator: Any,
    base: bytes,
    price: int = 0,
    public: bool = True,
    **over: Any,
) -> bytes:
    lid = create(chain, lora, creator, base, **over)
    chain.send(lora.functions.completeTraining(lid, "bafyadapter"), chain.admin)
    if public:
        chain.send(lora.functions.setPublic(lid, True), creator)
    if price:
        chain.send(lora.functions.setInferencePrice(lid, price), creator)
    return lid


# --------------------------------------------------------------------------- deployment


def test_initial_state(chain: ChainUnderTest, lora: Contract) -> None:
    assert lora.functions.registry().call() == chain.addresses["ModelRegistry"]
    assert lora.functions.treasury().call() == chain.treasury.address
    assert lora.functions.trainingFeePerEpoch().call() == FEE_PER_EPOCH
    assert lora.functions.mergeFee().call() == MERGE_FEE
    assert lora.functions.BASE_OWNER_SHARE_BPS().call() == 8_000
    assert lora.functions.WEIGHT_SCALE().call() == 10**18
    assert lora.functions.OPERATOR_ROLE().call() == OPERATOR_ROLE
    assert lora.functions.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert lora.functions.hasRole(OPERATOR_ROLE, chain.admin.address).call()
    assert lora.functions.totalLoRAs().call() == 0
    assert lora.functions.trainingFee(7).call() == 7 * FEE_PER_EPOCH
    reg = chain.contract("ModelRegistry")
    assert reg.functions.hasRole(reg.functions.USAGE_REPORTER_ROLE().call(), lora.address).call()
    solvent(chain, lora)


@pytest.mark.parametrize("zero_at", [0, 1, 2])
def test_constructor_rejects_zero_addresses(chain: ChainUnderTest, zero_at: int) -> None:
    args = [chain.admin.address, chain.addresses["ModelRegistry"], chain.treasury.address]
    args[zero_at] = ZERO_ADDRESS
    err = chain.deploy_revert("LoRAFactory", chain.users[0], *args)
    expected = [("ZeroAddress", {"what": "admin"}), ("ZeroAddress", {"what": "registry"})]
    expected.append(("ZeroPayee", {}))
    assert (err.name, err.args) == expected[zero_at]


# --------------------------------------------------------------------------- creation


def test_create_lora(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    u = chain.users[0]
    before = chain.balance(u.address)
    args = create_args(base, config=config(5))
    receipt = chain.send(lora.functions.createLoRA(*args), u, value=5 * FEE_PER_EPOCH)
    assert chain.balance(u.address) == before - 5 * FEE_PER_EPOCH - chain.gas_cost(receipt)
    (created,) = chain.events(receipt, lora, "LoRACreated")
    lid = bytes(created["loraId"])
    assert created == {
        "loraId": lid,
        "baseModelId": base,
        "creator": u.address,
        "name": "pirate-lora",
    }
    assert chain.events(receipt, lora, "TrainingStarted") == [
        {"loraId": lid, "epochs": 5, "cost": 5 * FEE_PER_EPOCH}
    ]
    info = struct(lora.functions.getLoRA(lid))
    assert info["status"] == TRAINING and info["creator"] == u.address
    assert info["baseModelId"] == base and info["isPublic"] is False
    assert (info["rank"], info["alpha"], info["dropoutBps"]) == (16, 32, 500)
    assert info["trainingCost"] == 5 * FEE_PER_EPOCH
    assert info["config"] == config(5)
    assert info["adapterCID"] == "" and info["inferencePrice"] == 0
    assert info["description"] == "talks like a pirate"
    assert lora.functions.totalEscrowed().call() == 5 * FEE_PER_EPOCH
    assert lora.functions.getAllLoRAs(0, 10).call() == [lid]
    assert lora.functions.getUserLoRAs(u.address, 0, 10).call() == [lid]
    assert lora.functions.getModelLoRAs(base, 0, 10).call() == [lid]
    assert lora.functions.loraCountOf(u.address).call() == 1
    assert lora.functions.loraCountOfModel(base).call() == 1
    # The same arguments again make a different adapter.
    lid2 = create(chain, lora, u, base, epochs=5)
    assert lid2 != lid
    solvent(chain, lora)


@pytest.mark.parametrize(
    ("over", "error", "args"),
    [
        ({"name": ""}, "InvalidName", {"length": 0, "maxLength": 64}),
        ({"name": "n" * 65}, "InvalidName", {"length": 65, "maxLength": 64}),
        ({"description": "d" * 1025}, "DescriptionTooLong", {"length": 1025, "maxLength": 1024}),
        ({"rank": 0}, "InvalidRank", {"rank": 0, "max": 1024}),
        ({"rank": 1025}, "InvalidRank", {"rank": 1025, "max": 1024}),
        ({"alpha": 0}, "InvalidAlpha", {"alpha": 0, "max": 65536}),
        ({"alpha": 65537}, "InvalidAlpha", {"alpha": 65537, "max": 65536}),
        ({"dropoutBps": 10_000}, "InvalidDropout", {"dropoutBps": 10_000}),
        ({"config": config(0)}, "InvalidEpochs", {"epochs": 0, "max": 1000}),
        ({"config": config(1001)}, "InvalidEpochs", {"epochs": 1001, "max": 1000}),
        ({"config": config(batchSize=0)}, "InvalidBatchSize", {"batchSize": 0, "max": 65536}),
        (
            {"config": config(batchSize=65537)},
            "InvalidBatchSize",
            {"batchSize": 65537, "max": 65536},
        ),
        ({"config": config(learningRate=0)}, "InvalidLearningRate", {"learningRate": 0}),
        (
            {"config": config(learningRate=10**18 + 1)},
            "InvalidLearningRate",
            {"learningRate": 10**18 + 1},
        ),
        ({"config": config(datasetCID="")}, "InvalidCID", {"length": 0, "maxLength": 128}),
        ({"config": config(datasetCID="c" * 129)}, "InvalidCID", {"length": 129, "maxLength": 128}),
        ({"config": config(datasetSize=0)}, "InvalidDatasetSize", {}),
        (
            {"config": config(validationSplitBps=10_000)},
            "InvalidValidationSplit",
            {"validationSplitBps": 10_000},
        ),
    ],
)
def test_create_rejects_bad_parameters(
    chain: ChainUnderTest, lora: Contract, base: bytes, over: dict, error: str, args: dict
) -> None:
    cfg = over.get("config", config())
    err = chain.revert_of(
        lora.functions.createLoRA(*create_args(base, **over)),
        chain.users[0],
        value=cfg[0] * FEE_PER_EPOCH,
    )
    assert (err.name, err.args) == (error, args)


def test_create_accepts_the_bounds(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    over = {
        "name": "n" * 64,
        "description": "d" * 1024,
        "rank": 1024,
        "alpha": 65536,
        "dropoutBps": 9_999,
    }
    cfg = config(1000, batchSize=65536, learningRate=10**18, validationSplitBps=9_999)
    args = create_args(base, config=cfg, **over)
    chain.send(lora.functions.createLoRA(*args), chain.users[0], value=1000 * FEE_PER_EPOCH)
    cfg = config(1, batchSize=1, learningRate=1, datasetCID="c" * 128, validationSplitBps=0)
    args = create_args(base, config=cfg, rank=1, alpha=1, dropoutBps=0, description="", name="n")
    chain.send(lora.functions.createLoRA(*args), chain.users[0], value=FEE_PER_EPOCH)


def test_create_rejects_wrong_fee_and_models(
    chain: ChainUnderTest, lora: Contract, base: bytes, base_owner: Any
) -> None:
    u = chain.users[0]
    fn = lora.functions.createLoRA(*create_args(base))
    for sent in (0, 3 * FEE_PER_EPOCH - 1, 3 * FEE_PER_EPOCH + 1):
        err = chain.revert_of(fn, u, value=sent)
        assert (err.name, err.args) == ("WrongFee", {"required": 3 * FEE_PER_EPOCH, "sent": sent})
        assert err.message.endswith(f"send exactly {3 * FEE_PER_EPOCH} wei.")
    unknown = keccak(text="nope")
    err = chain.revert_of(
        lora.functions.createLoRA(*create_args(unknown)), u, value=3 * FEE_PER_EPOCH
    )
    assert (err.name, err.args) == ("UnknownModel", {"modelId": unknown})
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(base), base_owner)
    err = chain.revert_of(fn, u, value=3 * FEE_PER_EPOCH)
    assert (err.name, err.args) == ("ModelInactive", {"modelId": base})


# --------------------------------------------------------------------------- training


def test_complete_training(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    lid = create(chain, lora, chain.users[0], base, epochs=7)
    receipt = chain.send(lora.functions.completeTraining(lid, "bafyadapter"), chain.admin)
    assert chain.events(receipt, lora, "TrainingCompleted") == [
        {"loraId": lid, "adapterCID": "bafyadapter"}
    ]
    assert chain.events(receipt, lora, "PaymentCredited") == [
        {"payee": chain.treasury.address, "amount": 7 * FEE_PER_EPOCH}
    ]
    info = struct(lora.functions.getLoRA(lid))
    assert info["status"] == READY and info["adapterCID"] == "bafyadapter" and info["readyAt"] > 0
    assert lora.functions.creditOf(chain.treasury.address).call() == 7 * FEE_PER_EPOCH
    assert lora.functions.totalEscrowed().call() == 0
    err = chain.revert_of(lora.functions.completeTraining(lid, "again"), chain.admin)
    assert (err.name, err.args) == (
        "WrongLoRAStatus",
        {"loraId": lid, "required": TRAINING, "actual": READY},
    )
    err = chain.revert_of(lora.functions.failTraining(lid, "x"), chain.admin)
    assert err.name == "WrongLoRAStatus"
    solvent(chain, lora)
    chain.withdraw_exactly(lora, chain.treasury.address, 7 * FEE_PER_EPOCH, by=chain.users[3])
    solvent(chain, lora)


def test_complete_training_rejects(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    unknown = keccak(text="x")
    err = chain.revert_of(lora.functions.completeTraining(unknown, "cid"), chain.admin)
    assert (err.name, err.args) == ("UnknownLoRA", {"loraId": unknown})
    lid = create(chain, lora, chain.users[0], base)
    err = chain.revert_of(lora.functions.completeTraining(lid, ""), chain.admin)
    assert (err.name, err.args) == ("InvalidCID", {"length": 0, "maxLength": 128})
    err = chain.revert_of(lora.functions.completeTraining(lid, "c" * 129), chain.admin)
    assert err.name == "InvalidCID"


def test_fail_training_refunds_creator(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    u = chain.users[0]
    lid = create(chain, lora, u, base, epochs=3)
    receipt = chain.send(lora.functions.failTraining(lid, "dataset unreachable"), chain.admin)
    assert chain.events(receipt, lora, "TrainingFailed") == [
        {"loraId": lid, "reason": "dataset unreachable", "refund": 3 * FEE_PER_EPOCH}
    ]
    assert struct(lora.functions.getLoRA(lid))["status"] == FAILED
    assert lora.functions.creditOf(u.address).call() == 3 * FEE_PER_EPOCH
    assert lora.functions.creditOf(chain.treasury.address).call() == 0
    err = chain.revert_of(lora.functions.completeTraining(lid, "cid"), chain.admin)
    assert (err.name, err.args) == (
        "WrongLoRAStatus",
        {"loraId": lid, "required": TRAINING, "actual": FAILED},
    )
    err = chain.revert_of(lora.functions.inferWithLoRA(lid), u)
    assert err.name == "WrongLoRAStatus"
    solvent(chain, lora)
    chain.withdraw_exactly(lora, u.address, 3 * FEE_PER_EPOCH, by=u)  # the payee pays the gas
    solvent(chain, lora)


# --------------------------------------------------------------------------- creator settings


def test_creator_settings(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    creator, other = chain.users[0], chain.users[1]
    lid = create(chain, lora, creator, base)
    unknown = keccak(text="x")
    for fn in (
        lora.functions.setPublic(lid, True),
        lora.functions.setInferencePrice(lid, 1),
        lora.functions.grantPermission(lid, other.address),
        lora.functions.revokePermission(lid, other.address),
    ):
        err = chain.revert_of(fn, other)
        assert (err.name, err.args) == ("NotCreator", {"loraId": lid, "creator": creator.address})
    err = chain.revert_of(lora.functions.setPublic(unknown, True), creator)
    assert (err.name, err.args) == ("UnknownLoRA", {"loraId": unknown})

    assert lora.functions.hasAccess(lid, creator.address).call()
    assert not lora.functions.hasAccess(lid, other.address).call()
    err = chain.revert_of(lora.functions.setPublic(lid, False), creator)
    assert err.name == "Unchanged"
    receipt = chain.send(lora.functions.setPublic(lid, True), creator)
    assert chain.events(receipt, lora, "VisibilityChanged") == [{"loraId": lid, "isPublic": True}]
    assert lora.functions.hasAccess(lid, other.address).call()
    chain.send(lora.functions.setPublic(lid, False), creator)

    receipt = chain.send(lora.functions.grantPermission(lid, other.address), creator)
    assert chain.events(receipt, lora, "PermissionGranted") == [
        {"loraId": lid, "user": other.address}
    ]
    assert lora.functions.hasAccess(lid, other.address).call()
    err = chain.revert_of(lora.functions.grantPermission(lid, other.address), creator)
    assert err.name == "Unchanged"
    err = chain.revert_of(lora.functions.grantPermission(lid, ZERO_ADDRESS), creator)
    assert err.name == "ZeroAddress"
    receipt = chain.send(lora.functions.revokePermission(lid, other.address), creator)
    assert chain.events(receipt, lora, "PermissionRevoked") == [
        {"loraId": lid, "user": other.address}
    ]
    assert not lora.functions.hasAccess(lid, other.address).call()
    err = chain.revert_of(lora.functions.revokePermission(lid, other.address), creator)
    assert err.name == "Unchanged"

    receipt = chain.send(lora.functions.setInferencePrice(lid, 10**18 + 7), creator)
    assert chain.events(receipt, lora, "InferencePriceUpdated") == [
        {"loraId": lid, "oldPrice": 0, "newPrice": 10**18 + 7}
    ]
    chain.send(lora.functions.setInferencePrice(lid, 1000 * SALT), creator)
    err = chain.revert_of(lora.functions.setInferencePrice(lid, 1000 * SALT + 1), creator)
    assert (err.name, err.args) == ("PriceTooHigh", {"price": 1000 * SALT + 1, "max": 1000 * SALT})


# --------------------------------------------------------------------------- inference and split


@pytest.mark.parametrize("price", [1, 3, 5, 7, 10**18 + 7, 123_456_789])
def test_infer_splits_80_20_exactly(
    chain: ChainUnderTest, lora: Contract, base: bytes, base_owner: Any, price: int
) -> None:
    creator, user = chain.users[0], chain.users[1]
    reg = chain.contract("ModelRegistry")
    lid = ready(chain, lora, creator, base, price=price)
    before = chain.balance(user.address)
    receipt = chain.send(lora.functions.inferWithLoRA(lid), user, value=price)
    assert chain.balance(user.address) == before - price - chain.gas_cost(receipt)
    owner_amount = price * 8_000 // 10_000
    creator_amount = price - owner_amount  # rounding dust goes to the creator
    assert owner_amount + creator_amount == price
    assert chain.events(receipt, lora, "LoRAInference") == [
        {
            "loraId": lid,
            "user": user.address,
            "price": price,
            "baseOwner": base_owner.address,
            "baseOwnerAmount": owner_amount,
            "creatorAmount": creator_amount,
        }
    ]
    assert lora.functions.creditOf(base_owner.address).call() == owner_amount
    assert lora.functions.creditOf(creator.address).call() == creator_amount
    assert chain.events(receipt, reg, "UsageRecorded") == [
        {"modelId": base, "reporter": lora.address, "inferences": 1, "revenue": owner_amount}
    ]
    info = struct(lora.functions.getLoRA(lid))
    assert (info["totalInferences"], info["totalRevenue"]) == (1, creator_amount)
    solvent(chain, lora)
    for acct, amount in ((base_owner, owner_amount), (creator, creator_amount)):
        chain.withdraw_exactly(lora, acct.address, amount, by=chain.users[4])
    solvent(chain, lora)


def test_infer_free_and_counters(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    lid = ready(chain, lora, chain.users[0], base)
    reg = chain.contract("ModelRegistry")
    before = struct(reg.functions.getModel(base))["totalInferences"]
    for n in (1, 2):
        receipt = chain.send(lora.functions.inferWithLoRA(lid), chain.users[1])
        ev = chain.events(receipt, lora, "LoRAInference")[0]
        assert (ev["price"], ev["baseOwnerAmount"], ev["creatorAmount"]) == (0, 0, 0)
        assert struct(lora.functions.getLoRA(lid))["totalInferences"] == n
    after = struct(reg.functions.getModel(base))["totalInferences"]
    assert after == before + 2
    # Only the training fee is owed (to the treasury); a free inference moves no money.
    assert lora.functions.totalCredits().call() == 3 * FEE_PER_EPOCH


def test_infer_rejects(chain: ChainUnderTest, lora: Contract, base: bytes, base_owner: Any) -> None:
    creator, user = chain.users[0], chain.users[1]
    unknown = keccak(text="x")
    err = chain.revert_of(lora.functions.inferWithLoRA(unknown), user)
    assert (err.name, err.args) == ("UnknownLoRA", {"loraId": unknown})
    training = create(chain, lora, creator, base)
    err = chain.revert_of(lora.functions.inferWithLoRA(training), user)
    assert (err.name, err.args) == (
        "WrongLoRAStatus",
        {"loraId": training, "required": READY, "actual": TRAINING},
    )
    private = ready(chain, lora, creator, base, price=10, public=False)
    err = chain.revert_of(lora.functions.inferWithLoRA(private), user, value=10)
    assert (err.name, err.args) == ("NoPermission", {"loraId": private, "user": user.address})
    assert "ask its creator for permission" in err.message
    chain.send(lora.functions.inferWithLoRA(private), creator, value=10)  # the creator may
    chain.send(lora.functions.grantPermission(private, user.address), creator)
    for sent in (0, 9, 11):
        err = chain.revert_of(lora.functions.inferWithLoRA(private), user, value=sent)
        assert (err.name, err.args) == ("WrongFee", {"required": 10, "sent": sent})
    chain.send(lora.functions.inferWithLoRA(private), user, value=10)
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(base), base_owner)
    err = chain.revert_of(lora.functions.inferWithLoRA(private), user, value=10)
    assert (err.name, err.args) == ("ModelInactive", {"modelId": base})
    solvent(chain, lora)


# --------------------------------------------------------------------------- merging


@pytest.mark.parametrize("merge_type", [LINEAR, SVD, TASK_ARITHMETIC, TIES])
def test_merge_request_and_completion(
    chain: ChainUnderTest, lora: Contract, base: bytes, merge_type: int
) -> None:
    a = ready(chain, lora, chain.users[0], base)
    b = ready(chain, lora, chain.users[1], base)
    c = ready(chain, lora, chain.users[2], base, public=False)  # the requester's own private one
    u = chain.users[2]
    weights = [10**18 // 3, 10**18 // 3, 10**18 - 2 * (10**18 // 3)]
    receipt = chain.send(
        lora.functions.mergeLoRAs([a, b, c], weights, merge_type), u, value=MERGE_FEE
    )
    (ev,) = chain.events(receipt, lora, "MergeRequested")
    mid = bytes(ev["requestId"])
    assert ev == {
        "requestId": mid,
        "requester": u.address,
        "baseModelId": base,
        "loraIds": [a, b, c],
        "weights": weights,
        "mergeType": merge_type,
    }
    m = struct(lora.functions.getMergeRequest(mid))
    assert (m["status"], m["mergeType"], m["fee"]) == (PENDING, merge_type, MERGE_FEE)
    assert m["loraIds"] == [a, b, c] and m["weights"] == weights and m["requester"] == u.address
    assert lora.functions.totalEscrowed().call() == MERGE_FEE
    assert lora.functions.getAllMerges(0, 10).call() == [mid]
    assert lora.functions.totalMerges().call() == 1
    solvent(chain, lora)
    receipt = chain.send(lora.functions.completeMerge(mid, "bafymerged"), chain.admin)
    assert chain.events(receipt, lora, "MergeCompleted") == [
        {"requestId": mid, "resultCID": "bafymerged"}
    ]
    m = struct(lora.functions.getMergeRequest(mid))
    assert (m["status"], m["resultCID"]) == (COMPLETED, "bafymerged") and m["finishedAt"] > 0
    assert (
        lora.functions.creditOf(chain.treasury.address).call() == 3 * 3 * FEE_PER_EPOCH + MERGE_FEE
    )
    err = chain.revert_of(lora.functions.completeMerge(mid, "again"), chain.admin)
    assert (err.name, err.args) == ("MergeNotPending", {"requestId": mid, "status": COMPLETED})
    err = chain.revert_of(lora.functions.failMerge(mid, "x"), chain.admin)
    assert err.name == "MergeNotPending"
    solvent(chain, lora)


def test_fail_merge_refunds(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    a = ready(chain, lora, chain.users[0], base)
    b = ready(chain, lora, chain.users[0], base)
    u = chain.users[3]
    receipt = chain.send(lora.functions.mergeLoRAs([a, b], [HALF, HALF], TIES), u, value=MERGE_FEE)
    mid = bytes(chain.events(receipt, lora, "MergeRequested")[0]["requestId"])
    unknown = keccak(text="x")
    err = chain.revert_of(lora.functions.failMerge(unknown, "x"), chain.admin)
    assert (err.name, err.args) == ("UnknownMerge", {"requestId": unknown})
    err = chain.revert_of(lora.functions.completeMerge(mid, ""), chain.admin)
    assert err.name == "InvalidCID"
    receipt = chain.send(lora.functions.failMerge(mid, "svd diverged"), chain.admin)
    assert chain.events(receipt, lora, "MergeFailed") == [
        {"requestId": mid, "reason": "svd diverged", "refund": MERGE_FEE}
    ]
    assert struct(lora.functions.getMergeRequest(mid))["status"] == 3
    assert lora.functions.creditOf(u.address).call() == MERGE_FEE
    solvent(chain, lora)


def test_merge_rejects(chain: ChainUnderTest, lora: Contract, base: bytes, base_owner: Any) -> None:
    u = chain.users[0]
    a = ready(chain, lora, u, base)
    b = ready(chain, lora, chain.users[1], base)
    other_base = register_model(chain, base_owner, "other")
    x = ready(chain, lora, u, other_base)
    training = create(chain, lora, u, base)
    private = ready(chain, lora, chain.users[1], base, public=False)
    unknown = keccak(text="x")
    fn = lora.functions.mergeLoRAs

    def check(
        ids: list,
        weights: list,
        mtype: int,
        error: str,
        args: dict | None = None,
        value: int = MERGE_FEE,
    ) -> None:
        err = chain.revert_of(fn(ids, weights, mtype), u, value=value)
        assert err.name == error, err.message
        if args is not None:
            assert err.args == args

    check([a], [10**18], 0, "InvalidMergeInputs", {"loraCount": 1, "weightCount": 1, "max": 8})
    check([a] * 9, [1] * 9, 0, "InvalidMergeInputs", {"loraCount": 9, "weightCount": 9, "max": 8})
    check([a, b], [10**18], 0, "InvalidMergeInputs", {"loraCount": 2, "weightCount": 1, "max": 8})
    check([a, b], [HALF, HALF], 4, "InvalidMergeType", {"mergeType": 4})
    check([a, a], [HALF, HALF], 0, "DuplicateLoRA", {"loraId": a})
    check(
        [a, x],
        [HALF, HALF],
        0,
        "BaseModelMismatch",
        {"loraId": x, "expected": base, "actual": other_base},
    )
    check([a, b], [10**18, 0], 0, "ZeroWeight", {"index": 1})
    check([a, b], [HALF, HALF - 1], 0, "WeightsSumInvalid", {"sum": 10**18 - 1})
    check([a, b], [HALF, HALF + 1], 0, "WeightsSumInvalid", {"sum": 10**18 + 1})
    check([a, b], [2**255, 2**255], 0, "WeightsSumInvalid", {"sum": 2**255})
    check(
        [a, training],
        [HALF, HALF],
        0,
        "WrongLoRAStatus",
        {"loraId": training, "required": READY, "actual": TRAINING},
    )
    check([a, private], [HALF, HALF], 0, "NoPermission", {"loraId": private, "user": u.address})
    check([a, unknown], [HALF, HALF], 0, "UnknownLoRA", {"loraId": unknown})
    for sent in (0, MERGE_FEE - 1, MERGE_FEE + 1):
        check(
            [a, b], [HALF, HALF], 0, "WrongFee", {"required": MERGE_FEE, "sent": sent}, value=sent
        )
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(base), base_owner)
    check([a, b], [HALF, HALF], 0, "ModelInactive", {"modelId": base})


def test_merge_of_eight(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    ids = [ready(chain, lora, chain.users[i % 3], base, epochs=1) for i in range(8)]
    weights = [10**18 // 8] * 8
    chain.send(lora.functions.mergeLoRAs(ids, weights, SVD), chain.users[5], value=MERGE_FEE)


# --------------------------------------------------------------------------- admin


def test_admin_setters(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    a = chain.admin
    receipt = chain.send(lora.functions.setTrainingFeePerEpoch(7), a)
    assert chain.events(receipt, lora, "TrainingFeeUpdated") == [
        {"oldFee": FEE_PER_EPOCH, "newFee": 7}
    ]
    assert lora.functions.trainingFee(3).call() == 21
    args = create_args(base)
    chain.send(lora.functions.createLoRA(*args), chain.users[0], value=21)
    chain.send(lora.functions.setTrainingFeePerEpoch(10 * SALT), a)
    err = chain.revert_of(lora.functions.setTrainingFeePerEpoch(10 * SALT + 1), a)
    assert (err.name, err.args) == ("FeeTooHigh", {"fee": 10 * SALT + 1, "max": 10 * SALT})
    chain.send(lora.functions.setTrainingFeePerEpoch(0), a)
    chain.send(lora.functions.createLoRA(*args), chain.users[0], value=0)  # free training

    receipt = chain.send(lora.functions.setMergeFee(3), a)
    assert chain.events(receipt, lora, "MergeFeeUpdated") == [{"oldFee": MERGE_FEE, "newFee": 3}]
    err = chain.revert_of(lora.functions.setMergeFee(10 * SALT + 1), a)
    assert err.name == "FeeTooHigh"

    t = chain.users[7].address
    receipt = chain.send(lora.functions.setTreasury(t), a)
    assert chain.events(receipt, lora, "TreasuryUpdated") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": t}
    ]
    err = chain.revert_of(lora.functions.setTreasury(ZERO_ADDRESS), a)
    assert err.name == "ZeroPayee"
    err = chain.revert_of(lora.functions.setTreasury(lora.address), a)
    assert err.name == "PayeeIsThisContract"
    lid = bytes(lora.functions.getAllLoRAs(0, 1).call()[0])
    chain.send(lora.functions.completeTraining(lid, "cid"), a)
    assert lora.functions.creditOf(t).call() == 21
    solvent(chain, lora)


def test_operator_role_can_be_granted(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    op = chain.users[6]
    lid = create(chain, lora, chain.users[0], base)
    chain.assert_needs_role(lora.functions.completeTraining(lid, "cid"), OPERATOR_ROLE, op)
    chain.send(lora.functions.grantRole(OPERATOR_ROLE, op.address), chain.admin)
    chain.send(lora.functions.completeTraining(lid, "cid"), op)
    assert struct(lora.functions.getLoRA(lid))["status"] == READY


@pytest.mark.parametrize(
    ("fn_name", "args", "role"),
    [
        ("setTrainingFeePerEpoch", (1,), ADMIN_ROLE),
        ("setMergeFee", (1,), ADMIN_ROLE),
        ("setTreasury", ("0x" + "11" * 20,), ADMIN_ROLE),
        ("grantRole", (OPERATOR_ROLE, "0x" + "11" * 20), ADMIN_ROLE),
        ("completeTraining", (b"\x01" * 32, "cid"), OPERATOR_ROLE),
        ("failTraining", (b"\x01" * 32, "x"), OPERATOR_ROLE),
        ("completeMerge", (b"\x01" * 32, "cid"), OPERATOR_ROLE),
        ("failMerge", (b"\x01" * 32, "x"), OPERATOR_ROLE),
    ],
)
def test_privileged_functions_reject_others(
    chain: ChainUnderTest, lora: Contract, fn_name: str, args: tuple, role: bytes
) -> None:
    fn = getattr(lora.functions, fn_name)(*args)
    chain.assert_needs_role(fn, role, chain.users[0], chain.treasury)


def test_paged_views(chain: ChainUnderTest, lora: Contract, base: bytes) -> None:
    u = chain.users[0]
    ids = [create(chain, lora, u, base, epochs=1) for _ in range(3)]
    assert lora.functions.getAllLoRAs(0, 2).call() == ids[:2]
    assert lora.functions.getAllLoRAs(2, 10).call() == ids[2:]
    assert lora.functions.getAllLoRAs(3, 10).call() == []
    assert lora.functions.getUserLoRAs(u.address, 1, 1).call() == [ids[1]]
    assert lora.functions.getModelLoRAs(base, 0, 2**256 - 1).call() == ids
    assert lora.functions.getUserLoRAs(chain.users[1].address, 0, 10).call() == []
    assert lora.functions.getAllMerges(0, 10).call() == []
    assert struct(lora.functions.getLoRA(keccak(text="none")))["status"] == 0
    assert struct(lora.functions.getMergeRequest(keccak(text="none")))["status"] == 0


# --------------------------------------------------------------------------- reentrancy


def test_reentrancy_on_refund_withdrawal(
    chain: ChainUnderTest, lora: Contract, base: bytes
) -> None:
    """A creator contract collecting a training refund tries to withdraw it twice."""
    atk = Reentrant.deploy(chain, chain.users[2])
    atk.act(lora.functions.createLoRA(*create_args(base)), 3 * FEE_PER_EPOCH)
    lid = bytes(lora.functions.getUserLoRAs(atk.address, 0, 1).call()[0])
    chain.send(lora.functions.failTraining(lid, "x"), chain.admin)
    atk.arm(lora.functions.withdraw(atk.address))
    chain.withdraw_exactly(lora, atk.address, 3 * FEE_PER_EPOCH, by=chain.users[3])
    atk.assert_reentry_blocked()
    assert atk.received_total == 3 * FEE_PER_EPOCH
    assert lora.functions.creditOf(atk.address).call() == 0
    solvent(chain, lora)


def test_reentrancy_on_base_owner_payout(chain: ChainUnderTest, lora: Contract) -> None:
    """A base-model owner contract collecting its 80 % tries to buy another inference meanwhile."""
    atk = Reentrant.deploy(chain, chain.users[2])
    base = register_model(chain, atk, "evil")
    lid = ready(chain, lora, chain.users[0], base, price=1_000)
    chain.send(lora.functions.inferWithLoRA(lid), chain.users[1], value=1_000)
    atk.arm(lora.functions.inferWithLoRA(lid))
    chain.withdraw_exactly(lora, atk.address, 800, by=chain.users[3])
    atk.assert_reentry_blocked()
    assert atk.received_total == 800
    assert struct(lora.functions.getLoRA(lid))["totalInferences"] == 1
    solvent(chain, lora)
