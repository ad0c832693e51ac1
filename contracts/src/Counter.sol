// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Counter: the smallest useful contract, for tests and tutorials
contract Counter {
    /// @notice The current value.
    uint256 public number;

    /// @notice The value changed from `oldValue` to `newValue`.
    event NumberSet(address indexed by, uint256 oldValue, uint256 newValue);

    /// @notice Set the value.
    function setNumber(uint256 newNumber) external {
        emit NumberSet(msg.sender, number, newNumber);
        number = newNumber;
    }

    /// @notice Add one (reverts with a panic on overflow).
    function increment() external {
        emit NumberSet(msg.sender, number, number + 1);
        number += 1;
    }
}
