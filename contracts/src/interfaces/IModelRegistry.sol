// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What other system contracts need from the ModelRegistry
interface IModelRegistry {
    /// @notice True when `modelId` is registered (active or not).
    function modelExists(bytes32 modelId) external view returns (bool);

    /// @notice True when `modelId` is registered and active.
    function isModelActive(bytes32 modelId) external view returns (bool);

    /// @notice The owner of a registered model (reverts with `UnknownModel` otherwise).
    function modelOwner(bytes32 modelId) external view returns (address);

    /// @notice The owner's price for one inference of `modelId`, in wei (reverts with
    /// `UnknownModel` otherwise).
    function inferencePriceOf(bytes32 modelId) external view returns (uint256);

    /// @notice True when `user` may use `modelId`: the model is free (price 0), or `user` is
    /// its owner or was granted access by the owner.
    function hasAccess(bytes32 modelId, address user) external view returns (bool);

    /// @notice Add `inferences` uses and `revenue` wei earned by the owner to a model's counters.
    /// Only contracts holding `USAGE_REPORTER_ROLE` (the marketplace, router, LoRA factory and
    /// access control) may report.
    function recordUsage(bytes32 modelId, uint256 inferences, uint256 revenue) external;
}
