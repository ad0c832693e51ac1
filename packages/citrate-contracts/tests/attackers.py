"""A contract account that re-enters whatever pays it: one attacker for every payout path.

`Reentrant` can act as a user of any contract (``act``: register a model, buy, request,
stake, ...); when paid, it can re-enter any (contract, calldata) once per ``arm`` and record
how that went, or refuse payments altogether. A test arms it with the call to replay, triggers
the payout, and checks with `Reentrant.assert_reentry_blocked` that the re-entry was attempted
and stopped by the target's re-entrancy guard, and with the balances that it was paid once.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from citrate_contracts.errors import decode_revert

from .harness import ChainUnderTest, calldata

REENTRANT_SOURCE = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// A payee that, once armed, re-enters a target from `receive` (once per `arm`) and records
/// the outcome. `exec` lets a test act as this contract; `setRefuse` makes it reject payments.
contract Reentrant {
    address public target;
    bytes public reentryData;
    bool public bubble;
    bool public armed;
    bool public refuse;
    uint256 public receivedCount;
    uint256 public receivedTotal;
    bool public reentryAttempted;
    bool public reentryOk;
    bytes public reentryError;

    /// On the next payment call `target_` with `data`; with `bubble_`, a failed re-entry makes
    /// the payment itself fail (with the re-entry's revert data).
    function arm(address target_, bytes calldata data, bool bubble_) external {
        target = target_;
        reentryData = data;
        bubble = bubble_;
        armed = true;
    }

    function setRefuse(bool refuse_) external {
        refuse = refuse_;
    }

    /// Call `to` with `data`, paying `value` out of this contract's balance (which holds
    /// `msg.value` by then); a revert is passed on unchanged.
    function exec(address to, bytes calldata data, uint256 value)
        external payable returns (bytes memory)
    {
        (bool ok, bytes memory ret) = to.call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        require(!refuse);
        receivedCount += 1;
        receivedTotal += msg.value;
        if (armed) {
            armed = false;
            reentryAttempted = true;
            (bool ok, bytes memory err) = target.call(reentryData);
            reentryOk = ok;
            reentryError = err;
            if (!ok && bubble) {
                assembly {
                    revert(add(err, 32), mload(err))
                }
            }
        }
    }
}
"""


class Reentrant:
    """A deployed `REENTRANT_SOURCE`; ``operator`` sends the transactions that drive it."""

    def __init__(self, chain: ChainUnderTest, contract: Contract, operator: LocalAccount) -> None:
        self.chain = chain
        self.contract = contract
        self.operator = operator

    @classmethod
    def deploy(cls, chain: ChainUnderTest, operator: LocalAccount) -> Reentrant:
        return cls(chain, chain.deploy_source(REENTRANT_SOURCE, "Reentrant", operator), operator)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def act(self, fn: ContractFunction, value: int = 0, *, prefunded: bool = False) -> TxReceipt:
        """Call ``fn`` as this contract, paying ``value``: sent along by the operator, or, when
        ``prefunded``, out of what the contract already holds."""
        exec_ = self.contract.functions.exec(fn.address, calldata(fn), value)
        return self.chain.send(exec_, self.operator, 0 if prefunded else value)

    def arm(self, fn: ContractFunction, *, bubble: bool = False) -> None:
        """Re-enter with ``fn`` (its contract and calldata) on the next payment; with
        ``bubble``, a failed re-entry makes that payment revert."""
        self.chain.send(
            self.contract.functions.arm(fn.address, calldata(fn), bubble), self.operator
        )

    def refuse_payments(self, refuse: bool = True) -> None:
        self.chain.send(self.contract.functions.setRefuse(refuse), self.operator)

    @property
    def received_count(self) -> int:
        return int(self.contract.functions.receivedCount().call())

    @property
    def received_total(self) -> int:
        return int(self.contract.functions.receivedTotal().call())

    def assert_reentry_blocked(self) -> None:
        """The armed re-entry was attempted and the target's re-entrancy guard refused it."""
        f = self.contract.functions
        assert f.reentryAttempted().call(), "never paid while armed: nothing re-entered"
        assert f.reentryOk().call() is False, "the re-entry succeeded"
        err = decode_revert(f.reentryError().call(), self.chain.catalog)
        assert (err.name, err.args) == ("ReentrancyGuardReentrantCall", {}), err.message
