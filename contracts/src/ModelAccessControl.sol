// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PullPayments} from "./lib/PullPayments.sol";

/// @title ModelAccessControl: who may use a registered model, how much and until when
/// @notice For each model of the ModelRegistry, its owner (and addresses it made ADMIN of the
/// model) grants access levels (INFERENCE, FULL, ADMIN) with an optional expiry and usage
/// limit, answers paid access requests, revokes access, and may let users stake for access.
/// Uses are consumed with `useAccess` by the user itself or an authorised (CONSUMER_ROLE)
/// contract, never by the model owner.
/// @dev Design decisions:
/// - Levels: NONE 0 < INFERENCE 1 < FULL 2 < ADMIN 3. The registry owner of a model always has
///   ADMIN. Model ADMINs may grant and revoke INFERENCE/FULL and answer requests; only the
///   owner grants or revokes ADMIN, and only the owner may replace a live ADMIN grant.
/// - One grant per (model, user); granting again replaces it and resets its usage count.
///   `expiresAt` 0 = never, `usageLimit` 0 = unlimited.
/// - Requests escrow `msg.value` (one pending request per model and requester) and carry the
///   minimum terms the requester pays for: `minDuration` seconds from approval (0: no expiry)
///   and `minUses` uses (0: unlimited). Approval (model active) must grant at least them;
///   it credits 2.5 % (250 bps, rounded down) to the treasury and the rest to the model owner
///   (rounding dust goes to the owner) and reports the granted uses (0 when unlimited) and the
///   owner's share to the registry; rejection credits the payment back to the requester (who
///   calls `withdraw`); cancellation by the requester returns it in the same call.
/// - A grant from a request with a non-zero payment is `paid`: until it expires or its uses
///   are exhausted nobody can revoke it or replace it with `grantAccess` (`PaidAccessActive`);
///   only a newer approved request of the same user replaces it. Unpaid grants are revocable.
/// - `useAccess` only updates this contract's counters; the registry's usage counters are fed
///   by paid approvals only, so free calls cannot inflate them.
/// - Staking: the owner sets a per-model requirement (amount, level, lock period). Staking
///   exactly the amount gives that level (at most FULL) with no expiry or usage limit for as
///   long as the stake is held. The stake is locked for the lock period, but unlocks at once
///   when the owner revokes the staker's access or the model is deactivated in the registry.
///   Unstaking returns the stake to the staker in the same call; stakes are never slashed.
///   A later change of the requirement does not affect existing stakes.
/// - Balance invariant: address(this).balance == totalCredits + totalEscrow + totalStaked.
contract ModelAccessControl is AccessControl, PullPayments {
    // ---------------------------------------------------------------- constants

    /// @notice Role of contracts allowed to consume any user's access (e.g. a serving router).
    bytes32 public constant CONSUMER_ROLE = keccak256("CONSUMER_ROLE");
    /// @notice No access.
    uint8 public constant ACCESS_NONE = 0;
    /// @notice May run inference.
    uint8 public constant ACCESS_INFERENCE = 1;
    /// @notice May run inference and download the model.
    uint8 public constant ACCESS_FULL = 2;
    /// @notice May manage other users' INFERENCE/FULL access to the model.
    uint8 public constant ACCESS_ADMIN = 3;
    /// @notice Platform fee on approved request payments, in basis points (2.5 %).
    uint256 public constant ACCESS_FEE_BPS = 250;
    /// @notice Basis-point denominator.
    uint256 public constant BPS_DENOMINATOR = 10_000;
    /// @notice Longest lock period of a stake.
    uint256 public constant MAX_LOCK_PERIOD = 365 days;
    /// @notice Largest stake requirement, in wei.
    uint256 public constant MAX_STAKE = 1_000_000 ether;
    /// @notice Most uses consumed in one `useAccess` call.
    uint256 public constant MAX_USES_PER_CALL = 1_000_000;
    /// @notice Longest request reason, in bytes.
    uint256 public constant MAX_REASON_LENGTH = 256;
    /// @notice Most entries a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;

    // ---------------------------------------------------------------- types

    /// @notice State of an access request.
    enum RequestStatus {
        None,
        Pending,
        Approved,
        Rejected,
        Cancelled
    }

    /// @notice Access granted to one user for one model.
    struct Grant {
        uint8 level;
        bool revoked;
        uint64 grantedAt;
        uint64 expiresAt;
        uint64 usageLimit;
        uint64 usageCount;
        address grantedBy;
        bool paid;
    }

    /// @notice Stake held by one user for one model.
    struct Stake {
        uint128 amount;
        uint64 lockedUntil;
        uint8 level;
        bool revoked;
    }

    /// @notice What staking for a model takes and gives (amount 0: staking disabled).
    struct StakeRequirement {
        uint128 amount;
        uint64 lockPeriod;
        uint8 level;
    }

    /// @notice A request for access, with its escrowed payment.
    struct AccessRequest {
        uint256 requestId;
        bytes32 modelId;
        address requester;
        uint8 level;
        RequestStatus status;
        uint64 createdAt;
        uint64 decidedAt;
        uint256 payment;
        string reason;
        uint64 minDuration;
        uint64 minUses;
    }

    /// @notice Per-model counters kept here.
    struct ModelStats {
        uint256 revenue;
        uint256 totalUses;
        uint256 uniqueUsers;
    }

    // ---------------------------------------------------------------- state

    /// @notice The model registry whose owners manage access.
    IModelRegistry public immutable registry;
    /// @notice Address credited with the platform fee of approved requests.
    address public treasury;
    /// @notice Sum of the payments of pending requests.
    uint256 public totalEscrow;
    /// @notice Sum of all stakes held.
    uint256 public totalStaked;
    /// @notice Number of requests ever made (ids start at 1).
    uint256 public requestCount;

    mapping(bytes32 modelId => mapping(address user => Grant)) private _grants;
    mapping(bytes32 modelId => mapping(address user => Stake)) private _stakes;
    mapping(bytes32 modelId => StakeRequirement) private _requirements;
    mapping(uint256 requestId => AccessRequest) private _requests;
    mapping(bytes32 modelId => mapping(address requester => uint256)) private _pendingRequest;
    mapping(address requester => uint256[]) private _requestsBy;
    mapping(bytes32 modelId => uint256[]) private _requestsFor;
    mapping(bytes32 modelId => ModelStats) private _stats;
    mapping(bytes32 modelId => mapping(address user => bool)) private _seen;

    // ---------------------------------------------------------------- events

    /// @notice `grantedBy` gave `user` `level` access to `modelId` until `expiresAt` (0 never)
    /// for `usageLimit` uses (0 unlimited).
    event AccessGranted(
        bytes32 indexed modelId,
        address indexed user,
        uint8 level,
        uint64 expiresAt,
        uint64 usageLimit,
        address grantedBy
    );
    /// @notice `revokedBy` ended `user`'s access to `modelId` (grant and stake access).
    event AccessRevoked(bytes32 indexed modelId, address indexed user, address revokedBy);
    /// @notice `uses` uses of `user`'s access to `modelId` were consumed by `consumer`;
    /// `usageCount` is the grant's count after it (0 for owner or stake access).
    event AccessUsed(
        bytes32 indexed modelId,
        address indexed user,
        address indexed consumer,
        uint256 uses,
        uint256 usageCount
    );
    /// @notice `requester` asked for `level` access to `modelId` for at least `minDuration`
    /// seconds (0: no expiry) and `minUses` uses (0: unlimited), escrowing `payment` wei.
    event AccessRequested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        uint8 level,
        uint256 payment,
        uint64 minDuration,
        uint64 minUses
    );
    /// @notice Request `requestId` was approved by `approver`; `fee` wei went to the treasury
    /// and `ownerShare` wei to the model owner.
    event AccessRequestApproved(
        uint256 indexed requestId, address indexed approver, uint256 ownerShare, uint256 fee
    );
    /// @notice Request `requestId` was rejected by `rejecter`; its payment is refundable.
    event AccessRequestRejected(uint256 indexed requestId, address indexed rejecter);
    /// @notice The requester cancelled request `requestId` and got its payment back.
    event AccessRequestCancelled(uint256 indexed requestId);
    /// @notice The owner set the stake for `modelId` to `amount` wei for `level` access,
    /// locked `lockPeriod` seconds (amount 0 disables staking).
    event StakeRequirementSet(
        bytes32 indexed modelId, uint256 amount, uint8 level, uint64 lockPeriod
    );
    /// @notice `user` staked `amount` wei for `level` access to `modelId`, locked until at least
    /// `lockedUntil`.
    event Staked(
        bytes32 indexed modelId,
        address indexed user,
        uint256 amount,
        uint8 level,
        uint64 lockedUntil
    );
    /// @notice `user` took back a stake of `amount` wei from `modelId`.
    event Unstaked(bytes32 indexed modelId, address indexed user, uint256 amount);
    /// @notice The admin changed the treasury.
    event TreasuryChanged(address indexed oldTreasury, address indexed newTreasury);

    // ---------------------------------------------------------------- errors

    /// @notice An address argument (`what`) must not be the zero address.
    error ZeroAddress(string what);
    /// @notice This model is not registered in the ModelRegistry; check the model id.
    error UnknownModel(bytes32 modelId);
    /// @notice The model is deactivated; its owner must activate it first.
    error ModelNotActive(bytes32 modelId);
    /// @notice Only the model's owner may do this.
    error NotModelOwner(bytes32 modelId, address caller);
    /// @notice Only the model's owner or one of its ADMINs may do this.
    error NotModelManager(bytes32 modelId, address caller);
    /// @notice The access level must be between `min` and `max` (1 INFERENCE, 2 FULL, 3 ADMIN).
    error InvalidLevel(uint8 level, uint8 min, uint8 max);
    /// @notice The expiry is not in the future; use 0 for no expiry or a later timestamp.
    error ExpiryInPast(uint64 expiresAt, uint256 nowTimestamp);
    /// @notice The user has no access to this model; ask its owner or request access.
    error NoAccess(bytes32 modelId, address user);
    /// @notice The user's access to this model was revoked.
    error AccessWasRevoked(bytes32 modelId, address user);
    /// @notice The user's access to this model expired at `expiresAt`.
    error AccessExpired(bytes32 modelId, address user, uint64 expiresAt);
    /// @notice The uses requested exceed the grant: `used` of `limit` uses are consumed.
    error UsageLimitReached(bytes32 modelId, address user, uint256 used, uint256 limit);
    /// @notice Only the user itself or a CONSUMER_ROLE contract may consume a user's access.
    error NotAuthorisedConsumer(bytes32 modelId, address caller);
    /// @notice The user has no live grant or stake on this model to revoke.
    error NothingToRevoke(bytes32 modelId, address user);
    /// @notice The user paid for this access; it cannot be revoked or replaced before it expires
    /// at `expiresAt` (0: never) or its `usageLimit` uses (0: unlimited) are used up.
    error PaidAccessActive(bytes32 modelId, address user, uint64 expiresAt, uint64 usageLimit);
    /// @notice The approval gives less than request `requestId` paid for: set an expiry at least
    /// `minDuration` seconds from now (0 means no expiry: pass 0) and a usage limit of at least
    /// `minUses` (0 means unlimited: pass 0).
    error GrantBelowRequestedTerms(uint256 requestId, uint64 minDuration, uint64 minUses);
    /// @notice No access request has this id.
    error UnknownAccessRequest(uint256 requestId);
    /// @notice The request is no longer pending (it was `status`).
    error RequestNotPending(uint256 requestId, RequestStatus status);
    /// @notice Only the requester may cancel a request.
    error NotAccessRequester(uint256 requestId, address caller);
    /// @notice You already have pending request `requestId` for this model; cancel it first.
    error PendingRequestExists(bytes32 modelId, uint256 requestId);
    /// @notice The owner has not enabled staking for this model.
    error StakingNotEnabled(bytes32 modelId);
    /// @notice The stake sent is wrong; send exactly `required` wei.
    error WrongStake(uint256 required, uint256 sent);
    /// @notice You already hold a stake on this model.
    error AlreadyStaked(bytes32 modelId, address user);
    /// @notice You hold no stake on this model.
    error NoStake(bytes32 modelId, address user);
    /// @notice The stake is locked until `lockedUntil`; try again after it.
    error StakeLocked(bytes32 modelId, address user, uint64 lockedUntil);
    /// @notice The value of `field` must be greater than zero.
    error ZeroValue(string field);
    /// @notice `value` is above the maximum `max` allowed for `field`.
    error ValueTooLarge(string field, uint256 value, uint256 max);
    /// @notice The field `field` is `length` bytes long; shorten it to at most `maxLength` bytes.
    error StringTooLong(string field, uint256 length, uint256 maxLength);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy against `registry_`, with `admin` holding the admin role and `treasury_`
    /// receiving the platform fee.
    constructor(address admin, address registry_, address treasury_) {
        if (admin == address(0)) revert ZeroAddress("admin");
        if (registry_ == address(0)) revert ZeroAddress("registry");
        if (treasury_ == address(0)) revert ZeroAddress("treasury");
        _checkPayee(treasury_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        registry = IModelRegistry(registry_);
        treasury = treasury_;
        emit TreasuryChanged(address(0), treasury_);
    }

    // ---------------------------------------------------------------- grants

    /// @notice Give `user` `level` access to `modelId` until `expiresAt` (0 never) for
    /// `usageLimit` uses (0 unlimited), replacing any earlier grant. Owner or model ADMIN;
    /// only the owner grants ADMIN or replaces a live ADMIN grant. A live paid grant cannot be
    /// replaced (`PaidAccessActive`).
    function grantAccess(
        bytes32 modelId,
        address user,
        uint8 level,
        uint64 expiresAt,
        uint64 usageLimit
    ) external {
        Grant storage g = _grants[modelId][user];
        bool live = _grantLive(g);
        _requireManager(modelId, live && g.level == ACCESS_ADMIN ? ACCESS_ADMIN : level);
        if (user == address(0)) revert ZeroAddress("user");
        if (live && g.paid) revert PaidAccessActive(modelId, user, g.expiresAt, g.usageLimit);
        _grant(modelId, user, level, expiresAt, usageLimit, false);
    }

    /// @notice End `user`'s access to `modelId`: its grant is revoked and any stake loses its
    /// access and unlocks. Owner or model ADMIN; only the owner revokes an ADMIN. A paid grant
    /// cannot be revoked before it expires or its uses are exhausted (`PaidAccessActive`).
    function revokeAccess(bytes32 modelId, address user) external {
        Grant storage g = _grants[modelId][user];
        Stake storage s = _stakes[modelId][user];
        bool liveGrant = g.level != ACCESS_NONE && !g.revoked;
        bool liveStake = s.amount != 0 && !s.revoked;
        if (!liveGrant && !liveStake) revert NothingToRevoke(modelId, user);
        _requireManager(modelId, liveGrant ? g.level : s.level);
        if (g.paid && _grantLive(g)) {
            revert PaidAccessActive(modelId, user, g.expiresAt, g.usageLimit);
        }
        if (liveGrant) g.revoked = true;
        if (liveStake) {
            s.revoked = true;
            s.lockedUntil = 0;
        }
        emit AccessRevoked(modelId, user, msg.sender);
    }

    /// @notice Consume `uses` uses of `user`'s access to `modelId` (by `user` itself or a
    /// CONSUMER_ROLE contract; not by the model owner). Stake access is used first (unlimited),
    /// then the grant. Counted here only (`getModelStats`), not reported to the registry.
    function useAccess(bytes32 modelId, address user, uint256 uses) external {
        address owner = _owner(modelId);
        if (msg.sender != user && !hasRole(CONSUMER_ROLE, msg.sender)) {
            revert NotAuthorisedConsumer(modelId, msg.sender);
        }
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        if (uses == 0) revert ZeroValue("uses");
        if (uses > MAX_USES_PER_CALL) revert ValueTooLarge("uses", uses, MAX_USES_PER_CALL);

        uint256 count = 0;
        Stake storage s = _stakes[modelId][user];
        if (user != owner && (s.amount == 0 || s.revoked)) {
            Grant storage g = _grants[modelId][user];
            if (g.level == ACCESS_NONE) revert NoAccess(modelId, user);
            if (g.revoked) revert AccessWasRevoked(modelId, user);
            if (g.expiresAt != 0 && block.timestamp >= g.expiresAt) {
                revert AccessExpired(modelId, user, g.expiresAt);
            }
            count = g.usageCount + uses;
            if (g.usageLimit != 0 && count > g.usageLimit) {
                revert UsageLimitReached(modelId, user, g.usageCount, g.usageLimit);
            }
            // Unreachable in practice (2^64 uses); keeps the narrowing cast checked.
            if (count > type(uint64).max) {
                revert ValueTooLarge("usageCount", count, type(uint64).max);
            }
            g.usageCount = uint64(count);
        }
        _stats[modelId].totalUses += uses;
        emit AccessUsed(modelId, user, msg.sender, uses, count);
    }

    // ---------------------------------------------------------------- requests

    /// @notice Ask for `level` access to `modelId` for at least `minDuration` seconds from
    /// approval (0: no expiry) and at least `minUses` uses (0: unlimited), escrowing `msg.value`
    /// as your offer; the owner approves with at least these terms (you get access, they get
    /// paid) or rejects (you withdraw the payment). A paid grant cannot be revoked before it ends.
    function requestAccess(
        bytes32 modelId,
        uint8 level,
        uint64 minDuration,
        uint64 minUses,
        string calldata reason
    )
        external
        payable
        nonReentrant
        returns (uint256 requestId)
    {
        _owner(modelId);
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        _checkLevel(level, ACCESS_ADMIN);
        uint256 length = bytes(reason).length;
        if (length > MAX_REASON_LENGTH) revert StringTooLong("reason", length, MAX_REASON_LENGTH);
        uint256 pending = _pendingRequest[modelId][msg.sender];
        if (pending != 0) revert PendingRequestExists(modelId, pending);

        requestId = ++requestCount;
        _requests[requestId] = AccessRequest({
            requestId: requestId,
            modelId: modelId,
            requester: msg.sender,
            level: level,
            status: RequestStatus.Pending,
            createdAt: uint64(block.timestamp),
            decidedAt: 0,
            payment: msg.value,
            reason: reason,
            minDuration: minDuration,
            minUses: minUses
        });
        _pendingRequest[modelId][msg.sender] = requestId;
        _requestsBy[msg.sender].push(requestId);
        _requestsFor[modelId].push(requestId);
        totalEscrow += msg.value;
        emit AccessRequested(
            requestId, modelId, msg.sender, level, msg.value, minDuration, minUses
        );
    }

    /// @notice Approve a pending request of an active model: the requester gets its level until
    /// `expiresAt` (0 never) for `usageLimit` uses (0 unlimited), at least the request's
    /// `minDuration` and `minUses` (else `GrantBelowRequestedTerms`); it replaces any earlier
    /// grant of the requester. The payment is credited 97.5 % to the model owner and 2.5 % to
    /// the treasury. Owner or model ADMIN (owner only for ADMIN).
    function approveAccessRequest(uint256 requestId, uint64 expiresAt, uint64 usageLimit)
        external
        nonReentrant
    {
        AccessRequest storage r = _pendingOf(requestId);
        bytes32 modelId = r.modelId;
        address owner = _requireManager(modelId, r.level);
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        _checkTerms(r, expiresAt, usageLimit);
        uint256 payment = r.payment;
        _close(r, RequestStatus.Approved);
        _grant(modelId, r.requester, r.level, expiresAt, usageLimit, payment != 0);

        uint256 fee = (payment * ACCESS_FEE_BPS) / BPS_DENOMINATOR;
        uint256 ownerShare = payment - fee;
        _stats[modelId].revenue += ownerShare;
        emit AccessRequestApproved(requestId, msg.sender, ownerShare, fee);
        _credit(treasury, fee);
        _credit(owner, ownerShare);
        if (payment != 0) registry.recordUsage(modelId, usageLimit, ownerShare);
    }

    /// @notice Reject a pending request; its payment is credited back to the requester, who
    /// collects it with `withdraw`. Owner or model ADMIN (owner only for ADMIN).
    function rejectAccessRequest(uint256 requestId) external nonReentrant {
        AccessRequest storage r = _pendingOf(requestId);
        _requireManager(r.modelId, r.level);
        _close(r, RequestStatus.Rejected);
        emit AccessRequestRejected(requestId, msg.sender);
        _credit(r.requester, r.payment);
    }

    /// @notice Cancel your pending request and get its payment back in the same call.
    function cancelAccessRequest(uint256 requestId) external nonReentrant {
        AccessRequest storage r = _pendingOf(requestId);
        if (r.requester != msg.sender) revert NotAccessRequester(requestId, msg.sender);
        _close(r, RequestStatus.Cancelled);
        emit AccessRequestCancelled(requestId);
        _refundSender(r.payment);
    }

    // ---------------------------------------------------------------- staking

    /// @notice Let users stake exactly `amount` wei for `level` (INFERENCE or FULL) access to
    /// `modelId`, locked `lockPeriod` seconds; amount 0 disables new stakes. Owner only.
    function setStakeRequirement(bytes32 modelId, uint256 amount, uint8 level, uint64 lockPeriod)
        external
    {
        if (_owner(modelId) != msg.sender) revert NotModelOwner(modelId, msg.sender);
        if (amount > MAX_STAKE) revert ValueTooLarge("amount", amount, MAX_STAKE);
        if (lockPeriod > MAX_LOCK_PERIOD) {
            revert ValueTooLarge("lockPeriod", lockPeriod, MAX_LOCK_PERIOD);
        }
        if (amount != 0) _checkLevel(level, ACCESS_FULL);
        _requirements[modelId] =
            StakeRequirement({amount: uint128(amount), lockPeriod: lockPeriod, level: level});
        emit StakeRequirementSet(modelId, amount, level, lockPeriod);
    }

    /// @notice Stake exactly the model's stake requirement for its access level.
    function stakeForAccess(bytes32 modelId) external payable nonReentrant {
        _owner(modelId);
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        StakeRequirement memory req = _requirements[modelId];
        if (req.amount == 0) revert StakingNotEnabled(modelId);
        if (msg.value != req.amount) revert WrongStake(req.amount, msg.value);
        Stake storage s = _stakes[modelId][msg.sender];
        if (s.amount != 0) revert AlreadyStaked(modelId, msg.sender);
        uint64 lockedUntil = uint64(block.timestamp) + req.lockPeriod;
        _stakes[modelId][msg.sender] =
            Stake({amount: req.amount, lockedUntil: lockedUntil, level: req.level, revoked: false});
        totalStaked += msg.value;
        _markUser(modelId, msg.sender);
        emit Staked(modelId, msg.sender, msg.value, req.level, lockedUntil);
    }

    /// @notice Take back your stake (after its lock, or at once if your access was revoked or
    /// the model deactivated); it is sent to you in this call and the access ends.
    function unstake(bytes32 modelId) external nonReentrant {
        Stake storage s = _stakes[modelId][msg.sender];
        uint256 amount = s.amount;
        if (amount == 0) revert NoStake(modelId, msg.sender);
        if (block.timestamp < s.lockedUntil && registry.isModelActive(modelId)) {
            revert StakeLocked(modelId, msg.sender, s.lockedUntil);
        }
        delete _stakes[modelId][msg.sender];
        totalStaked -= amount;
        emit Unstaked(modelId, msg.sender, amount);
        _refundSender(amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Set the address credited with future fees (admin only; past credits stay).
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress("treasury");
        _checkPayee(newTreasury);
        emit TreasuryChanged(treasury, newTreasury);
        treasury = newTreasury;
    }

    // ---------------------------------------------------------------- views

    /// @notice The access level `user` has on `modelId` now (ADMIN for the owner, the best of a
    /// live grant and a live stake otherwise; NONE for unknown models).
    function accessLevel(bytes32 modelId, address user) public view returns (uint8 level) {
        if (!registry.modelExists(modelId)) return ACCESS_NONE;
        if (registry.modelOwner(modelId) == user) return ACCESS_ADMIN;
        Grant storage g = _grants[modelId][user];
        if (_grantLive(g)) level = g.level;
        Stake storage s = _stakes[modelId][user];
        if (s.amount != 0 && !s.revoked && s.level > level) level = s.level;
    }

    /// @notice True when `user` can use `modelId` now with at least `minLevel` access: the model
    /// is active and `accessLevel` is not NONE and at least `minLevel`.
    function hasAccess(bytes32 modelId, address user, uint8 minLevel) external view returns (bool) {
        uint8 level = accessLevel(modelId, user);
        return level != ACCESS_NONE && level >= minLevel && registry.isModelActive(modelId);
    }

    /// @notice The grant of `user` on `modelId` (all zero when none).
    function getGrant(bytes32 modelId, address user) external view returns (Grant memory) {
        return _grants[modelId][user];
    }

    /// @notice The stake of `user` on `modelId` (all zero when none).
    function getStake(bytes32 modelId, address user) external view returns (Stake memory) {
        return _stakes[modelId][user];
    }

    /// @notice What staking for `modelId` takes and gives.
    function getStakeRequirement(bytes32 modelId) external view returns (StakeRequirement memory) {
        return _requirements[modelId];
    }

    /// @notice A request (reverts with `UnknownAccessRequest` for unknown ids).
    function getRequest(uint256 requestId) external view returns (AccessRequest memory) {
        AccessRequest storage r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownAccessRequest(requestId);
        return r;
    }

    /// @notice Id of `requester`'s pending request for `modelId` (0 when none).
    function pendingRequestOf(bytes32 modelId, address requester) external view returns (uint256) {
        return _pendingRequest[modelId][requester];
    }

    /// @notice Ids of requests made by `requester`, oldest first, `limit` (≤ 100) from `offset`.
    function getRequestsBy(address requester, uint256 offset, uint256 limit)
        external
        view
        returns (uint256[] memory)
    {
        return _page(_requestsBy[requester], offset, limit);
    }

    /// @notice Ids of requests for `modelId`, oldest first, `limit` (≤ 100) from `offset`.
    function getRequestsFor(bytes32 modelId, uint256 offset, uint256 limit)
        external
        view
        returns (uint256[] memory)
    {
        return _page(_requestsFor[modelId], offset, limit);
    }

    /// @notice Revenue credited to the owner here, uses consumed here and distinct users who
    /// were granted access or staked, for `modelId`.
    function getModelStats(bytes32 modelId) external view returns (ModelStats memory) {
        return _stats[modelId];
    }

    // ---------------------------------------------------------------- internals

    function _owner(bytes32 modelId) private view returns (address) {
        if (!registry.modelExists(modelId)) revert UnknownModel(modelId);
        return registry.modelOwner(modelId);
    }

    function _grantLive(Grant storage g) private view returns (bool) {
        return g.level != ACCESS_NONE && !g.revoked
            && (g.expiresAt == 0 || block.timestamp < g.expiresAt)
            && (g.usageLimit == 0 || g.usageCount < g.usageLimit);
    }

    /// @dev Caller must be the owner, or a live model ADMIN acting on a level below ADMIN.
    function _requireManager(bytes32 modelId, uint8 level) private view returns (address owner) {
        owner = _owner(modelId);
        if (msg.sender == owner) return owner;
        Grant storage g = _grants[modelId][msg.sender];
        if (!_grantLive(g) || g.level != ACCESS_ADMIN) revert NotModelManager(modelId, msg.sender);
        if (level == ACCESS_ADMIN) revert NotModelOwner(modelId, msg.sender);
    }

    function _checkLevel(uint8 level, uint8 max) private pure {
        if (level < ACCESS_INFERENCE || level > max) {
            revert InvalidLevel(level, ACCESS_INFERENCE, max);
        }
    }

    /// @dev Revert unless (`expiresAt`, `usageLimit`) give at least request `r`'s minimum terms.
    function _checkTerms(AccessRequest storage r, uint64 expiresAt, uint64 usageLimit)
        private
        view
    {
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            revert ExpiryInPast(expiresAt, block.timestamp);
        }
        uint64 minDuration = r.minDuration;
        uint64 minUses = r.minUses;
        bool durationOk = expiresAt == 0
            || (minDuration != 0 && expiresAt >= block.timestamp + minDuration);
        bool usesOk = usageLimit == 0 || (minUses != 0 && usageLimit >= minUses);
        if (!durationOk || !usesOk) {
            revert GrantBelowRequestedTerms(r.requestId, minDuration, minUses);
        }
    }

    function _grant(
        bytes32 modelId,
        address user,
        uint8 level,
        uint64 expiresAt,
        uint64 usageLimit,
        bool paid
    ) private {
        _checkLevel(level, ACCESS_ADMIN);
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            revert ExpiryInPast(expiresAt, block.timestamp);
        }
        _grants[modelId][user] = Grant({
            level: level,
            revoked: false,
            grantedAt: uint64(block.timestamp),
            expiresAt: expiresAt,
            usageLimit: usageLimit,
            usageCount: 0,
            grantedBy: msg.sender,
            paid: paid
        });
        _markUser(modelId, user);
        emit AccessGranted(modelId, user, level, expiresAt, usageLimit, msg.sender);
    }

    function _markUser(bytes32 modelId, address user) private {
        if (!_seen[modelId][user]) {
            _seen[modelId][user] = true;
            _stats[modelId].uniqueUsers += 1;
        }
    }

    function _pendingOf(uint256 requestId) private view returns (AccessRequest storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownAccessRequest(requestId);
        if (r.status != RequestStatus.Pending) revert RequestNotPending(requestId, r.status);
    }

    function _close(AccessRequest storage r, RequestStatus status) private {
        r.status = status;
        r.decidedAt = uint64(block.timestamp);
        totalEscrow -= r.payment;
        delete _pendingRequest[r.modelId][r.requester];
    }

    function _page(uint256[] storage all, uint256 offset, uint256 limit)
        private
        view
        returns (uint256[] memory out)
    {
        uint256 n = all.length;
        if (offset >= n) return out;
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        uint256 end = n - offset < limit ? n : offset + limit;
        out = new uint256[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            out[i - offset] = all[i];
        }
    }
}
