"""ModelAccessControl: grants with expiry and usage limits, delegated model admins, consuming
access, paid requests (escrow, exact 2.5 % split, refunds), staking with locks, re-entering
requesters and stakers, and the balance invariant.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ETHER, ZERO_ADDRESS, ChainUnderTest, Reverted
from .models import platform_fee, register_model

NONE, INFERENCE, FULL, ADMIN = 0, 1, 2, 3
PENDING, APPROVED, REJECTED, CANCELLED = 1, 2, 3, 4


@pytest.fixture
def mac(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelAccessControl")


@pytest.fixture
def tmac(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelAccessControl", decode_tuples=True)


@pytest.fixture
def owner(chain: ChainUnderTest) -> LocalAccount:
    return chain.users[0]


@pytest.fixture
def mid(chain: ChainUnderTest, owner: LocalAccount) -> bytes:
    return register_model(chain, owner)


def grant(
    chain: ChainUnderTest,
    by: LocalAccount,
    model: bytes,
    user: str,
    level: int = INFERENCE,
    expires: int = 0,
    limit: int = 0,
):
    mac = chain.contract("ModelAccessControl")
    return chain.send(mac.functions.grantAccess(model, user, level, expires, limit), by)


# ------------------------------------------------------------------------------- deployment


def test_deployment_state(chain: ChainUnderTest, mac: Contract) -> None:
    f = mac.functions
    assert f.registry().call() == chain.addresses["ModelRegistry"]
    assert f.treasury().call() == chain.treasury.address
    assert f.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert (
        f.ACCESS_NONE().call(),
        f.ACCESS_INFERENCE().call(),
        f.ACCESS_FULL().call(),
        f.ACCESS_ADMIN().call(),
    ) == (0, 1, 2, 3)
    assert (f.ACCESS_FEE_BPS().call(), f.BPS_DENOMINATOR().call()) == (250, 10_000)
    assert f.MAX_LOCK_PERIOD().call() == 365 * 86400
    assert f.CONSUMER_ROLE().call() == keccak(text="CONSUMER_ROLE")
    assert (f.totalEscrow().call(), f.totalStaked().call(), f.totalCredits().call()) == (0, 0, 0)
    assert f.requestCount().call() == 0


@pytest.mark.parametrize("which", ["admin", "registry", "treasury"])
def test_constructor_rejects_zero_addresses(chain: ChainUnderTest, which: str) -> None:
    args = {name: "0x" + "11" * 20 for name in ("admin", "registry", "treasury")}
    args[which] = ZERO_ADDRESS
    err = chain.deploy_revert("ModelAccessControl", chain.users[0], *args.values())
    assert (err.name, err.args) == ("ZeroAddress", {"what": which})


# ------------------------------------------------------------------------------- grants


def test_grant_access(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    user = chain.users[1].address
    expires = chain.now() + 3600
    receipt = grant(chain, owner, mid, user, FULL, expires, 5)
    assert chain.events(receipt, mac, "AccessGranted") == [
        {
            "modelId": mid,
            "user": user,
            "level": FULL,
            "expiresAt": expires,
            "usageLimit": 5,
            "grantedBy": owner.address,
        }
    ]
    g = tmac.functions.getGrant(mid, user).call()
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(g) == (FULL, False, ts, expires, 5, 0, owner.address, False)  # not paid
    f = mac.functions
    assert f.accessLevel(mid, user).call() == FULL
    assert f.hasAccess(mid, user, INFERENCE).call() and f.hasAccess(mid, user, FULL).call()
    assert not f.hasAccess(mid, user, ADMIN).call()
    assert f.accessLevel(mid, owner.address).call() == ADMIN  # the owner always is
    assert f.accessLevel(mid, chain.users[2].address).call() == NONE
    assert not f.hasAccess(mid, chain.users[2].address, NONE).call()
    assert f.accessLevel(b"\x01" * 32, owner.address).call() == NONE
    assert tmac.functions.getModelStats(mid).call().uniqueUsers == 1
    # Granting again replaces the grant and resets its usage.
    chain.send(f.useAccess(mid, user, 2), chain.users[1])
    grant(chain, owner, mid, user, INFERENCE)
    g = tmac.functions.getGrant(mid, user).call()
    assert (g.level, g.expiresAt, g.usageLimit, g.usageCount) == (INFERENCE, 0, 0, 0)
    assert tmac.functions.getModelStats(mid).call().uniqueUsers == 1


def test_grant_access_reverts(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    user = chain.users[1].address
    err = chain.revert_of(f.grantAccess(mid, user, INFERENCE, 0, 0), chain.users[1])
    assert (err.name, err.args) == (
        "NotModelManager",
        {"modelId": mid, "caller": chain.users[1].address},
    )
    err = chain.revert_of(f.grantAccess(b"\x02" * 32, user, INFERENCE, 0, 0), owner)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x02" * 32})
    assert chain.revert_of(f.grantAccess(mid, ZERO_ADDRESS, 1, 0, 0), owner).args == {
        "what": "user"
    }
    for level in (0, 4, 255):
        err = chain.revert_of(f.grantAccess(mid, user, level, 0, 0), owner)
        assert (err.name, err.args) == ("InvalidLevel", {"level": level, "min": 1, "max": 3})
    now = chain.now()
    err = chain.revert_of(f.grantAccess(mid, user, INFERENCE, now - 1, 0), owner)
    assert err.name == "ExpiryInPast" and err.args["expiresAt"] == now - 1


def test_model_admins_manage_lower_levels(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    delegate, user, other = chain.users[1], chain.users[2], chain.users[3]
    f = mac.functions
    grant(chain, owner, mid, delegate.address, ADMIN, chain.now() + 1000)
    receipt = grant(chain, delegate, mid, user.address, FULL)
    assert chain.events(receipt, mac, "AccessGranted")[0]["grantedBy"] == delegate.address
    err = chain.revert_of(f.grantAccess(mid, other.address, ADMIN, 0, 0), delegate)
    assert (err.name, err.args) == (
        "NotModelOwner",
        {"modelId": mid, "caller": delegate.address},
    )
    grant(chain, owner, mid, other.address, ADMIN)
    err = chain.revert_of(f.revokeAccess(mid, other.address), delegate)
    assert err.name == "NotModelOwner"  # only the owner revokes an ADMIN
    receipt = chain.send(f.revokeAccess(mid, user.address), delegate)
    assert chain.events(receipt, mac, "AccessRevoked") == [
        {"modelId": mid, "user": user.address, "revokedBy": delegate.address}
    ]
    chain.advance(1001)  # the delegate's ADMIN grant expired
    err = chain.revert_of(f.grantAccess(mid, user.address, INFERENCE, 0, 0), delegate)
    assert (err.name, err.args) == (
        "NotModelManager",
        {"modelId": mid, "caller": delegate.address},
    )


def test_revoke_access(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    user = chain.users[1].address
    f = mac.functions
    err = chain.revert_of(f.revokeAccess(mid, user), owner)
    assert (err.name, err.args) == ("NothingToRevoke", {"modelId": mid, "user": user})
    grant(chain, owner, mid, user)
    assert chain.revert_of(f.revokeAccess(mid, user), chain.users[2]).name == "NotModelManager"
    receipt = chain.send(f.revokeAccess(mid, user), owner)
    assert chain.events(receipt, mac, "AccessRevoked") == [
        {"modelId": mid, "user": user, "revokedBy": owner.address}
    ]
    assert tmac.functions.getGrant(mid, user).call().revoked
    assert f.accessLevel(mid, user).call() == NONE
    assert chain.revert_of(f.revokeAccess(mid, user), owner).name == "NothingToRevoke"


# ------------------------------------------------------------------------------- using access


def test_use_access_counts_here_only(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    user = chain.users[1]
    grant(chain, owner, mid, user.address, INFERENCE, 0, 3)
    f = mac.functions
    receipt = chain.send(f.useAccess(mid, user.address, 2), user)
    assert chain.events(receipt, mac, "AccessUsed") == [
        {
            "modelId": mid,
            "user": user.address,
            "consumer": user.address,
            "uses": 2,
            "usageCount": 2,
        }
    ]
    # Free uses are not reported to the registry (they would inflate its counters).
    registry = chain.contract("ModelRegistry", decode_tuples=True)
    assert chain.events(receipt, registry, "UsageRecorded") == []
    err = chain.revert_of(f.useAccess(mid, user.address, 2), user)
    assert (err.name, err.args) == (
        "UsageLimitReached",
        {"modelId": mid, "user": user.address, "used": 2, "limit": 3},
    )
    # The model owner may not consume a user's access (it could burn what the user bought).
    err = chain.revert_of(f.useAccess(mid, user.address, 1), owner)
    assert (err.name, err.args) == (
        "NotAuthorisedConsumer",
        {"modelId": mid, "caller": owner.address},
    )
    chain.send(f.useAccess(mid, user.address, 1), user)
    assert not f.hasAccess(mid, user.address, INFERENCE).call()  # exhausted
    err = chain.revert_of(f.useAccess(mid, user.address, 1), user)
    assert err.args == {"modelId": mid, "user": user.address, "used": 3, "limit": 3}
    assert tmac.functions.getGrant(mid, user.address).call().usageCount == 3
    assert tmac.functions.getModelStats(mid).call().totalUses == 3
    assert registry.functions.getModel(mid).call().totalInferences == 0
    # The owner's own use needs no grant.
    receipt = chain.send(f.useAccess(mid, owner.address, 4), owner)
    assert chain.events(receipt, mac, "AccessUsed")[0]["usageCount"] == 0


def test_use_access_reverts(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    user, stranger, router = chain.users[1], chain.users[2], chain.users[7]
    f = mac.functions
    err = chain.revert_of(f.useAccess(mid, user.address, 1), user)
    assert (err.name, err.args) == ("NoAccess", {"modelId": mid, "user": user.address})
    expires = chain.now() + 100
    grant(chain, owner, mid, user.address, INFERENCE, expires)
    err = chain.revert_of(f.useAccess(mid, user.address, 1), stranger)
    assert (err.name, err.args) == (
        "NotAuthorisedConsumer",
        {"modelId": mid, "caller": stranger.address},
    )
    role = f.CONSUMER_ROLE().call()
    chain.assert_needs_role(mac.functions.grantRole(role, router.address), ADMIN_ROLE, owner)
    chain.send(mac.functions.grantRole(role, router.address), chain.admin)
    chain.send(f.useAccess(mid, user.address, 1), router)  # an authorised consumer
    assert chain.revert_of(f.useAccess(mid, user.address, 0), user).args == {"field": "uses"}
    err = chain.revert_of(f.useAccess(mid, user.address, 10**6 + 1), user)
    assert err.args == {"field": "uses", "value": 10**6 + 1, "max": 10**6}
    err = chain.revert_of(f.useAccess(b"\x03" * 32, user.address, 1), user)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x03" * 32})
    chain.advance(101)
    err = chain.revert_of(f.useAccess(mid, user.address, 1), user)
    assert (err.name, err.args) == (
        "AccessExpired",
        {"modelId": mid, "user": user.address, "expiresAt": expires},
    )
    grant(chain, owner, mid, user.address)
    chain.send(f.revokeAccess(mid, user.address), owner)
    err = chain.revert_of(f.useAccess(mid, user.address, 1), user)
    assert (err.name, err.args) == (
        "AccessWasRevoked",
        {"modelId": mid, "user": user.address},
    )
    assert f.hasAccess(mid, owner.address, ADMIN).call()
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(mid), owner)
    err = chain.revert_of(f.useAccess(mid, owner.address, 1), owner)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})
    # The level stays, but nobody can use a deactivated model.
    assert f.accessLevel(mid, owner.address).call() == ADMIN
    assert not f.hasAccess(mid, owner.address, INFERENCE).call()


# ------------------------------------------------------------------------------- requests


def request(
    chain: ChainUnderTest,
    user: LocalAccount,
    model: bytes,
    payment: int,
    level: int = INFERENCE,
    min_duration: int = 1,
    min_uses: int = 1,
) -> int:
    """``user`` requests ``level`` access to ``model`` paying ``payment``; the default minimum
    terms (1 second, 1 use) accept any approval."""
    mac = chain.contract("ModelAccessControl")
    fn = mac.functions.requestAccess(model, level, min_duration, min_uses, "research")
    receipt = chain.send(fn, user, payment)
    return int(chain.events(receipt, mac, "AccessRequested")[0]["requestId"])


def test_request_access_escrows_the_payment(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, mid: bytes
) -> None:
    user = chain.users[1]
    before = chain.balance(mac.address)
    fn = mac.functions.requestAccess(mid, FULL, 3600, 20, "for a paper")
    receipt = chain.send(fn, user, 39)
    assert chain.events(receipt, mac, "AccessRequested") == [
        {
            "requestId": 1,
            "modelId": mid,
            "requester": user.address,
            "level": FULL,
            "payment": 39,
            "minDuration": 3600,
            "minUses": 20,
        }
    ]
    r = tmac.functions.getRequest(1).call()
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(r) == (1, mid, user.address, FULL, PENDING, ts, 0, 39, "for a paper", 3600, 20)
    f = mac.functions
    assert f.totalEscrow().call() == 39 and chain.balance(mac.address) - before == 39
    assert f.pendingRequestOf(mid, user.address).call() == 1 and f.requestCount().call() == 1
    err = chain.revert_of(f.requestAccess(mid, FULL, 0, 0, ""), user, 1)
    assert (err.name, err.args) == ("PendingRequestExists", {"modelId": mid, "requestId": 1})
    other = request(chain, chain.users[2], mid, 0)
    assert f.getRequestsFor(mid, 0, 10).call() == [1, other]
    assert f.getRequestsFor(mid, 1, 10).call() == [other]
    assert f.getRequestsBy(user.address, 0, 10).call() == [1]
    assert f.getRequestsBy(chain.users[5].address, 0, 10).call() == []


def test_request_access_reverts(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    user = chain.users[1]
    for level in (0, 4):
        err = chain.revert_of(f.requestAccess(mid, level, 0, 0, ""), user)
        assert (err.name, err.args) == ("InvalidLevel", {"level": level, "min": 1, "max": 3})
    err = chain.revert_of(f.requestAccess(mid, 1, 0, 0, "r" * 257), user)
    assert err.args == {"field": "reason", "length": 257, "maxLength": 256}
    err = chain.revert_of(f.requestAccess(b"\x04" * 32, 1, 0, 0, ""), user)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": b"\x04" * 32})
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(mid), owner)
    err = chain.revert_of(f.requestAccess(mid, 1, 0, 0, ""), user)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})
    err = chain.revert_of(f.getRequest(7), user)
    assert (err.name, err.args) == ("UnknownAccessRequest", {"requestId": 7})


@pytest.mark.parametrize("payment", [0, 1, 39, 10**18 + 7])
def test_approve_splits_exactly(
    chain: ChainUnderTest,
    mac: Contract,
    tmac: Contract,
    owner: LocalAccount,
    mid: bytes,
    payment: int,
) -> None:
    user = chain.users[1]
    rid = request(chain, user, mid, payment, FULL)
    expires = chain.now() + 1000
    receipt = chain.send(mac.functions.approveAccessRequest(rid, expires, 10), owner)
    fee = platform_fee(payment)
    share = payment - fee
    assert chain.events(receipt, mac, "AccessRequestApproved") == [
        {"requestId": rid, "approver": owner.address, "ownerShare": share, "fee": fee}
    ]
    assert chain.events(receipt, mac, "AccessGranted")[0]["level"] == FULL
    f = mac.functions
    assert f.creditOf(owner.address).call() == share
    assert f.creditOf(chain.treasury.address).call() == fee
    assert f.totalCredits().call() == payment and f.totalEscrow().call() == 0
    assert chain.balance(mac.address) == payment
    registry = chain.contract("ModelRegistry", decode_tuples=True)
    usage = chain.events(receipt, registry, "UsageRecorded")
    assert usage == (
        [{"modelId": mid, "reporter": mac.address, "inferences": 10, "revenue": share}]
        if payment
        else []
    )
    g = tmac.functions.getGrant(mid, user.address).call()
    assert (g.level, g.expiresAt, g.usageLimit, g.grantedBy, g.paid) == (
        FULL,
        expires,
        10,
        owner.address,
        payment != 0,
    )
    r = tmac.functions.getRequest(rid).call()
    assert (r.status, r.decidedAt) == (
        APPROVED,
        chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"],
    )
    assert f.pendingRequestOf(mid, user.address).call() == 0
    assert tmac.functions.getModelStats(mid).call().revenue == share
    err = chain.revert_of(f.approveAccessRequest(rid, 0, 0), owner)
    assert (err.name, err.args) == ("RequestNotPending", {"requestId": rid, "status": APPROVED})


def test_approve_and_reject_reverts(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    delegate = chain.users[2]
    rid = request(chain, chain.users[1], mid, 5, ADMIN)
    for fn in (f.approveAccessRequest(rid, 0, 0), f.rejectAccessRequest(rid)):
        err = chain.revert_of(fn, chain.users[3])
        assert (err.name, err.args) == (
            "NotModelManager",
            {"modelId": mid, "caller": chain.users[3].address},
        )
    grant(chain, owner, mid, delegate.address, ADMIN)
    err = chain.revert_of(f.approveAccessRequest(rid, 0, 0), delegate)
    assert err.name == "NotModelOwner"  # an ADMIN request is the owner's call
    err = chain.revert_of(f.approveAccessRequest(rid, chain.now() - 1, 0), owner)
    assert err.name == "ExpiryInPast"
    for fn in (
        f.approveAccessRequest(99, 0, 0),
        f.rejectAccessRequest(99),
        f.cancelAccessRequest(99),
    ):
        err = chain.revert_of(fn, owner)
        assert (err.name, err.args) == ("UnknownAccessRequest", {"requestId": 99})
    # A delegate answers INFERENCE/FULL requests; the owner is paid.
    rid2 = request(chain, chain.users[4], mid, 1000, FULL)
    chain.send(f.approveAccessRequest(rid2, 0, 0), delegate)
    assert f.creditOf(owner.address).call() == 975 and f.creditOf(delegate.address).call() == 0


def test_reject_credits_the_requester(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    user = chain.users[1]
    rid = request(chain, user, mid, ETHER + 7)
    receipt = chain.send(mac.functions.rejectAccessRequest(rid), owner)
    assert chain.events(receipt, mac, "AccessRequestRejected") == [
        {"requestId": rid, "rejecter": owner.address}
    ]
    f = mac.functions
    assert f.creditOf(user.address).call() == ETHER + 7 and f.totalEscrow().call() == 0
    assert tmac.functions.getRequest(rid).call().status == REJECTED
    assert f.accessLevel(mid, user.address).call() == NONE
    err = chain.revert_of(f.rejectAccessRequest(rid), owner)
    assert err.args == {"requestId": rid, "status": REJECTED}
    chain.withdraw_exactly(mac, user.address, ETHER + 7, by=chain.users[5])
    assert chain.balance(mac.address) == 0
    # The requester may ask again once nothing is pending.
    request(chain, user, mid, 0)


def test_cancel_returns_the_payment_at_once(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, mid: bytes
) -> None:
    user = chain.users[1]
    rid = request(chain, user, mid, 39)
    err = chain.revert_of(mac.functions.cancelAccessRequest(rid), chain.users[2])
    assert (err.name, err.args) == (
        "NotAccessRequester",
        {"requestId": rid, "caller": chain.users[2].address},
    )
    before = chain.balance(user.address)
    receipt = chain.send(mac.functions.cancelAccessRequest(rid), user)
    assert chain.events(receipt, mac, "AccessRequestCancelled") == [{"requestId": rid}]
    assert chain.balance(user.address) - before == 39 - chain.gas_cost(receipt)
    assert tmac.functions.getRequest(rid).call().status == CANCELLED
    assert mac.functions.totalEscrow().call() == 0 and chain.balance(mac.address) == 0
    err = chain.revert_of(mac.functions.cancelAccessRequest(rid), user)
    assert err.args == {"requestId": rid, "status": CANCELLED}


# ------------------------------------------------------------------------------- staking


def test_set_stake_requirement(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    receipt = chain.send(f.setStakeRequirement(mid, ETHER, FULL, 3600), owner)
    assert chain.events(receipt, mac, "StakeRequirementSet") == [
        {"modelId": mid, "amount": ETHER, "level": FULL, "lockPeriod": 3600}
    ]
    assert tuple(tmac.functions.getStakeRequirement(mid).call()) == (ETHER, 3600, FULL)
    err = chain.revert_of(f.setStakeRequirement(mid, 1, 1, 0), chain.users[1])
    assert (err.name, err.args) == (
        "NotModelOwner",
        {"modelId": mid, "caller": chain.users[1].address},
    )
    err = chain.revert_of(f.setStakeRequirement(mid, 10**24 + 1, 1, 0), owner)
    assert err.args == {"field": "amount", "value": 10**24 + 1, "max": 10**24}
    err = chain.revert_of(f.setStakeRequirement(mid, 1, 1, 365 * 86400 + 1), owner)
    assert err.args == {"field": "lockPeriod", "value": 365 * 86400 + 1, "max": 365 * 86400}
    for level in (0, ADMIN):  # staking never gives ADMIN
        err = chain.revert_of(f.setStakeRequirement(mid, 1, level, 0), owner)
        assert (err.name, err.args) == ("InvalidLevel", {"level": level, "min": 1, "max": 2})
    err = chain.revert_of(f.setStakeRequirement(b"\x05" * 32, 1, 1, 0), owner)
    assert err.name == "UnknownModel"
    chain.send(f.setStakeRequirement(mid, 0, 0, 0), owner)  # disable
    err = chain.revert_of(f.stakeForAccess(mid), chain.users[1], 0)
    assert (err.name, err.args) == ("StakingNotEnabled", {"modelId": mid})


def test_stake_and_unstake(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    user = chain.users[1]
    stake = ETHER + 7
    chain.send(f.setStakeRequirement(mid, stake, FULL, 3600), owner)
    for sent in (0, stake - 1, stake + 1):
        err = chain.revert_of(f.stakeForAccess(mid), user, sent)
        assert (err.name, err.args) == ("WrongStake", {"required": stake, "sent": sent})
    receipt = chain.send(f.stakeForAccess(mid), user, stake)
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert chain.events(receipt, mac, "Staked") == [
        {
            "modelId": mid,
            "user": user.address,
            "amount": stake,
            "level": FULL,
            "lockedUntil": ts + 3600,
        }
    ]
    assert tuple(tmac.functions.getStake(mid, user.address).call()) == (
        stake,
        ts + 3600,
        FULL,
        False,
    )
    assert f.totalStaked().call() == stake == chain.balance(mac.address)
    assert f.accessLevel(mid, user.address).call() == FULL
    err = chain.revert_of(f.stakeForAccess(mid), user, stake)
    assert (err.name, err.args) == ("AlreadyStaked", {"modelId": mid, "user": user.address})
    # Stake access is unlimited and consumed before any grant.
    grant(chain, owner, mid, user.address, INFERENCE, 0, 1)
    chain.send(f.useAccess(mid, user.address, 50), user)
    assert tmac.functions.getGrant(mid, user.address).call().usageCount == 0
    err = chain.revert_of(f.unstake(mid), user)
    assert (err.name, err.args) == (
        "StakeLocked",
        {"modelId": mid, "user": user.address, "lockedUntil": ts + 3600},
    )
    # A changed requirement does not touch existing stakes.
    chain.send(f.setStakeRequirement(mid, 5, INFERENCE, 0), owner)
    assert tmac.functions.getStake(mid, user.address).call().amount == stake
    chain.advance(3600)
    before = chain.balance(user.address)
    receipt = chain.send(f.unstake(mid), user)
    assert chain.events(receipt, mac, "Unstaked") == [
        {"modelId": mid, "user": user.address, "amount": stake}
    ]
    assert chain.balance(user.address) - before == stake - chain.gas_cost(receipt)
    assert f.totalStaked().call() == 0 and chain.balance(mac.address) == 0
    assert f.accessLevel(mid, user.address).call() == INFERENCE  # the grant remains
    err = chain.revert_of(f.unstake(mid), user)
    assert (err.name, err.args) == ("NoStake", {"modelId": mid, "user": user.address})


def test_revocation_or_deactivation_unlocks_stakes(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    a, b = chain.users[1], chain.users[2]
    chain.send(f.setStakeRequirement(mid, 1000, INFERENCE, 86400), owner)
    chain.send(f.stakeForAccess(mid), a, 1000)
    chain.send(f.stakeForAccess(mid), b, 1000)
    assert chain.revert_of(f.revokeAccess(mid, a.address), b).name == "NotModelManager"
    chain.send(f.revokeAccess(mid, a.address), owner)
    s = tmac.functions.getStake(mid, a.address).call()
    assert (s.revoked, s.lockedUntil) == (True, 0)
    assert f.accessLevel(mid, a.address).call() == NONE
    err = chain.revert_of(f.useAccess(mid, a.address, 1), a)
    assert err.name == "NoAccess"
    assert chain.revert_of(f.revokeAccess(mid, a.address), owner).name == "NothingToRevoke"
    chain.send(f.unstake(mid), a)  # unlocked at once
    assert chain.revert_of(f.unstake(mid), b).name == "StakeLocked"
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(mid), owner)
    err = chain.revert_of(f.stakeForAccess(mid), chain.users[3], 1000)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})
    chain.send(f.unstake(mid), b)  # the model is deactivated: unlocked
    assert f.totalStaked().call() == 0 == chain.balance(mac.address)


def test_set_treasury(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    f = mac.functions
    new = chain.users[8].address
    receipt = chain.send(f.setTreasury(new), chain.admin)
    assert chain.events(receipt, mac, "TreasuryChanged") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": new}
    ]
    rid = request(chain, chain.users[1], mid, 1000)
    chain.send(f.approveAccessRequest(rid, 0, 0), owner)
    assert f.creditOf(new).call() == 25
    assert chain.revert_of(f.setTreasury(ZERO_ADDRESS), chain.admin).args == {"what": "treasury"}
    assert chain.revert_of(f.setTreasury(mac.address), chain.admin).name == "PayeeIsThisContract"
    chain.assert_needs_role(f.setTreasury(new), ADMIN_ROLE, owner)


# ------------------------------------------------------------------------------- re-entrancy


def test_reentrant_canceller_is_refunded_once(
    chain: ChainUnderTest, mac: Contract, mid: bytes
) -> None:
    attacker = Reentrant.deploy(chain, chain.users[9])
    f = mac.functions
    attacker.act(f.requestAccess(mid, INFERENCE, 0, 0, ""), 777)
    request(chain, chain.users[1], mid, 500)  # someone else's escrow must stay intact
    cancel = f.cancelAccessRequest(1)
    attacker.arm(cancel)
    attacker.act(cancel)
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, chain.balance(attacker.address)) == (1, 777)
    assert f.totalEscrow().call() == 500 == chain.balance(mac.address)


def test_reentrant_staker_is_refunded_once(
    chain: ChainUnderTest, mac: Contract, tmac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    attacker = Reentrant.deploy(chain, chain.users[9])
    f = mac.functions
    chain.send(f.setStakeRequirement(mid, ETHER + 7, INFERENCE, 10), owner)
    attacker.act(f.stakeForAccess(mid), ETHER + 7)
    chain.send(f.stakeForAccess(mid), chain.users[1], ETHER + 7)
    chain.advance(11)
    unstake = f.unstake(mid)
    # Bubbling the failed re-entry makes the unstake itself fail: the stake stays.
    attacker.arm(unstake, bubble=True)
    with pytest.raises(Reverted) as info:
        attacker.act(unstake)
    assert info.value.error.name == "PaymentFailed"
    assert tmac.functions.getStake(mid, attacker.address).call().amount == ETHER + 7
    attacker.arm(unstake)
    attacker.act(unstake)
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, chain.balance(attacker.address)) == (1, ETHER + 7)
    assert f.totalStaked().call() == ETHER + 7 == chain.balance(mac.address)


def test_reentrant_rejected_requester_withdraws_once(
    chain: ChainUnderTest, mac: Contract, owner: LocalAccount, mid: bytes
) -> None:
    attacker = Reentrant.deploy(chain, chain.users[9])
    f = mac.functions
    attacker.act(f.requestAccess(mid, INFERENCE, 0, 0, ""), 39)
    chain.send(f.rejectAccessRequest(1), owner)
    rid = request(chain, chain.users[1], mid, 1000)
    chain.send(f.approveAccessRequest(rid, 0, 0), owner)
    attacker.arm(f.withdraw(attacker.address))
    chain.withdraw_exactly(mac, attacker.address, 39, by=chain.users[2])
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, chain.balance(attacker.address)) == (1, 39)
    assert f.creditOf(attacker.address).call() == 0
    assert chain.balance(mac.address) == f.totalCredits().call() == 1000


# ------------------------------------------------------------------------------- invariant

_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["request", "approve", "reject", "cancel", "stake", "unstake", "withdraw"]),
        st.integers(1, 5),
        st.sampled_from([0, 1, 39, 10**18 + 7]),
    ),
    min_size=4,
    max_size=10,
)


@pytest.fixture
def staking_model(chain: ChainUnderTest, owner: LocalAccount) -> bytes:
    """A model with staking enabled (set up once for all hypothesis examples of a test)."""
    model = register_model(chain, owner, "inv")
    mac = chain.contract("ModelAccessControl")
    chain.send(mac.functions.setStakeRequirement(model, 10**18 + 7, INFERENCE, 60), owner)
    return model


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=_STEPS)
def test_balance_equals_credits_escrow_and_stakes(
    chain: ChainUnderTest,
    owner: LocalAccount,
    staking_model: bytes,
    steps: list[tuple[str, int, int]],
) -> None:
    mac = chain.contract("ModelAccessControl")
    f = mac.functions
    model = staking_model
    snapshot = chain.snapshot()  # each example starts from the same model
    try:
        pending: dict[int, tuple[LocalAccount, int]] = {}
        staked: set[int] = set()
        escrow = 0
        for action, who, amount in steps:
            user = chain.users[who]
            mine = [rid for rid, (u, _) in pending.items() if u is user]
            if action == "request" and not mine:
                pending[request(chain, user, model, amount)] = (user, amount)
                escrow += amount
            elif action in ("approve", "reject", "cancel") and pending:
                rid = next(iter(pending))
                requester, paid = pending.pop(rid)
                if action == "approve":
                    chain.send(f.approveAccessRequest(rid, 0, 0), owner)
                elif action == "reject":
                    chain.send(f.rejectAccessRequest(rid), owner)
                else:
                    chain.send(f.cancelAccessRequest(rid), requester)
                escrow -= paid
            elif action == "stake" and who not in staked:
                chain.send(f.stakeForAccess(model), user, 10**18 + 7)
                staked.add(who)
            elif action == "unstake" and who in staked:
                chain.advance(61)
                chain.send(f.unstake(model), user)
                staked.discard(who)
            elif action == "withdraw":
                payee = chain.treasury.address if who == 5 else user.address
                if f.creditOf(payee).call():
                    chain.send(f.withdraw(payee), user)
            credits, held, stakes = (
                f.totalCredits().call(),
                f.totalEscrow().call(),
                f.totalStaked().call(),
            )
            assert (held, stakes) == (escrow, len(staked) * (10**18 + 7))
            assert chain.balance(mac.address) == credits + held + stakes
    finally:
        chain.revert_to(snapshot)
