"""IPFSIncentives: pinning reports, rewards by size and model type, funding, claims, solvency."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ZERO_ADDRESS, ChainUnderTest, Reverted, struct

SALT = 10**18
GB = 10**9
DAY = 86_400
REPORTER_ROLE = keccak(text="REPORTER_ROLE")
LANGUAGE, VISION, AUDIO, MULTIMODAL, CUSTOM = range(5)
MULTIPLIER = {LANGUAGE: 2, VISION: 3, AUDIO: 2, MULTIMODAL: 4, CUSTOM: 1}
MAX_SIZE = 100_000 * GB
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


# --------------------------------------------------------------------------- helpers


def reward(size: int, model_type: int, base: int = SALT) -> int:
    return -(-size // GB) * MULTIPLIER[model_type] * base


def solvent(chain: ChainUnderTest, ipfs: Contract) -> None:
    balance = chain.balance(ipfs.address)
    owed = ipfs.functions.totalOwed().call()
    assert balance >= owed
    assert ipfs.functions.unallocatedBalance().call() == balance - owed


@pytest.fixture
def ipfs(chain: ChainUnderTest) -> Contract:
    return chain.contract("IPFSIncentives")


@pytest.fixture
def funded(chain: ChainUnderTest, ipfs: Contract) -> Contract:
    chain.send(ipfs.functions.fund(), chain.users[9], value=1_000 * SALT)
    return ipfs


def report(
    chain: ChainUnderTest,
    ipfs: Contract,
    pinner: str,
    cid: str = CID,
    size: int = GB,
    model_type: int = LANGUAGE,
) -> Any:
    return chain.send(ipfs.functions.reportPinning(cid, size, model_type, pinner), chain.admin)


# --------------------------------------------------------------------------- deployment


def test_initial_state(chain: ChainUnderTest, ipfs: Contract) -> None:
    assert ipfs.functions.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert ipfs.functions.hasRole(REPORTER_ROLE, chain.admin.address).call()
    assert ipfs.functions.REPORTER_ROLE().call() == REPORTER_ROLE
    assert ipfs.functions.baseRewardPerGb().call() == SALT
    assert ipfs.functions.BYTES_PER_GB().call() == GB
    assert ipfs.functions.PERIOD().call() == DAY
    assert ipfs.functions.MAX_SIZE_BYTES().call() == MAX_SIZE
    assert ipfs.functions.totalOwed().call() == 0
    assert ipfs.functions.currentPeriod().call() == chain.now() // DAY
    solvent(chain, ipfs)


def test_constructor_rejects_zero_admin(chain: ChainUnderTest) -> None:
    err = chain.deploy_revert("IPFSIncentives", chain.users[0], ZERO_ADDRESS)
    assert (err.name, err.args) == ("ZeroAddress", {})


# --------------------------------------------------------------------------- funding


def test_fund_and_receive(chain: ChainUnderTest, ipfs: Contract) -> None:
    u = chain.users[0]
    receipt = chain.send(ipfs.functions.fund(), u, value=5)
    assert chain.events(receipt, ipfs, "RewardsFunded") == [{"funder": u.address, "amount": 5}]
    receipt = chain.transfer(u, ipfs.address, 7)
    assert chain.events(receipt, ipfs, "RewardsFunded") == [{"funder": u.address, "amount": 7}]
    assert chain.balance(ipfs.address) == 12
    assert ipfs.functions.unallocatedBalance().call() == 12
    err = chain.revert_of(ipfs.functions.fund(), u, value=0)
    assert err.name == "ZeroAmount"
    with pytest.raises(Reverted) as info:
        chain.transfer(u, ipfs.address, 0)
    assert info.value.error.name == "ZeroAmount"


# --------------------------------------------------------------------------- rewards


@pytest.mark.parametrize(
    "size", [1, GB - 1, GB, GB + 1, 2_500_000_000, 7 * GB, MAX_SIZE - 1, MAX_SIZE]
)
def test_calculate_reward(ipfs: Contract, size: int) -> None:
    for model_type, mult in MULTIPLIER.items():
        assert ipfs.functions.multiplierOf(model_type).call() == mult
        assert ipfs.functions.calculateReward(size, model_type).call() == reward(size, model_type)


def test_calculate_reward_rejects(chain: ChainUnderTest, ipfs: Contract) -> None:
    u = chain.users[0]
    for size in (0, MAX_SIZE + 1, 2**256 - 1):
        err = chain.revert_of(ipfs.functions.calculateReward(size, 0), u)
        assert (err.name, err.args) == ("InvalidSize", {"sizeBytes": size, "max": MAX_SIZE})
    for bad in (5, 255):
        err = chain.revert_of(ipfs.functions.calculateReward(GB, bad), u)
        assert (err.name, err.args) == ("InvalidModelType", {"modelType": bad})
        err = chain.revert_of(ipfs.functions.multiplierOf(bad), u)
        assert err.name == "InvalidModelType"


@pytest.mark.parametrize(
    ("size", "model_type"), [(1, CUSTOM), (GB + 1, VISION), (3 * GB, MULTIMODAL)]
)
def test_report_credits_the_pinner(
    chain: ChainUnderTest, funded: Contract, size: int, model_type: int
) -> None:
    ipfs = funded
    pinner = chain.users[1].address
    expected = reward(size, model_type)
    period = ipfs.functions.currentPeriod().call()
    receipt = report(chain, ipfs, pinner, size=size, model_type=model_type)
    assert chain.events(receipt, ipfs, "PinReported") == [
        {
            "cidHash": keccak(text=CID),
            "pinner": pinner,
            "reporter": chain.admin.address,
            "cid": CID,
            "sizeBytes": size,
            "modelType": model_type,
            "period": period,
            "reward": expected,
        }
    ]
    assert ipfs.functions.rewardsOf(pinner).call() == expected
    assert ipfs.functions.rewardsOf(chain.admin.address).call() == 0  # not the reporter
    assert ipfs.functions.totalOwed().call() == expected
    assert ipfs.functions.unallocatedBalance().call() == 1_000 * SALT - expected
    assert ipfs.functions.isReported(CID, pinner, period).call()
    assert not ipfs.functions.isReported(CID, pinner, period + 1).call()
    record = struct(ipfs.functions.getPin(CID, pinner))
    assert (record["sizeBytes"], record["modelType"], record["reportCount"]) == (
        size,
        model_type,
        1,
    )
    assert record["totalRewards"] == expected
    assert record["firstReportedAt"] == record["lastReportedAt"] > 0
    assert ipfs.functions.getModelPinners(CID, 0, 10).call() == [pinner]
    assert ipfs.functions.pinnerCount(CID).call() == 1
    solvent(chain, ipfs)


def test_duplicate_report_in_a_period_is_rejected(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    a, b = chain.users[1].address, chain.users[2].address
    report(chain, ipfs, a)
    period = ipfs.functions.currentPeriod().call()
    err = chain.revert_of(ipfs.functions.reportPinning(CID, GB, LANGUAGE, a), chain.admin)
    assert (err.name, err.args) == ("AlreadyReported", {"cid": CID, "pinner": a, "period": period})
    assert "report again next period" in err.message
    report(chain, ipfs, b)  # another pinner of the same CID
    report(chain, ipfs, a, cid=CID + "x")  # another CID by the same pinner
    chain.advance(DAY)
    report(chain, ipfs, a, size=2 * GB)
    record = struct(ipfs.functions.getPin(CID, a))
    assert (record["reportCount"], record["sizeBytes"]) == (2, 2 * GB)
    assert record["totalRewards"] == reward(GB, LANGUAGE) + reward(2 * GB, LANGUAGE)
    assert record["lastReportedAt"] > record["firstReportedAt"]
    assert ipfs.functions.getModelPinners(CID, 0, 10).call() == [a, b]
    assert ipfs.functions.getModelPinners(CID, 1, 10).call() == [b]
    assert ipfs.functions.getModelPinners(CID, 2, 10).call() == []
    assert ipfs.functions.getModelPinners(CID, 0, 2**256 - 1).call() == [a, b]
    assert ipfs.functions.rewardsOf(a).call() == 2 * reward(GB, LANGUAGE) + reward(2 * GB, LANGUAGE)
    solvent(chain, ipfs)


def test_report_rejects_bad_input(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    fn = ipfs.functions.reportPinning
    p = chain.users[1].address
    err = chain.revert_of(fn("", GB, 0, p), chain.admin)
    assert (err.name, err.args) == ("InvalidCID", {"length": 0, "maxLength": 128})
    err = chain.revert_of(fn("c" * 129, GB, 0, p), chain.admin)
    assert (err.name, err.args) == ("InvalidCID", {"length": 129, "maxLength": 128})
    err = chain.revert_of(fn(CID, GB, 0, ZERO_ADDRESS), chain.admin)
    assert err.name == "ZeroAddress"
    err = chain.revert_of(fn(CID, 0, 0, p), chain.admin)
    assert err.name == "InvalidSize"
    err = chain.revert_of(fn(CID, GB, 5, p), chain.admin)
    assert (err.name, err.args) == ("InvalidModelType", {"modelType": 5})
    chain.send(ipfs.functions.setBaseRewardPerGb(1), chain.admin)
    chain.send(fn("c" * 128, MAX_SIZE, MULTIMODAL, p), chain.admin)  # the bounds are accepted
    assert ipfs.functions.rewardsOf(p).call() == 100_000 * 4


def test_report_never_promises_unfunded_rewards(chain: ChainUnderTest, ipfs: Contract) -> None:
    p = chain.users[1].address
    fn = ipfs.functions.reportPinning(CID, GB, VISION, p)  # 3 SALT
    err = chain.revert_of(fn, chain.admin)
    assert (err.name, err.args) == (
        "InsufficientRewardFunds",
        {"required": 3 * SALT, "available": 0},
    )
    assert "fund the contract first" in err.message
    chain.send(ipfs.functions.fund(), chain.users[0], value=3 * SALT - 1)
    err = chain.revert_of(fn, chain.admin)
    assert err.args == {"required": 3 * SALT, "available": 3 * SALT - 1}
    chain.send(ipfs.functions.fund(), chain.users[0], value=1)
    chain.send(fn, chain.admin)  # exactly covered
    assert ipfs.functions.unallocatedBalance().call() == 0
    err = chain.revert_of(
        ipfs.functions.reportPinning(CID, GB, VISION, chain.users[2].address), chain.admin
    )
    assert err.args == {"required": 3 * SALT, "available": 0}
    solvent(chain, ipfs)


def test_claim(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    pinner = chain.users[1]
    err = chain.revert_of(ipfs.functions.claimRewards(), pinner)
    assert (err.name, err.args) == ("NothingToClaim", {"pinner": pinner.address})
    report(chain, ipfs, pinner.address, size=GB + 1, model_type=AUDIO)  # 4 SALT
    report(chain, ipfs, pinner.address, cid="other", size=1, model_type=CUSTOM)  # 1 SALT
    before = chain.balance(pinner.address)
    receipt = chain.send(ipfs.functions.claimRewards(), pinner)
    assert chain.balance(pinner.address) == before + 5 * SALT - chain.gas_cost(receipt)
    assert chain.events(receipt, ipfs, "RewardsClaimed") == [
        {"pinner": pinner.address, "amount": 5 * SALT}
    ]
    assert ipfs.functions.rewardsOf(pinner.address).call() == 0
    assert ipfs.functions.totalOwed().call() == 0
    assert ipfs.functions.totalClaimed().call() == 5 * SALT
    assert chain.balance(ipfs.address) == 995 * SALT
    err = chain.revert_of(ipfs.functions.claimRewards(), pinner)
    assert err.name == "NothingToClaim"
    solvent(chain, ipfs)


# --------------------------------------------------------------------------- admin


def test_set_base_reward(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    receipt = chain.send(ipfs.functions.setBaseRewardPerGb(7), chain.admin)
    assert chain.events(receipt, ipfs, "BaseRewardUpdated") == [{"oldReward": SALT, "newReward": 7}]
    assert ipfs.functions.calculateReward(GB + 1, MULTIMODAL).call() == 2 * 4 * 7
    report(chain, ipfs, chain.users[1].address, size=GB + 1, model_type=MULTIMODAL)
    assert ipfs.functions.rewardsOf(chain.users[1].address).call() == 56
    for bad in (0, 100 * SALT + 1):
        err = chain.revert_of(ipfs.functions.setBaseRewardPerGb(bad), chain.admin)
        assert (err.name, err.args) == ("InvalidBaseReward", {"reward": bad, "max": 100 * SALT})
    chain.send(ipfs.functions.setBaseRewardPerGb(100 * SALT), chain.admin)


def test_withdraw_unallocated(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    report(chain, ipfs, chain.users[1].address, size=10 * GB, model_type=MULTIMODAL)  # 40 SALT
    err = chain.revert_of(ipfs.functions.withdrawUnallocated(0), chain.admin)
    assert err.name == "ZeroAmount"
    err = chain.revert_of(ipfs.functions.withdrawUnallocated(960 * SALT + 1), chain.admin)
    assert (err.name, err.args) == (
        "InsufficientRewardFunds",
        {"required": 960 * SALT + 1, "available": 960 * SALT},
    )
    before = chain.balance(chain.admin.address)
    receipt = chain.send(ipfs.functions.withdrawUnallocated(960 * SALT), chain.admin)
    assert chain.balance(chain.admin.address) == before + 960 * SALT - chain.gas_cost(receipt)
    assert chain.events(receipt, ipfs, "UnallocatedWithdrawn") == [
        {"admin": chain.admin.address, "amount": 960 * SALT}
    ]
    assert chain.balance(ipfs.address) == 40 * SALT == ipfs.functions.totalOwed().call()
    chain.send(ipfs.functions.claimRewards(), chain.users[1])  # earned rewards stay claimable
    solvent(chain, ipfs)


def test_reporter_role_can_be_granted(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    rep = chain.users[5]
    fn = ipfs.functions.reportPinning(CID, GB, LANGUAGE, chain.users[1].address)
    chain.assert_needs_role(fn, REPORTER_ROLE, rep)
    chain.send(ipfs.functions.grantRole(REPORTER_ROLE, rep.address), chain.admin)
    receipt = chain.send(fn, rep)
    assert chain.events(receipt, ipfs, "PinReported")[0]["reporter"] == rep.address
    chain.send(ipfs.functions.revokeRole(REPORTER_ROLE, rep.address), chain.admin)
    chain.assert_needs_role(fn, REPORTER_ROLE, rep)  # revoked again


@pytest.mark.parametrize(
    ("fn_name", "args", "role"),
    [
        ("reportPinning", (CID, GB, 0, "0x" + "11" * 20), REPORTER_ROLE),
        ("setBaseRewardPerGb", (5,), ADMIN_ROLE),
        ("withdrawUnallocated", (1,), ADMIN_ROLE),
        ("grantRole", (REPORTER_ROLE, "0x" + "11" * 20), ADMIN_ROLE),
    ],
)
def test_privileged_functions_reject_others(
    chain: ChainUnderTest, funded: Contract, fn_name: str, args: tuple, role: bytes
) -> None:
    fn = getattr(funded.functions, fn_name)(*args)
    chain.assert_needs_role(fn, role, chain.users[0], chain.treasury)


# --------------------------------------------------------------------------- reentrancy


def test_reentrancy_on_claim(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    atk = Reentrant.deploy(chain, chain.users[2])
    report(chain, ipfs, atk.address, size=GB, model_type=VISION)
    chain.advance(DAY)
    report(chain, ipfs, atk.address, size=GB, model_type=VISION)
    atk.arm(ipfs.functions.claimRewards())
    atk.act(ipfs.functions.claimRewards())
    atk.assert_reentry_blocked()
    assert atk.received_total == 6 * SALT  # paid once
    assert ipfs.functions.rewardsOf(atk.address).call() == 0
    assert chain.balance(ipfs.address) == 994 * SALT
    solvent(chain, ipfs)


def test_reentrancy_on_withdraw_unallocated(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    atk = Reentrant.deploy(chain, chain.users[2])
    chain.send(ipfs.functions.grantRole(ADMIN_ROLE, atk.address), chain.admin)
    take = ipfs.functions.withdrawUnallocated(600 * SALT)
    atk.arm(take)
    atk.act(take)
    atk.assert_reentry_blocked()
    assert atk.received_total == 600 * SALT
    assert chain.balance(ipfs.address) == 400 * SALT
    solvent(chain, ipfs)


def test_rejecting_pinner_keeps_its_rewards(chain: ChainUnderTest, funded: Contract) -> None:
    ipfs = funded
    atk = Reentrant.deploy(chain, chain.users[2])
    report(chain, ipfs, atk.address)
    atk.refuse_payments()
    with pytest.raises(Reverted) as info:
        atk.act(ipfs.functions.claimRewards())
    assert info.value.error.name == "PaymentFailed"
    assert ipfs.functions.rewardsOf(atk.address).call() == 2 * SALT
    atk.refuse_payments(False)
    atk.act(ipfs.functions.claimRewards())
    assert atk.received_total == 2 * SALT


# --------------------------------------------------------------------------- invariant

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("fund"), st.sampled_from([1, 3, SALT, 10 * SALT + 7])),
        st.tuples(
            st.just("report"),
            st.integers(0, 2),
            st.sampled_from(["a", "b"]),
            st.sampled_from([1, GB, GB + 1, 5 * GB]),
            st.integers(0, 4),
        ),
        st.tuples(st.just("claim"), st.integers(0, 2)),
        st.tuples(st.just("take"), st.sampled_from([1, SALT])),
        st.tuples(st.just("advance")),
    ),
    min_size=1,
    max_size=10,
)


def test_invariant_rewards_are_always_backed(chain: ChainUnderTest, ipfs: Contract) -> None:
    pinners = chain.users[1:4]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=_OPS)
    def run(ops: list[tuple]) -> None:
        snap = chain.snapshot()
        try:
            for op in ops:
                try:
                    if op[0] == "fund":
                        chain.send(ipfs.functions.fund(), chain.users[9], value=op[1])
                    elif op[0] == "report":
                        _, who, cid, size, mtype = op
                        fn = ipfs.functions.reportPinning(cid, size, mtype, pinners[who].address)
                        chain.send(fn, chain.admin)
                    elif op[0] == "claim":
                        chain.send(ipfs.functions.claimRewards(), pinners[op[1]])
                    elif op[0] == "take":
                        chain.send(ipfs.functions.withdrawUnallocated(op[1]), chain.admin)
                    else:
                        chain.advance(DAY)
                except Reverted as e:
                    assert e.error.name in (
                        "InsufficientRewardFunds",
                        "AlreadyReported",
                        "NothingToClaim",
                    ), e.error.message
                solvent(chain, ipfs)
            owed = sum(ipfs.functions.rewardsOf(p.address).call() for p in pinners)
            assert ipfs.functions.totalOwed().call() == owed
        finally:
            chain.revert_to(snap)

    run()
