// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Pull payments shared by every Citrate system contract
/// @notice Money owed by a contract (a seller's share, a fee, a refund that could not be pushed)
/// is credited here and withdrawn by `withdraw`, never pushed to a third party in the middle of
/// a call. Anyone may trigger a withdrawal for any payee: the funds only ever go to the payee,
/// with all the gas the caller forwards (no 2,300-gas stipend).
abstract contract PullPayments is ReentrancyGuard {
    mapping(address payee => uint256) private _credits;
    /// @notice Sum of every outstanding credit (the contract's balance never falls below it).
    uint256 public totalCredits;

    /// @notice `amount` wei was credited to `payee`.
    event PaymentCredited(address indexed payee, uint256 amount);
    /// @notice `amount` wei was sent to `payee`.
    event PaymentWithdrawn(address indexed payee, uint256 amount);
    /// @notice `amount` wei owed to `payee` was sent, at its request, to `to`.
    event PaymentWithdrawnTo(address indexed payee, address indexed to, uint256 amount);

    /// @notice Nothing is owed to this address.
    error NothingToWithdraw(address payee);
    /// @notice Sending the payment failed (the payee rejected it); the credit is kept.
    error PaymentFailed(address payee, uint256 amount);
    /// @notice A payee or destination must not be the zero address.
    error ZeroPayee();
    /// @notice This contract cannot owe money to itself: choose another address.
    error PayeeIsThisContract();

    /// @notice Wei this contract owes `payee`.
    function creditOf(address payee) public view returns (uint256) {
        return _credits[payee];
    }

    /// @notice Send everything owed to `payee` (anyone may call; the funds go to `payee`).
    function withdraw(address payable payee) external nonReentrant {
        uint256 amount = _credits[payee];
        if (amount == 0) revert NothingToWithdraw(payee);
        _credits[payee] = 0;
        totalCredits -= amount;
        emit PaymentWithdrawn(payee, amount);
        (bool ok,) = payee.call{value: amount}("");
        if (!ok) revert PaymentFailed(payee, amount);
    }

    /// @notice Send everything owed to the caller to `to` instead (for a payee that cannot
    /// receive ether itself, such as a contract without a payable `receive`).
    function withdrawTo(address payable to) external nonReentrant {
        if (to == address(0)) revert ZeroPayee();
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        totalCredits -= amount;
        emit PaymentWithdrawnTo(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to, amount);
    }

    /// @dev Reject an address as a future payee (treasury, pool): zero or this contract.
    function _checkPayee(address payee) internal view {
        if (payee == address(0)) revert ZeroPayee();
        if (payee == address(this)) revert PayeeIsThisContract();
    }

    /// @dev Owe `amount` wei to `payee` (call it after the state changes it pays for).
    function _credit(address payee, uint256 amount) internal {
        _checkPayee(payee);
        if (amount == 0) return;
        _credits[payee] += amount;
        totalCredits += amount;
        emit PaymentCredited(payee, amount);
    }

    /// @dev Return `amount` wei to the caller of the current function, last thing in the call
    /// (checks-effects-interactions; callers are `nonReentrant`). A refund the caller rejects
    /// reverts the whole call, which only hurts the caller.
    function _refundSender(uint256 amount) internal {
        if (amount == 0) return;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert PaymentFailed(msg.sender, amount);
    }
}
