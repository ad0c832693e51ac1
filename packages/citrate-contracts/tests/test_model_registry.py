"""ModelRegistry: registration and its fee, owner actions, paid inference, usage reports,
admin settings, paged views, pull payments (with a re-entering payee) and the balance invariant.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ZERO_ADDRESS, ChainUnderTest, Reverted
from .models import REGISTRATION_FEE as FEE
from .models import metadata, model_id, model_input, register_model

REPORTER_ROLE = keccak(text="USAGE_REPORTER_ROLE")


@pytest.fixture
def reg(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelRegistry")


@pytest.fixture
def treg(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelRegistry", decode_tuples=True)


# ------------------------------------------------------------------------------- deployment


def test_deployment_state(chain: ChainUnderTest, reg: Contract) -> None:
    f = reg.functions
    assert f.registrationFee().call() == FEE == f.DEFAULT_REGISTRATION_FEE().call()
    assert f.MAX_REGISTRATION_FEE().call() == 100 * 10**18
    assert f.treasury().call() == chain.treasury.address
    assert f.USAGE_REPORTER_ROLE().call() == REPORTER_ROLE
    assert f.hasRole(ADMIN_ROLE, chain.admin.address).call()
    for reporter in ("ModelMarketplace", "ModelAccessControl", "InferenceRouter", "LoRAFactory"):
        if reporter in chain.addresses:
            assert f.hasRole(REPORTER_ROLE, chain.addresses[reporter]).call(), reporter
    assert f.totalModels().call() == 0
    assert f.totalCredits().call() == 0
    assert f.getModelIds(0, 10).call() == []


@pytest.mark.parametrize(
    ("admin", "treasury", "what"),
    [(ZERO_ADDRESS, "0x" + "11" * 20, "admin"), ("0x" + "11" * 20, ZERO_ADDRESS, "treasury")],
)
def test_constructor_rejects_zero_addresses(
    chain: ChainUnderTest, admin: str, treasury: str, what: str
) -> None:
    err = chain.deploy_revert("ModelRegistry", chain.users[0], admin, treasury)
    assert (err.name, err.args) == ("ZeroAddress", {"what": what})


# ------------------------------------------------------------------------------- registration


def test_register_stores_everything_and_credits_the_fee(
    chain: ChainUnderTest, reg: Contract, treg: Contract
) -> None:
    owner = chain.users[0]
    meta = metadata(tags=("vision", "int8"), parameters=123)
    inp = model_input("resnet", "2.1", price=5, meta=meta)
    before = chain.balance(reg.address)
    receipt = chain.send(reg.functions.registerModel(inp), owner, FEE)
    mid = model_id(owner.address, "resnet", "2.1")
    assert reg.functions.computeModelId(owner.address, "resnet", "2.1").call() == mid
    assert chain.events(receipt, reg, "ModelRegistered") == [
        {
            "modelId": mid,
            "owner": owner.address,
            "name": "resnet",
            "version": "2.1",
            "cid": inp[3],
            "inferencePrice": 5,
            "feePaid": FEE,
        }
    ]
    assert chain.events(receipt, reg, "PaymentCredited") == [
        {"payee": chain.treasury.address, "amount": FEE}
    ]
    m = treg.functions.getModel(mid).call()
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert (m.modelId, m.owner, m.active, m.createdAt, m.updatedAt) == (
        mid,
        owner.address,
        True,
        ts,
        ts,
    )
    assert (m.name, m.framework, m.version, m.cid, m.sizeBytes, m.inferencePrice) == (
        "resnet",
        "pytorch",
        "2.1",
        inp[3],
        1_000_000,
        5,
    )
    assert (m.totalInferences, m.revenue) == (0, 0)
    assert tuple(m.metadata) == (meta[0], meta[1], meta[2], 123, "Apache-2.0", ["vision", "int8"])
    f = reg.functions
    assert f.modelExists(mid).call() and f.isModelActive(mid).call()
    assert f.modelOwner(mid).call() == owner.address
    assert f.totalModels().call() == 1 and f.modelCountOf(owner.address).call() == 1
    assert f.getModelIds(0, 10).call() == [mid]
    assert f.getModelsByOwner(owner.address, 0, 10).call() == [mid]
    assert f.creditOf(chain.treasury.address).call() == FEE == f.totalCredits().call()
    assert chain.balance(reg.address) - before == FEE


@pytest.mark.parametrize("sent", [0, FEE - 1, FEE + 1, 2 * FEE])
def test_register_requires_the_exact_fee(chain: ChainUnderTest, reg: Contract, sent: int) -> None:
    err = chain.revert_of(reg.functions.registerModel(model_input()), chain.users[0], sent)
    assert err.name == "WrongFee"
    assert err.args == {"required": FEE, "sent": sent}
    assert err.message == f"WrongFee: The fee sent is wrong; send exactly {FEE} wei."


def test_same_owner_name_version_is_a_collision(chain: ChainUnderTest, reg: Contract) -> None:
    a, b = chain.users[0], chain.users[1]
    mid = register_model(chain, a)
    err = chain.revert_of(reg.functions.registerModel(model_input()), a, FEE)
    assert (err.name, err.args) == ("ModelAlreadyRegistered", {"modelId": mid})
    # A new version, or the same name by another owner, is a different model.
    v2 = register_model(chain, a, version="1.0.1")
    other = register_model(chain, b)
    assert len({mid, v2, other}) == 3
    assert reg.functions.totalModels().call() == 3
    assert reg.functions.getModelsByOwner(a.address, 0, 10).call() == [mid, v2]


def _long(n: int) -> str:
    return "x" * n


@pytest.mark.parametrize(
    ("inp", "name", "args"),
    [
        (model_input(name=""), "EmptyField", {"field": "name"}),
        (model_input(version=""), "EmptyField", {"field": "version"}),
        (model_input(cid=""), "EmptyField", {"field": "cid"}),
        (
            model_input(name=_long(129)),
            "StringTooLong",
            {"field": "name", "length": 129, "maxLength": 128},
        ),
        (
            model_input(framework=_long(65)),
            "StringTooLong",
            {"field": "framework", "length": 65, "maxLength": 64},
        ),
        (
            model_input(version=_long(65)),
            "StringTooLong",
            {"field": "version", "length": 65, "maxLength": 64},
        ),
        (
            model_input(cid=_long(129)),
            "StringTooLong",
            {"field": "cid", "length": 129, "maxLength": 128},
        ),
        (model_input(size=0), "ZeroValue", {"field": "sizeBytes"}),
        (
            model_input(price=10**24 + 1),
            "ValueTooLarge",
            {"field": "inferencePrice", "value": 10**24 + 1, "max": 10**24},
        ),
        (
            model_input(meta=metadata(description=_long(2049))),
            "StringTooLong",
            {"field": "description", "length": 2049, "maxLength": 2048},
        ),
        (
            model_input(meta=metadata(license_=_long(65))),
            "StringTooLong",
            {"field": "license", "length": 65, "maxLength": 64},
        ),
        (
            model_input(meta=metadata(tags=tuple("t" for _ in range(17)))),
            "TooManyItems",
            {"field": "tags", "count": 17, "maxCount": 16},
        ),
        (
            model_input(meta=metadata(input_shape=tuple("1" for _ in range(17)))),
            "TooManyItems",
            {"field": "inputShape", "count": 17, "maxCount": 16},
        ),
        (
            model_input(meta=metadata(output_shape=tuple("1" for _ in range(17)))),
            "TooManyItems",
            {"field": "outputShape", "count": 17, "maxCount": 16},
        ),
        (model_input(meta=metadata(tags=("ok", ""))), "EmptyField", {"field": "tags"}),
        (
            model_input(meta=metadata(output_shape=(_long(33),))),
            "StringTooLong",
            {"field": "outputShape", "length": 33, "maxLength": 32},
        ),
    ],
)
def test_register_validates_its_input(
    chain: ChainUnderTest, reg: Contract, inp: tuple[Any, ...], name: str, args: dict[str, Any]
) -> None:
    err = chain.revert_of(reg.functions.registerModel(inp), chain.users[0], FEE)
    assert (err.name, err.args) == (name, args)
    assert err.message.startswith(f"{name}: ")


def test_register_accepts_the_bounds(chain: ChainUnderTest, treg: Contract) -> None:
    meta = metadata(
        description=_long(2048),
        license_=_long(64),
        tags=tuple(_long(32) for _ in range(16)),
        input_shape=tuple("1" for _ in range(16)),
        output_shape=(),
    )
    inp = model_input(
        _long(128), _long(64), framework="", cid=_long(128), size=1, price=10**24, meta=meta
    )
    chain.send(treg.functions.registerModel(inp), chain.users[0], FEE)
    m = treg.functions.getModel(model_id(chain.users[0].address, _long(128), _long(64))).call()
    assert m.framework == "" and m.inferencePrice == 10**24 and len(m.metadata.tags) == 16


# ------------------------------------------------------------------------------- owner actions


def test_update_model(chain: ChainUnderTest, reg: Contract, treg: Contract) -> None:
    owner = chain.users[0]
    mid = register_model(chain, owner)
    chain.advance(10)
    receipt = chain.send(reg.functions.updateModel(mid, "1.1.0", "bafynew"), owner)
    assert chain.events(receipt, reg, "ModelUpdated") == [
        {"modelId": mid, "version": "1.1.0", "cid": "bafynew"}
    ]
    m = treg.functions.getModel(mid).call()
    assert (m.modelId, m.version, m.cid) == (mid, "1.1.0", "bafynew")  # the id stays
    assert m.updatedAt > m.createdAt
    f = reg.functions
    err = chain.revert_of(f.updateModel(mid, "2", "c"), chain.users[1])
    assert (err.name, err.args) == (
        "NotModelOwner",
        {"modelId": mid, "caller": chain.users[1].address},
    )
    err = chain.revert_of(f.updateModel(b"\x01" * 32, "2", "c"), owner)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x01" * 32})
    assert chain.revert_of(f.updateModel(mid, "", "c"), owner).args == {"field": "version"}
    assert chain.revert_of(f.updateModel(mid, "2", ""), owner).args == {"field": "cid"}
    err = chain.revert_of(f.updateModel(mid, "2", _long(129)), owner)
    assert err.args == {"field": "cid", "length": 129, "maxLength": 128}


def test_update_metadata(chain: ChainUnderTest, reg: Contract, treg: Contract) -> None:
    owner = chain.users[0]
    mid = register_model(chain, owner)
    meta = metadata(description="new", tags=("a",), parameters=9)
    receipt = chain.send(reg.functions.updateMetadata(mid, meta), owner)
    assert chain.events(receipt, reg, "ModelMetadataUpdated") == [{"modelId": mid}]
    m = treg.functions.getModel(mid).call()
    assert (m.metadata.description, m.metadata.tags, m.metadata.parameters) == ("new", ["a"], 9)
    err = chain.revert_of(reg.functions.updateMetadata(mid, meta), chain.users[1])
    assert err.name == "NotModelOwner"
    err = chain.revert_of(reg.functions.updateMetadata(mid, metadata(tags=("",))), owner)
    assert (err.name, err.args) == ("EmptyField", {"field": "tags"})


def test_set_inference_price(chain: ChainUnderTest, reg: Contract, treg: Contract) -> None:
    owner = chain.users[0]
    mid = register_model(chain, owner, price=3)
    receipt = chain.send(reg.functions.setInferencePrice(mid, 10**18), owner)
    assert chain.events(receipt, reg, "InferencePriceChanged") == [
        {"modelId": mid, "oldPrice": 3, "newPrice": 10**18}
    ]
    assert treg.functions.getModel(mid).call().inferencePrice == 10**18
    assert chain.revert_of(reg.functions.setInferencePrice(mid, 1), chain.users[1]).name == (
        "NotModelOwner"
    )
    err = chain.revert_of(reg.functions.setInferencePrice(mid, 10**24 + 1), owner)
    assert err.args == {"field": "inferencePrice", "value": 10**24 + 1, "max": 10**24}


def test_grant_and_revoke_access(chain: ChainUnderTest, reg: Contract) -> None:
    owner, user = chain.users[0], chain.users[1]
    mid = register_model(chain, owner, price=7)
    f = reg.functions
    assert f.hasAccess(mid, owner.address).call()
    assert not f.hasAccess(mid, user.address).call()
    receipt = chain.send(f.grantAccess(mid, user.address), owner)
    assert chain.events(receipt, reg, "AccessGranted") == [{"modelId": mid, "user": user.address}]
    assert f.isPermitted(mid, user.address).call() and f.hasAccess(mid, user.address).call()
    err = chain.revert_of(f.grantAccess(mid, user.address), owner)
    assert (err.name, err.args) == ("AlreadyPermitted", {"modelId": mid, "user": user.address})
    assert chain.revert_of(f.grantAccess(mid, ZERO_ADDRESS), owner).args == {"what": "user"}
    assert chain.revert_of(f.grantAccess(mid, chain.users[2].address), user).name == "NotModelOwner"
    assert chain.revert_of(f.revokeAccess(mid, user.address), user).name == "NotModelOwner"
    receipt = chain.send(f.revokeAccess(mid, user.address), owner)
    assert chain.events(receipt, reg, "AccessRevoked") == [{"modelId": mid, "user": user.address}]
    assert not f.hasAccess(mid, user.address).call()
    err = chain.revert_of(f.revokeAccess(mid, user.address), owner)
    assert (err.name, err.args) == ("NotPermittedUser", {"modelId": mid, "user": user.address})
    # A free model is open to everyone; unknown models to no one.
    free = register_model(chain, owner, "free")
    assert f.hasAccess(free, chain.users[5].address).call()
    assert not f.hasAccess(b"\x02" * 32, owner.address).call()


def test_activate_and_deactivate(chain: ChainUnderTest, reg: Contract) -> None:
    owner = chain.users[0]
    mid = register_model(chain, owner)
    f = reg.functions
    err = chain.revert_of(f.activateModel(mid), owner)
    assert (err.name, err.args) == ("ModelStateUnchanged", {"modelId": mid, "active": True})
    assert chain.revert_of(f.deactivateModel(mid), chain.users[1]).name == "NotModelOwner"
    receipt = chain.send(f.deactivateModel(mid), owner)
    assert chain.events(receipt, reg, "ModelDeactivated") == [{"modelId": mid}]
    assert not f.isModelActive(mid).call() and f.modelExists(mid).call()
    err = chain.revert_of(f.deactivateModel(mid), owner)
    assert err.args == {"modelId": mid, "active": False}
    assert chain.revert_of(f.activateModel(mid), chain.users[1]).name == "NotModelOwner"
    receipt = chain.send(f.activateModel(mid), owner)
    assert chain.events(receipt, reg, "ModelActivated") == [{"modelId": mid}]
    assert f.isModelActive(mid).call()
    assert not f.isModelActive(b"\x03" * 32).call()
    assert chain.revert_of(f.activateModel(b"\x03" * 32), owner).name == "UnknownModel"


# ------------------------------------------------------------------------------- inference


def test_request_inference_on_a_free_model(chain: ChainUnderTest, reg: Contract) -> None:
    mid = register_model(chain, chain.users[0])
    anyone = chain.users[4]
    receipt = chain.send(reg.functions.requestInference(mid), anyone)
    assert chain.events(receipt, reg, "InferenceRequested") == [
        {"modelId": mid, "requester": anyone.address, "price": 0, "inferenceNumber": 1}
    ]
    assert chain.events(receipt, reg, "PaymentCredited") == []
    receipt = chain.send(reg.functions.requestInference(mid), anyone)
    assert chain.events(receipt, reg, "InferenceRequested")[0]["inferenceNumber"] == 2
    err = chain.revert_of(reg.functions.requestInference(mid), anyone, 1)
    assert (err.name, err.args) == ("WrongPayment", {"required": 0, "sent": 1})


def test_request_inference_on_a_priced_model(
    chain: ChainUnderTest, reg: Contract, treg: Contract
) -> None:
    owner, user = chain.users[0], chain.users[1]
    price = 10**18 + 7
    mid = register_model(chain, owner, price=price)
    f = reg.functions
    err = chain.revert_of(f.requestInference(mid), user, price)
    assert (err.name, err.args) == ("NotPermitted", {"modelId": mid, "caller": user.address})
    chain.send(f.grantAccess(mid, user.address), owner)
    for sent in (0, price - 1, price + 1):
        err = chain.revert_of(f.requestInference(mid), user, sent)
        assert (err.name, err.args) == ("WrongPayment", {"required": price, "sent": sent})
    before = chain.balance(reg.address)
    receipt = chain.send(f.requestInference(mid), user, price)
    assert chain.events(receipt, reg, "InferenceRequested") == [
        {"modelId": mid, "requester": user.address, "price": price, "inferenceNumber": 1}
    ]
    assert chain.events(receipt, reg, "PaymentCredited") == [
        {"payee": owner.address, "amount": price}
    ]
    assert chain.balance(reg.address) - before == price
    assert f.creditOf(owner.address).call() == price
    # The owner may use its own priced model (paying itself).
    chain.send(f.requestInference(mid), owner, price)
    m = treg.functions.getModel(mid).call()
    assert (m.totalInferences, m.revenue) == (2, 2 * price)
    assert f.creditOf(owner.address).call() == 2 * price
    assert f.totalCredits().call() == 2 * price + FEE


def test_request_inference_needs_an_active_known_model(
    chain: ChainUnderTest, reg: Contract
) -> None:
    owner = chain.users[0]
    mid = register_model(chain, owner)
    chain.send(reg.functions.deactivateModel(mid), owner)
    err = chain.revert_of(reg.functions.requestInference(mid), chain.users[1])
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})
    err = chain.revert_of(reg.functions.requestInference(b"\x04" * 32), chain.users[1])
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x04" * 32})
    assert err.message.startswith("UnknownModel: This model is not registered in the ModelRegistry")


# ------------------------------------------------------------------------------- usage reports


def test_record_usage_is_for_reporters_only(
    chain: ChainUnderTest, reg: Contract, treg: Contract
) -> None:
    mid = register_model(chain, chain.users[0])
    reporter = chain.users[3]
    chain.assert_needs_role(reg.functions.recordUsage(mid, 1, 1), REPORTER_ROLE, reporter)
    chain.send(reg.functions.grantRole(REPORTER_ROLE, reporter.address), chain.admin)
    receipt = chain.send(reg.functions.recordUsage(mid, 3, 500), reporter)
    assert chain.events(receipt, reg, "UsageRecorded") == [
        {"modelId": mid, "reporter": reporter.address, "inferences": 3, "revenue": 500}
    ]
    chain.send(reg.functions.recordUsage(mid, 2, 1), reporter)
    m = treg.functions.getModel(mid).call()
    assert (m.totalInferences, m.revenue) == (5, 501)
    err = chain.revert_of(reg.functions.recordUsage(b"\x05" * 32, 1, 1), reporter)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x05" * 32})
    # Granting the role is itself admin-only.
    chain.assert_needs_role(
        reg.functions.grantRole(REPORTER_ROLE, reporter.address), ADMIN_ROLE, reporter
    )


def test_model_owner_of_unknown_model_reverts(chain: ChainUnderTest, reg: Contract) -> None:
    err = chain.revert_of(reg.functions.modelOwner(b"\x06" * 32), chain.users[0])
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x06" * 32})
    err = chain.revert_of(reg.functions.getModel(b"\x06" * 32), chain.users[0])
    assert err.name == "UnknownModel"
    assert not reg.functions.modelExists(b"\x06" * 32).call()


# ------------------------------------------------------------------------------- admin


def test_set_registration_fee(chain: ChainUnderTest, reg: Contract) -> None:
    f = reg.functions
    receipt = chain.send(f.setRegistrationFee(12345), chain.admin)
    assert chain.events(receipt, reg, "RegistrationFeeChanged") == [
        {"oldFee": FEE, "newFee": 12345}
    ]
    err = chain.revert_of(f.registerModel(model_input()), chain.users[0], FEE)
    assert err.args == {"required": 12345, "sent": FEE}
    register_model(chain, chain.users[0], fee=12345)
    assert f.creditOf(chain.treasury.address).call() == 12345
    # A free registration credits nothing.
    chain.send(f.setRegistrationFee(0), chain.admin)
    receipt = chain.send(f.registerModel(model_input("free")), chain.users[0])
    assert chain.events(receipt, reg, "PaymentCredited") == []
    assert f.totalCredits().call() == 12345
    err = chain.revert_of(f.setRegistrationFee(100 * 10**18 + 1), chain.admin)
    assert (err.name, err.args) == (
        "ValueTooLarge",
        {"field": "registrationFee", "value": 100 * 10**18 + 1, "max": 100 * 10**18},
    )
    chain.send(f.setRegistrationFee(100 * 10**18), chain.admin)
    chain.assert_needs_role(f.setRegistrationFee(1), ADMIN_ROLE, chain.users[0])


def test_set_treasury(chain: ChainUnderTest, reg: Contract) -> None:
    f = reg.functions
    register_model(chain, chain.users[0])
    new = chain.users[8].address
    receipt = chain.send(f.setTreasury(new), chain.admin)
    assert chain.events(receipt, reg, "TreasuryChanged") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": new}
    ]
    register_model(chain, chain.users[0], "second")
    assert f.creditOf(chain.treasury.address).call() == FEE  # past credits stay
    assert f.creditOf(new).call() == FEE
    assert chain.revert_of(f.setTreasury(ZERO_ADDRESS), chain.admin).args == {"what": "treasury"}
    err = chain.revert_of(f.setTreasury(reg.address), chain.admin)
    assert err.name == "PayeeIsThisContract"
    chain.assert_needs_role(f.setTreasury(new), ADMIN_ROLE, chain.users[0])


# ------------------------------------------------------------------------------- views


def test_paged_views(chain: ChainUnderTest, reg: Contract, treg: Contract) -> None:
    a, b = chain.users[0], chain.users[1]
    ids = [
        register_model(chain, a, "m0"),
        register_model(chain, b, "m1"),
        register_model(chain, a, "m2"),
    ]
    f = reg.functions
    assert f.MAX_PAGE_SIZE().call() == 100
    assert f.getModelIds(0, 2).call() == ids[:2]
    assert f.getModelIds(2, 2).call() == ids[2:]
    assert f.getModelIds(1, 10**30).call() == ids[1:]  # limit is capped, never overflows
    assert f.getModelIds(3, 1).call() == [] and f.getModelIds(2**256 - 1, 5).call() == []
    assert f.getModelIds(0, 0).call() == []
    assert f.getModelsByOwner(a.address, 0, 10).call() == [ids[0], ids[2]]
    assert f.getModelsByOwner(a.address, 1, 1).call() == [ids[2]]
    assert f.getModelsByOwner(chain.users[7].address, 0, 10).call() == []
    assert (f.modelCountOf(a.address).call(), f.modelCountOf(b.address).call()) == (2, 1)
    models = treg.functions.getModels(1, 5).call()
    assert [m.name for m in models] == ["m1", "m2"]
    assert [m.owner for m in models] == [b.address, a.address]


# ------------------------------------------------------------------------------- pull payments


def test_withdraw_pays_the_payee_exactly(chain: ChainUnderTest, reg: Contract) -> None:
    register_model(chain, chain.users[0])
    register_model(chain, chain.users[1])
    treasury = chain.treasury.address
    # Anyone may trigger the withdrawal; the funds go to the payee.
    chain.withdraw_exactly(reg, treasury, 2 * FEE, by=chain.users[5])
    assert reg.functions.totalCredits().call() == 0
    assert chain.balance(reg.address) == 0
    chain.withdraw_exactly(reg, treasury, 0, by=chain.users[5])  # NothingToWithdraw now


def _reentrancy_setup(chain: ChainUnderTest, reg: Contract, price: int) -> tuple[Reentrant, bytes]:
    attacker = Reentrant.deploy(chain, chain.users[9])
    mid = register_model(chain, attacker, "evil", price=price)
    attacker.act(reg.functions.grantAccess(mid, chain.users[2].address))
    chain.send(reg.functions.requestInference(mid), chain.users[2], price)
    chain.send(reg.functions.requestInference(mid), chain.users[2], price)
    return attacker, mid


def test_reentrant_payee_cannot_withdraw_twice(chain: ChainUnderTest, reg: Contract) -> None:
    price = 39
    attacker, _ = _reentrancy_setup(chain, reg, price)
    assert reg.functions.creditOf(attacker.address).call() == 2 * price
    attacker.arm(reg.functions.withdraw(attacker.address))
    before = chain.balance(reg.address)
    chain.withdraw_exactly(reg, attacker.address, 2 * price, by=chain.users[9])
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, attacker.received_total) == (1, 2 * price)
    assert chain.balance(attacker.address) == 2 * price
    assert before - chain.balance(reg.address) == 2 * price
    assert chain.balance(reg.address) == reg.functions.totalCredits().call() == FEE


def test_reentrant_payee_that_bubbles_keeps_its_credit(
    chain: ChainUnderTest, reg: Contract
) -> None:
    price = 10**18 + 7
    attacker, mid = _reentrancy_setup(chain, reg, price)
    # Cross-function: re-enter requestInference (also nonReentrant) from receive.
    attacker.arm(reg.functions.requestInference(mid), bubble=True)
    err = chain.revert_of(reg.functions.withdraw(attacker.address), chain.users[9])
    assert (err.name, err.args) == (
        "PaymentFailed",
        {"payee": attacker.address, "amount": 2 * price},
    )
    with pytest.raises(Reverted):
        chain.send(reg.functions.withdraw(attacker.address), chain.users[9])
    assert reg.functions.creditOf(attacker.address).call() == 2 * price
    assert chain.balance(reg.address) == reg.functions.totalCredits().call() == 2 * price + FEE


# ------------------------------------------------------------------------------- invariant

_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["register", "infer", "withdraw"]),
        st.integers(0, 3),
        st.sampled_from([0, 1, 39, 10**18 + 7]),
    ),
    min_size=3,
    max_size=7,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(actions=_ACTIONS)
def test_balance_always_equals_total_credits(
    chain: ChainUnderTest, actions: list[tuple[str, int, int]]
) -> None:
    reg = chain.contract("ModelRegistry")
    snapshot = chain.snapshot()
    try:
        models: list[tuple[bytes, int]] = []
        paid: dict[str, int] = {}
        withdrawn = 0
        for i, (action, who, amount) in enumerate(actions):
            user = chain.users[who]
            if action == "register" or not models:
                mid = register_model(chain, user, f"m{i}", price=amount)
                models.append((mid, amount))
                paid[chain.treasury.address] = paid.get(chain.treasury.address, 0) + FEE
            elif action == "infer":
                mid, price = models[who % len(models)]
                owner = reg.functions.modelOwner(mid).call()
                caller = next(a for a in chain.users if a.address == owner) if price else user
                chain.send(reg.functions.requestInference(mid), caller, price)
                paid[owner] = paid.get(owner, 0) + price
            else:
                payee = chain.users[who].address if who else chain.treasury.address
                credit = reg.functions.creditOf(payee).call()
                if credit:
                    chain.send(reg.functions.withdraw(payee), chain.users[who])
                    withdrawn += credit
            total = reg.functions.totalCredits().call()
            assert chain.balance(reg.address) == total
            assert total == sum(paid.values()) - withdrawn
    finally:
        chain.revert_to(snapshot)
