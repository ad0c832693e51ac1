"""Audit fixes of ModelAccessControl, ModelMarketplace and ModelRegistry: paid access requests
carry minimum terms that approval must honour and that nobody can revoke early; only the user or
a consumer contract consumes access; a model ADMIN cannot demote another; free calls no longer
inflate the registry's usage counters; featuring needs the owner or the admin; the treasury can
never be the contract itself; withdrawTo; bounds on a model's size and parameter count.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract
from web3.utils.address import get_create_address

from .harness import ETHER, ZERO_ADDRESS, ChainUnderTest
from .models import metadata, model_input, platform_fee, register_model

INFERENCE, FULL, ADMIN = 1, 2, 3
DAY = 86_400
CONSUMER_ROLE = keccak(text="CONSUMER_ROLE")
MAX_SIZE_BYTES = 10_000_000_000_000
MAX_PARAMETERS = 10**15


@pytest.fixture
def mac(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelAccessControl")


@pytest.fixture
def owner(chain: ChainUnderTest) -> LocalAccount:
    return chain.users[0]


@pytest.fixture
def buyer(chain: ChainUnderTest) -> LocalAccount:
    return chain.users[1]


@pytest.fixture
def mid(chain: ChainUnderTest, owner: LocalAccount) -> bytes:
    return register_model(chain, owner)


def request(
    chain: ChainUnderTest,
    buyer: LocalAccount,
    mid: bytes,
    *,
    level: int = FULL,
    min_duration: int = DAY,
    min_uses: int = 10,
    payment: int = 10 * ETHER,
) -> int:
    """``buyer`` asks for ``level`` access to ``mid`` with minimum terms; return the id."""
    mac = chain.contract("ModelAccessControl")
    fn = mac.functions.requestAccess(mid, level, min_duration, min_uses, "need it")
    receipt = chain.send(fn, buyer, payment)
    return int(chain.events(receipt, mac, "AccessRequested")[0]["requestId"])


def registry_counters(chain: ChainUnderTest, mid: bytes) -> tuple[int, int]:
    m = chain.contract("ModelRegistry", decode_tuples=True).functions.getModel(mid).call()
    return int(m.totalInferences), int(m.revenue)


# ------------------------------------------------------------------ 1. paid access terms


def test_request_records_minimum_terms(
    chain: ChainUnderTest, mac: Contract, buyer: LocalAccount, mid: bytes
) -> None:
    fn = mac.functions.requestAccess(mid, FULL, 3 * DAY, 25, "batch job")
    receipt = chain.send(fn, buyer, 5 * ETHER)
    assert chain.events(receipt, mac, "AccessRequested") == [
        {
            "requestId": 1,
            "modelId": mid,
            "requester": buyer.address,
            "level": FULL,
            "payment": 5 * ETHER,
            "minDuration": 3 * DAY,
            "minUses": 25,
        }
    ]
    r = chain.contract("ModelAccessControl", decode_tuples=True).functions.getRequest(1).call()
    assert (r.minDuration, r.minUses, r.payment, r.reason) == (3 * DAY, 25, 5 * ETHER, "batch job")


@pytest.mark.parametrize(
    ("min_duration", "min_uses", "expires_in", "limit", "ok"),
    [
        (DAY, 10, 30, 10, False),  # the audit's scenario: 30 s instead of a day
        (DAY, 10, DAY + 60, 1, False),  # one use instead of ten
        (DAY, 10, DAY + 60, 10, True),  # exactly the uses, a little more time
        (DAY, 10, None, 0, True),  # never expires, unlimited: more than asked
        (0, 10, DAY, 10, False),  # asked for no expiry, got one
        (0, 10, None, 10, True),
        (DAY, 0, DAY + 60, 1000, False),  # asked for unlimited uses, got a limit
        (DAY, 0, DAY + 60, 0, True),
    ],
)
def test_approval_must_grant_at_least_the_requested_terms(
    chain: ChainUnderTest,
    mac: Contract,
    owner: LocalAccount,
    buyer: LocalAccount,
    mid: bytes,
    min_duration: int,
    min_uses: int,
    expires_in: int | None,
    limit: int,
    ok: bool,
) -> None:
    rid = request(chain, buyer, mid, min_duration=min_duration, min_uses=min_uses)
    # Leave a margin for the next block's timestamp.
    expires = 0 if expires_in is None else chain.now() + expires_in + 5
    fn = mac.functions.approveAccessRequest(rid, expires, limit)
    if ok:
        chain.send(fn, owner)
        g = chain.contract("ModelAccessControl", decode_tuples=True)
        grant = g.functions.getGrant(mid, buyer.address).call()
        assert (grant.level, grant.expiresAt, grant.usageLimit, grant.paid) == (
            FULL,
            expires,
            limit,
            True,
        )
    else:
        err = chain.revert_of(fn, owner)
        assert (err.name, err.args) == (
            "GrantBelowRequestedTerms",
            {"requestId": rid, "minDuration": min_duration, "minUses": min_uses},
        ), err.message


def test_audit_scenario_owner_cannot_take_the_money_and_run(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    rid = request(chain, buyer, mid, min_duration=DAY, min_uses=3)
    expires = chain.now() + DAY + 60
    chain.send(mac.functions.approveAccessRequest(rid, expires, 3), owner)

    # The owner can neither burn the buyer's uses nor revoke nor overwrite the paid grant.
    err = chain.revert_of(mac.functions.useAccess(mid, buyer.address, 1), owner)
    assert (err.name, err.args) == (
        "NotAuthorisedConsumer",
        {"modelId": mid, "caller": owner.address},
    )
    paid = {"modelId": mid, "user": buyer.address, "expiresAt": expires, "usageLimit": 3}
    err = chain.revert_of(mac.functions.revokeAccess(mid, buyer.address), owner)
    assert (err.name, err.args) == ("PaidAccessActive", paid), err.message
    overwrite = mac.functions.grantAccess(mid, buyer.address, INFERENCE, chain.now() + 60, 1)
    err = chain.revert_of(overwrite, owner)
    assert (err.name, err.args) == ("PaidAccessActive", paid), err.message

    # The buyer uses what it paid for; once exhausted the grant may be revoked.
    chain.send(mac.functions.useAccess(mid, buyer.address, 2), buyer)
    err = chain.revert_of(mac.functions.revokeAccess(mid, buyer.address), owner)
    assert err.name == "PaidAccessActive"
    chain.send(mac.functions.useAccess(mid, buyer.address, 1), buyer)
    receipt = chain.send(mac.functions.revokeAccess(mid, buyer.address), owner)
    assert chain.events(receipt, mac, "AccessRevoked") == [
        {"modelId": mid, "user": buyer.address, "revokedBy": owner.address}
    ]


def test_paid_grant_revocable_after_expiry(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    rid = request(chain, buyer, mid, min_duration=DAY, min_uses=0)
    chain.send(mac.functions.approveAccessRequest(rid, chain.now() + DAY + 60, 0), owner)
    assert chain.revert_of(mac.functions.revokeAccess(mid, buyer.address), owner).name == (
        "PaidAccessActive"
    )
    chain.advance(DAY + 120)
    chain.send(mac.functions.revokeAccess(mid, buyer.address), owner)
    # After it ended the owner may grant the user anew.
    chain.send(mac.functions.grantAccess(mid, buyer.address, INFERENCE, 0, 5), owner)


def test_unpaid_grants_stay_revocable(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    rid = request(chain, buyer, mid, min_duration=0, min_uses=0, payment=0)
    chain.send(mac.functions.approveAccessRequest(rid, 0, 0), owner)
    g = chain.contract("ModelAccessControl", decode_tuples=True)
    assert g.functions.getGrant(mid, buyer.address).call().paid is False
    chain.send(mac.functions.revokeAccess(mid, buyer.address), owner)
    chain.send(mac.functions.grantAccess(mid, buyer.address, FULL, 0, 0), owner)
    chain.send(mac.functions.revokeAccess(mid, buyer.address), owner)


def test_approval_requires_an_active_model(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    rid = request(chain, buyer, mid)
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(mid), owner)
    err = chain.revert_of(mac.functions.approveAccessRequest(rid, 0, 0), owner)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})
    # The buyer is not stuck: it cancels and gets the escrow back.
    chain.send(mac.functions.cancelAccessRequest(rid), buyer)
    chain.assert_backed(mac, "totalCredits", "totalEscrow", "totalStaked")


def test_consumer_role_and_user_may_consume(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    consumer = chain.users[5]
    chain.send(mac.functions.grantAccess(mid, buyer.address, INFERENCE, 0, 10), owner)
    err = chain.revert_of(mac.functions.useAccess(mid, buyer.address, 1), consumer)
    assert err.name == "NotAuthorisedConsumer"
    chain.send(mac.functions.grantRole(CONSUMER_ROLE, consumer.address), chain.admin)
    receipt = chain.send(mac.functions.useAccess(mid, buyer.address, 4), consumer)
    assert chain.events(receipt, mac, "AccessUsed") == [
        {
            "modelId": mid,
            "user": buyer.address,
            "consumer": consumer.address,
            "uses": 4,
            "usageCount": 4,
        }
    ]
    chain.send(mac.functions.useAccess(mid, buyer.address, 1), buyer)
    # The owner consumes its own access as a user.
    chain.send(mac.functions.useAccess(mid, owner.address, 1), owner)


# ------------------------------------------------------------------ 2. ADMIN demotion


def test_model_admin_cannot_replace_another_admins_grant(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    a, b, user = chain.users[2], chain.users[3], chain.users[4]
    chain.send(mac.functions.grantAccess(mid, a.address, ADMIN, 0, 0), owner)
    chain.send(mac.functions.grantAccess(mid, b.address, ADMIN, 0, 0), owner)
    err = chain.revert_of(mac.functions.grantAccess(mid, b.address, INFERENCE, 0, 0), a)
    assert (err.name, err.args) == ("NotModelOwner", {"modelId": mid, "caller": a.address})
    assert mac.functions.accessLevel(mid, b.address).call() == ADMIN
    # An ADMIN still manages ordinary users; the owner may demote an ADMIN.
    chain.send(mac.functions.grantAccess(mid, user.address, FULL, 0, 0), a)
    chain.send(mac.functions.grantAccess(mid, b.address, INFERENCE, 0, 0), owner)
    assert mac.functions.accessLevel(mid, b.address).call() == INFERENCE


def test_model_admin_may_replace_an_ended_admin_grant(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    a, b = chain.users[2], chain.users[3]
    chain.send(mac.functions.grantAccess(mid, a.address, ADMIN, 0, 0), owner)
    chain.send(mac.functions.grantAccess(mid, b.address, ADMIN, chain.now() + 100, 0), owner)
    chain.advance(200)
    chain.send(mac.functions.grantAccess(mid, b.address, INFERENCE, 0, 0), a)
    assert mac.functions.accessLevel(mid, b.address).call() == INFERENCE


# ------------------------------------------------------------------ 3. registry counters


def test_use_access_does_not_inflate_registry_counters(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    chain.send(mac.functions.grantAccess(mid, buyer.address, INFERENCE, 0, 0), owner)
    receipt = chain.send(mac.functions.useAccess(mid, buyer.address, 1_000_000), buyer)
    assert chain.events(receipt, "ModelRegistry", "UsageRecorded") == []
    assert registry_counters(chain, mid) == (0, 0)
    assert mac.functions.getModelStats(mid).call()[1] == 1_000_000


@pytest.mark.parametrize(("limit", "payment"), [(7, 10 * ETHER + 39), (0, 3 * ETHER), (5, 0)])
def test_paid_approval_reports_granted_uses_and_owner_share(
    chain: ChainUnderTest,
    mac: Contract,
    owner: LocalAccount,
    buyer: LocalAccount,
    mid: bytes,
    limit: int,
    payment: int,
) -> None:
    rid = request(chain, buyer, mid, min_duration=0, min_uses=limit, payment=payment)
    receipt = chain.send(mac.functions.approveAccessRequest(rid, 0, limit), owner)
    share = payment - platform_fee(payment)
    expected = (
        [{"modelId": mid, "reporter": mac.address, "inferences": limit, "revenue": share}]
        if payment
        else []
    )
    assert chain.events(receipt, "ModelRegistry", "UsageRecorded") == expected
    assert registry_counters(chain, mid) == ((limit, share) if payment else (0, 0))


# ------------------------------------------------------------------ 4. featuring


def test_featuring_needs_owner_or_admin_even_when_free(
    chain: ChainUnderTest, owner: LocalAccount, mid: bytes
) -> None:
    market = chain.contract("ModelMarketplace")
    chain.send(market.functions.listModel((mid, 100, 80, 10, 0, "ipfs://x")), owner)
    chain.send(market.functions.setFeaturedFee(0), chain.admin)
    stranger = chain.users[6]
    err = chain.revert_of(market.functions.featureModel(mid), stranger)
    assert (err.name, err.args) == (
        "NotOwnerOrAdmin",
        {"modelId": mid, "caller": stranger.address},
    )
    chain.send(market.functions.featureModel(mid), owner)
    chain.send(market.functions.unfeatureModel(mid), owner)
    chain.send(market.functions.featureModel(mid), chain.admin)
    assert market.functions.featuredCount().call() == 1


def test_stranger_cannot_feature_with_the_fee_either(
    chain: ChainUnderTest, owner: LocalAccount, mid: bytes
) -> None:
    market = chain.contract("ModelMarketplace")
    chain.send(market.functions.listModel((mid, 100, 80, 10, 0, "ipfs://x")), owner)
    err = chain.revert_of(market.functions.featureModel(mid), chain.users[6], ETHER)
    assert err.name == "NotOwnerOrAdmin"


# ------------------------------------------------------------------ 5. treasury and withdrawTo

MODEL_CONTRACTS = ("ModelRegistry", "ModelMarketplace", "ModelAccessControl")


@pytest.mark.parametrize("name", MODEL_CONTRACTS)
def test_set_treasury_rejects_the_contract_itself(chain: ChainUnderTest, name: str) -> None:
    c = chain.contract(name)
    err = chain.revert_of(c.functions.setTreasury(c.address), chain.admin)
    assert (err.name, err.args) == ("PayeeIsThisContract", {}), err.message
    assert c.functions.treasury().call() == chain.treasury.address


@pytest.mark.parametrize("name", MODEL_CONTRACTS)
def test_constructor_rejects_the_contract_itself_as_treasury(
    chain: ChainUnderTest, name: str
) -> None:
    deployer = chain.users[7]
    nonce = chain.w3.eth.get_transaction_count(deployer.address)
    itself = to_checksum_address(get_create_address(deployer.address, nonce))
    registry = chain.addresses["ModelRegistry"]
    args = (
        (chain.admin.address, itself)
        if name == "ModelRegistry"
        else (chain.admin.address, registry, itself)
    )
    err = chain.deploy_revert(name, deployer, *args)
    assert (err.name, err.args) == ("PayeeIsThisContract", {}), err.message


def test_treasury_withdraws_its_fee_elsewhere(chain: ChainUnderTest, owner: LocalAccount) -> None:
    registry = chain.contract("ModelRegistry")
    register_model(chain, owner)
    fee = registry.functions.creditOf(chain.treasury.address).call()
    assert fee == 10**17
    vault = chain.users[8].address
    chain.transfer(chain.users[9], chain.treasury.address, ETHER)  # gas money
    err = chain.revert_of(registry.functions.withdrawTo(ZERO_ADDRESS), chain.treasury)
    assert err.name == "ZeroPayee"
    before = chain.balance(vault)
    receipt = chain.send(registry.functions.withdrawTo(vault), chain.treasury)
    assert chain.balance(vault) - before == fee
    assert chain.events(receipt, registry, "PaymentWithdrawnTo") == [
        {"payee": chain.treasury.address, "to": vault, "amount": fee}
    ]
    assert registry.functions.creditOf(chain.treasury.address).call() == 0
    err = chain.revert_of(registry.functions.withdrawTo(vault), chain.treasury)
    assert (err.name, err.args) == ("NothingToWithdraw", {"payee": chain.treasury.address})
    chain.assert_backed(registry, "totalCredits")


def test_seller_withdraws_its_share_elsewhere(
    chain: ChainUnderTest, owner: LocalAccount, buyer: LocalAccount, mid: bytes
) -> None:
    market = chain.contract("ModelMarketplace")
    chain.send(market.functions.listModel((mid, 1001, 1001, 10, 0, "ipfs://x")), owner)
    chain.send(market.functions.purchaseAccess(mid, 3), buyer, 3003)
    share = 3003 - platform_fee(3003)
    vault = chain.users[8].address
    before = chain.balance(vault)
    receipt = chain.send(market.functions.withdrawTo(vault), owner)
    assert chain.balance(vault) - before == share
    assert chain.events(receipt, market, "PaymentWithdrawnTo") == [
        {"payee": owner.address, "to": vault, "amount": share}
    ]
    chain.assert_backed(market, "totalCredits")


# ------------------------------------------------------------------ 6. registry bounds


@pytest.mark.parametrize(
    ("size", "parameters", "field", "value", "maximum"),
    [
        (MAX_SIZE_BYTES + 1, 7, "sizeBytes", MAX_SIZE_BYTES + 1, MAX_SIZE_BYTES),
        (1000, MAX_PARAMETERS + 1, "parameters", MAX_PARAMETERS + 1, MAX_PARAMETERS),
        (2**256 - 1, 7, "sizeBytes", 2**256 - 1, MAX_SIZE_BYTES),
    ],
)
def test_register_rejects_oversized_size_and_parameters(
    chain: ChainUnderTest,
    owner: LocalAccount,
    size: int,
    parameters: int,
    field: str,
    value: int,
    maximum: int,
) -> None:
    registry = chain.contract("ModelRegistry")
    inp = model_input(size=size, meta=metadata(parameters=parameters))
    err = chain.revert_of(registry.functions.registerModel(inp), owner, 10**17)
    assert (err.name, err.args) == (
        "ValueTooLarge",
        {"field": field, "value": value, "max": maximum},
    ), err.message


def test_register_accepts_the_maximum_size_and_parameters(
    chain: ChainUnderTest, owner: LocalAccount
) -> None:
    registry = chain.contract("ModelRegistry")
    f = registry.functions
    assert (f.MAX_SIZE_BYTES().call(), f.MAX_PARAMETERS().call()) == (
        MAX_SIZE_BYTES,
        MAX_PARAMETERS,
    )
    inp = model_input(size=MAX_SIZE_BYTES, meta=metadata(parameters=MAX_PARAMETERS))
    chain.send(f.registerModel(inp), owner, 10**17)


def test_update_metadata_rejects_oversized_parameters(
    chain: ChainUnderTest, owner: LocalAccount, mid: bytes
) -> None:
    registry = chain.contract("ModelRegistry")
    fn = registry.functions.updateMetadata(mid, metadata(parameters=MAX_PARAMETERS + 1))
    err = chain.revert_of(fn, owner)
    assert (err.name, err.args["field"]) == ("ValueTooLarge", "parameters")
    chain.send(registry.functions.updateMetadata(mid, metadata(parameters=MAX_PARAMETERS)), owner)
