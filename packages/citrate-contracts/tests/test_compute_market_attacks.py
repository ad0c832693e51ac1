"""ComputeMarket against a reentrancy attacker: as a requester (excess refund, cancellation,
expiry and timeout refunds), as a provider (payment, stake withdrawal, the pay and bond of a
dispute no arbiter ruled on) and as a verifier (bond and bounty). Every payout path sends ether
to the attacker, whose ``receive`` tries to re-enter every function that moves money; nothing may
be collected twice and the books must still balance."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from .harness import ChainUnderTest, Reverted
from .test_compute_market import (
    ARBITRATION_WINDOW,
    BID_WINDOW,
    DISPUTE_BOND,
    EXEC_WINDOW,
    INPUT,
    MIN_STAKE,
    MODEL_A,
    NONCE,
    OUTPUT,
    SALT,
    VERIFIER_ROLE,
    Market,
    State,
    split,
)

ATTACKER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IComputeMarket {
    struct ProviderConfig {
        uint8 jobTypes; bool anyModel; uint16 maxConcurrentJobs; bytes32[] models;
    }
    struct JobSpec {
        uint8 jobType; bytes32 modelId; bytes32 inputHash; uint256 maxPrice;
        uint32 bidWindow; uint32 execWindow; uint8 verificationTier;
    }
    function registerProvider(ProviderConfig calldata config) external payable;
    function postJob(JobSpec calldata spec) external payable returns (uint256);
    function bid(uint256 jobId, uint256 price, uint32 estimatedLatencyMs) external;
    function commitResult(uint256 jobId, bytes32 commitment) external;
    function revealResult(uint256 jobId, bytes32 outputHash, bytes32 nonce) external;
    function completeJob(uint256 jobId) external;
    function cancelJob(uint256 jobId) external;
    function timeoutJob(uint256 jobId) external;
    function disputeResult(uint256 jobId) external payable;
    function withdraw(address payable payee) external;
    function withdrawStake(uint256 amount) external;
    function computeCommitment(uint256, bytes32, bytes32, address) external pure returns (bytes32);
}

/// Re-enters the market from `receive` with every money-moving call it can think of.
contract Attacker {
    IComputeMarket public immutable market;
    uint256 public jobId;
    bool public rejectPayments;
    uint256 public received;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes4 public lastRevertSelector;

    constructor(IComputeMarket market_) payable {
        market = market_;
    }

    function setJob(uint256 id) external { jobId = id; }
    function setReject(bool reject) external { rejectPayments = reject; }

    function register(bytes32 model) external payable {
        bytes32[] memory models = new bytes32[](1);
        models[0] = model;
        market.registerProvider{value: msg.value}(
            IComputeMarket.ProviderConfig(1, false, 4, models)
        );
    }

    function post(IComputeMarket.JobSpec calldata spec) external payable {
        jobId = market.postJob{value: msg.value}(spec);
    }

    function bid(uint256 id, uint256 price) external { market.bid(id, price, 1000); }
    function commit(uint256 id, bytes32 output, bytes32 nonce) external {
        market.commitResult(id, market.computeCommitment(id, output, nonce, address(this)));
    }
    function reveal(uint256 id, bytes32 output, bytes32 nonce) external {
        market.revealResult(id, output, nonce);
    }
    function cancel(uint256 id) external { market.cancelJob(id); }
    function dispute(uint256 id) external payable { market.disputeResult{value: msg.value}(id); }
    function collect() external { market.withdraw(payable(address(this))); }
    function unstake(uint256 amount) external { market.withdrawStake(amount); }

    function _try(bytes memory data) private {
        reentryAttempts += 1;
        (bool ok, bytes memory ret) = address(market).call(data);
        if (ok) {
            reentrySuccesses += 1;
        } else if (ret.length >= 4) {
            lastRevertSelector = bytes4(ret);
        }
    }

    receive() external payable {
        if (rejectPayments) revert("no thanks");
        received += msg.value;
        _try(abi.encodeCall(IComputeMarket.withdraw, (payable(address(this)))));
        _try(abi.encodeCall(IComputeMarket.withdrawStake, (1)));
        _try(abi.encodeCall(IComputeMarket.withdrawStake, (MIN_STAKE_())));
        _try(abi.encodeCall(IComputeMarket.cancelJob, (jobId)));
        _try(abi.encodeCall(IComputeMarket.completeJob, (jobId)));
        _try(abi.encodeCall(IComputeMarket.timeoutJob, (jobId)));
    }

    function MIN_STAKE_() private pure returns (uint256) { return 1000 ether; }
}
"""

REENTRANT = keccak(text="ReentrancyGuardReentrantCall()")[:4]


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


@pytest.fixture
def attacker(chain: ChainUnderTest, market: Market):
    return chain.deploy_source(ATTACKER, "Attacker", chain.users[1], market.address)


def _reentry_blocked(attacker) -> None:
    f = attacker.functions
    assert f.reentryAttempts().call() > 0
    assert f.reentrySuccesses().call() == 0
    assert f.lastRevertSelector().call() == REENTRANT


def _collect_once(
    chain: ChainUnderTest, market: Market, attacker: Any, owner: Any, owed: int
) -> None:
    """The attacker collects its credit, re-entering from its receive hook: it gets exactly
    `owed` once, the re-entry is refused, and nothing stays credited."""
    chain.send(attacker.functions.collect(), owner)
    _reentry_blocked(attacker)
    assert attacker.functions.received().call() == owed
    assert market.credit(attacker.address) == 0


def test_requester_excess_refund_cannot_reenter(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner = chain.users[1]
    spec = market.spec(max_price=SALT)
    chain.send(attacker.functions.post(spec), owner, 3 * SALT)
    _reentry_blocked(attacker)
    assert attacker.functions.received().call() == 2 * SALT
    assert chain.balance(attacker.address) == 2 * SALT
    job_id = attacker.functions.jobId().call()
    assert market.state(job_id) == State.Open  # the reentrant cancel did not happen
    assert market.fn.totalEscrow().call() == SALT
    market.assert_solvent()


def test_requester_cancel_refund_is_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner = chain.users[1]
    chain.send(attacker.functions.post(market.spec(max_price=SALT)), owner, SALT)
    job_id = attacker.functions.jobId().call()
    chain.send(attacker.functions.cancel(job_id), owner)
    assert market.credit(attacker.address) == SALT
    _collect_once(chain, market, attacker, owner, SALT)
    assert chain.balance(market.address) == 0
    # and nothing is left to collect
    with pytest.raises(Reverted) as info:
        chain.send(attacker.functions.collect(), owner)
    assert info.value.error.name == "NothingToWithdraw"


def test_requester_timeout_refund_and_slash_are_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner, p = chain.users[1], chain.users[3]
    market.register(p)
    chain.send(attacker.functions.post(market.spec(max_price=SALT)), owner, SALT)
    job_id = attacker.functions.jobId().call()
    market.bid(p, job_id, SALT // 2)
    chain.advance(BID_WINDOW + 1)
    market.assign(job_id)
    chain.advance(EXEC_WINDOW + 1)
    # the attacker tries to time the job out a second time from inside its refund
    market.send(market.fn.timeoutJob(job_id), chain.users[9])
    owed = SALT + MIN_STAKE // 20
    assert market.credit(attacker.address) == owed
    _collect_once(chain, market, attacker, owner, owed)
    market.assert_solvent()


def test_requester_expiry_refund_is_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner = chain.users[1]
    chain.send(attacker.functions.post(market.spec(max_price=777)), owner, 777)
    job_id = attacker.functions.jobId().call()
    chain.advance(BID_WINDOW + 1)
    market.assign(job_id)
    _collect_once(chain, market, attacker, owner, 777)
    assert chain.balance(market.address) == 0


def test_provider_payment_and_stake_are_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner, requester = chain.users[1], chain.users[0]
    chain.send(attacker.functions.register(MODEL_A), owner, MIN_STAKE)
    price = 10**18 + 7
    job_id, _ = market.post(requester, max_price=2 * SALT)
    chain.send(attacker.functions.bid(job_id, price), owner)
    market.assign(job_id, requester)
    chain.send(attacker.functions.setJob(job_id), owner)
    chain.send(attacker.functions.commit(job_id, OUTPUT, NONCE), owner)
    chain.send(attacker.functions.reveal(job_id, OUTPUT, NONCE), owner)
    market.send(market.fn.completeJob(job_id), requester)
    provider_amount = price - price * 300 // 10_000 - price * 200 // 10_000
    assert market.credit(attacker.address) == provider_amount

    _collect_once(chain, market, attacker, owner, provider_amount)
    assert (
        market.provider(attacker.address)["stake"] == MIN_STAKE
    )  # the reentrant withdrawStake failed

    # the stake withdrawal pushes ether to the attacker: its reentry fails too
    chain.send(attacker.functions.unstake(MIN_STAKE), owner)
    assert attacker.functions.received().call() == provider_amount + MIN_STAKE
    assert attacker.functions.reentrySuccesses().call() == 0
    info = market.provider(attacker.address)
    assert (info["stake"], info["registered"]) == (0, False)
    assert chain.balance(attacker.address) == provider_amount + MIN_STAKE
    market.assert_solvent()


def test_disputer_bond_and_bounty_are_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner, requester, p = chain.users[1], chain.users[0], chain.users[3]
    market.send(market.fn.grantRole(VERIFIER_ROLE, attacker.address), chain.admin)
    market.register(p)
    job_id = market.revealed_job(requester, p)
    chain.send(attacker.functions.dispute(job_id), owner, DISPUTE_BOND)
    market.send(market.fn.resolveDispute(job_id, False), chain.admin)
    owed = DISPUTE_BOND + MIN_STAKE // 10
    assert market.credit(attacker.address) == owed
    _collect_once(chain, market, attacker, owner, owed)
    market.assert_solvent()


def test_expired_dispute_pay_and_bond_are_collected_once(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner, requester = chain.users[1], chain.users[0]
    chain.send(attacker.functions.register(MODEL_A), owner, MIN_STAKE)
    price = 10**18 + 7
    job_id, _ = market.post(requester, max_price=2 * SALT)
    chain.send(attacker.functions.bid(job_id, price), owner)
    market.assign(job_id, requester)
    chain.send(attacker.functions.setJob(job_id), owner)
    chain.send(attacker.functions.commit(job_id, OUTPUT, NONCE), owner)
    chain.send(attacker.functions.reveal(job_id, OUTPUT, NONCE), owner)
    market.send(market.fn.disputeResult(job_id), requester, DISPUTE_BOND)
    chain.advance(ARBITRATION_WINDOW + 1)
    market.send(market.fn.expireDispute(job_id), chain.users[9])
    owed = split(price)[0] + DISPUTE_BOND
    assert market.credit(attacker.address) == owed
    _collect_once(chain, market, attacker, owner, owed)
    market.assert_solvent()


def test_a_rejecting_payee_keeps_its_credit(
    chain: ChainUnderTest, market: Market, attacker
) -> None:
    owner = chain.users[1]
    chain.send(attacker.functions.post(market.spec(max_price=SALT)), owner, SALT)
    chain.send(attacker.functions.cancel(attacker.functions.jobId().call()), owner)
    chain.send(attacker.functions.setReject(True), owner)
    with pytest.raises(Reverted) as info:
        chain.send(market.fn.withdraw(attacker.address), chain.users[9])
    assert info.value.error.name == "PaymentFailed"
    assert info.value.error.args["amount"] == SALT
    assert market.credit(attacker.address) == SALT
    market.assert_solvent()
    # a requester contract that rejects its excess refund cannot post with excess
    spec = market.spec(max_price=SALT, input_hash=INPUT)
    with pytest.raises(Reverted) as info:
        chain.send(attacker.functions.post(spec), owner, SALT + 1)
    assert info.value.error.name == "PaymentFailed"
