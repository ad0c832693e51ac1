// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title IPFSIncentives: rewards for pinning model files on IPFS
/// @notice Authorised reporters (monitoring services holding `REPORTER_ROLE`) report that a
/// pinner keeps a CID pinned. Each report earns the pinner
/// `ceil(sizeBytes / 1e9) * multiplier(modelType) * baseRewardPerGb` (at least one GB's worth),
/// at most once per (CID, pinner) per `PERIOD`. Pinners claim what they earned. Anyone may fund
/// the rewards.
/// @dev Solvency. A reward is reserved out of the funded balance when it is reported: a report
/// that the unreserved balance cannot cover reverts with `InsufficientRewardFunds`, so the
/// contract never owes more than it holds and every claim succeeds. The balance always equals
/// `totalOwed + unallocatedBalance()`. Rewards accrue to the named pinner, not to the reporter.
/// Model-type multipliers: Language 2, Vision 3, Audio 2, Multimodal 4, Custom 1.
/// Trust: reporters are trusted oracles (the contract cannot check a pin); what one dishonest
/// reporter can pay out is bounded by the unreserved funds, and the admin can revoke its role.
contract IPFSIncentives is AccessControl, ReentrancyGuard {
    // ---------------------------------------------------------------- constants

    /// @notice Role of the services that report pinning.
    bytes32 public constant REPORTER_ROLE = keccak256("REPORTER_ROLE");
    /// @notice Bytes in one GB (decimal, as storage is sold).
    uint256 public constant BYTES_PER_GB = 1_000_000_000;
    /// @notice A (CID, pinner) pair earns at most once per period (unix time / PERIOD).
    uint256 public constant PERIOD = 1 days;
    /// @notice Largest pinned size one report may claim (100 TB).
    uint256 public constant MAX_SIZE_BYTES = 100_000 * BYTES_PER_GB;
    /// @notice Highest reward per GB the admin may set.
    uint256 public constant MAX_BASE_REWARD = 100 ether;
    /// @notice Longest CID, in bytes.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Most results a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;

    // ---------------------------------------------------------------- types

    /// @notice The kind of model a CID holds (sets the reward multiplier).
    enum ModelType {
        Language,
        Vision,
        Audio,
        Multimodal,
        Custom
    }

    /// @notice What is known about one pinner of one CID.
    struct PinRecord {
        uint256 sizeBytes;
        ModelType modelType;
        uint64 firstReportedAt;
        uint64 lastReportedAt;
        uint256 reportCount;
        uint256 totalRewards;
    }

    // ---------------------------------------------------------------- state

    /// @notice Reward per GB before the model-type multiplier.
    uint256 public baseRewardPerGb = 1 ether;
    /// @notice Sum of all unclaimed rewards (reserved out of the balance).
    uint256 public totalOwed;
    /// @notice Sum of all rewards ever claimed.
    uint256 public totalClaimed;

    mapping(address pinner => uint256) private _owed;
    mapping(bytes32 cidHash => mapping(address pinner => PinRecord)) private _pins;
    mapping(bytes32 cidHash => address[]) private _pinners;
    mapping(uint256 period => mapping(bytes32 cidHash => mapping(address pinner => bool))) private _reported;

    // ---------------------------------------------------------------- events

    /// @notice `reporter` reported that `pinner` pins `cid` (`sizeBytes`, `modelType`) in `period`, earning `reward`.
    event PinReported(
        bytes32 indexed cidHash,
        address indexed pinner,
        address indexed reporter,
        string cid,
        uint256 sizeBytes,
        ModelType modelType,
        uint256 period,
        uint256 reward
    );
    /// @notice `pinner` claimed `amount` wei.
    event RewardsClaimed(address indexed pinner, uint256 amount);
    /// @notice `pinner` claimed `amount` wei, sent at its request to `to`.
    event RewardsClaimedTo(address indexed pinner, address indexed to, uint256 amount);
    /// @notice `funder` added `amount` wei to the reward funds.
    event RewardsFunded(address indexed funder, uint256 amount);
    /// @notice The admin took back `amount` wei of unreserved funds.
    event UnallocatedWithdrawn(address indexed admin, uint256 amount);
    /// @notice The base reward per GB changed.
    event BaseRewardUpdated(uint256 oldReward, uint256 newReward);

    // ---------------------------------------------------------------- errors

    /// @notice An address given to the contract is the zero address; pass a real account.
    error ZeroAddress();
    /// @notice The CID must be 1 to `maxLength` bytes long.
    error InvalidCID(uint256 length, uint256 maxLength);
    /// @notice The pinned size must be between 1 and `max` bytes.
    error InvalidSize(uint256 sizeBytes, uint256 max);
    /// @notice The model type must be 0 Language, 1 Vision, 2 Audio, 3 Multimodal or 4 Custom.
    error InvalidModelType(uint8 modelType);
    /// @notice This pinner was already rewarded for this CID in `period`; report again next period.
    error AlreadyReported(string cid, address pinner, uint256 period);
    /// @notice The reward funds do not cover this reward (`available` of `required` wei unreserved); fund the contract first.
    error InsufficientRewardFunds(uint256 required, uint256 available);
    /// @notice This account has no rewards to claim.
    error NothingToClaim(address pinner);
    /// @notice Sending the payment failed (the payee rejected it); the credit is kept.
    error PaymentFailed(address payee, uint256 amount);
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice Rewards cannot be sent to this contract itself; choose another address.
    error InvalidRecipient(address to);
    /// @notice The reward per GB must be between 1 wei and `max` wei.
    error InvalidBaseReward(uint256 reward, uint256 max);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy with `admin` holding the admin and reporter roles.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REPORTER_ROLE, admin);
    }

    /// @notice Plain transfers fund the rewards.
    receive() external payable {
        if (msg.value == 0) revert ZeroAmount();
        emit RewardsFunded(msg.sender, msg.value);
    }

    // ---------------------------------------------------------------- funding and claims

    /// @notice Add `msg.value` wei to the reward funds.
    function fund() external payable {
        if (msg.value == 0) revert ZeroAmount();
        emit RewardsFunded(msg.sender, msg.value);
    }

    /// @notice Reporter: `pinner` keeps `cid` (`sizeBytes` bytes of a `modelType` model) pinned.
    /// Credits the pinner the reward, once per (CID, pinner) per period; returns the reward.
    function reportPinning(string calldata cid, uint256 sizeBytes, uint8 modelType, address pinner)
        external
        onlyRole(REPORTER_ROLE)
        returns (uint256 reward)
    {
        uint256 len = bytes(cid).length;
        if (len == 0 || len > MAX_CID_LENGTH) revert InvalidCID(len, MAX_CID_LENGTH);
        if (pinner == address(0)) revert ZeroAddress();
        reward = calculateReward(sizeBytes, modelType);
        uint256 period = currentPeriod();
        bytes32 cidHash = keccak256(bytes(cid));
        if (_reported[period][cidHash][pinner]) revert AlreadyReported(cid, pinner, period);
        uint256 available = unallocatedBalance();
        if (reward > available) revert InsufficientRewardFunds(reward, available);

        _reported[period][cidHash][pinner] = true;
        PinRecord storage rec = _pins[cidHash][pinner];
        if (rec.reportCount == 0) {
            _pinners[cidHash].push(pinner);
            rec.firstReportedAt = uint64(block.timestamp);
        }
        rec.sizeBytes = sizeBytes;
        rec.modelType = ModelType(modelType);
        rec.lastReportedAt = uint64(block.timestamp);
        rec.reportCount += 1;
        rec.totalRewards += reward;
        _owed[pinner] += reward;
        totalOwed += reward;
        emit PinReported(cidHash, pinner, msg.sender, cid, sizeBytes, ModelType(modelType), period, reward);
    }

    /// @notice Send the caller every reward it has earned.
    function claimRewards() external nonReentrant returns (uint256 amount) {
        amount = _claim(payable(msg.sender));
    }

    /// @notice Send every reward the caller has earned to `to` instead (for a pinner that cannot
    /// receive ether itself, such as a contract without a payable `receive`).
    function claimRewardsTo(address payable to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        if (to == address(this)) revert InvalidRecipient(to);
        amount = _claim(to);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Admin: set the reward per GB for future reports (1 wei to `MAX_BASE_REWARD`).
    function setBaseRewardPerGb(uint256 newReward) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newReward == 0 || newReward > MAX_BASE_REWARD) revert InvalidBaseReward(newReward, MAX_BASE_REWARD);
        emit BaseRewardUpdated(baseRewardPerGb, newReward);
        baseRewardPerGb = newReward;
    }

    /// @notice Admin: take back `amount` wei of funds not reserved for earned rewards (sent to the caller).
    function withdrawUnallocated(uint256 amount) external nonReentrant onlyRole(DEFAULT_ADMIN_ROLE) {
        if (amount == 0) revert ZeroAmount();
        uint256 available = unallocatedBalance();
        if (amount > available) revert InsufficientRewardFunds(amount, available);
        emit UnallocatedWithdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert PaymentFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Pay everything owed to the caller to `to` (callers are `nonReentrant`; effects first).
    function _claim(address payable to) private returns (uint256 amount) {
        amount = _owed[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _owed[msg.sender] = 0;
        totalOwed -= amount;
        totalClaimed += amount;
        if (to == msg.sender) emit RewardsClaimed(msg.sender, amount);
        else emit RewardsClaimedTo(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The reward multiplier of a model type (Language 2, Vision 3, Audio 2, Multimodal 4, Custom 1).
    function multiplierOf(uint8 modelType) public pure returns (uint256) {
        if (modelType == uint8(ModelType.Language)) return 2;
        if (modelType == uint8(ModelType.Vision)) return 3;
        if (modelType == uint8(ModelType.Audio)) return 2;
        if (modelType == uint8(ModelType.Multimodal)) return 4;
        if (modelType == uint8(ModelType.Custom)) return 1;
        revert InvalidModelType(modelType);
    }

    /// @notice Reward for one report: ceil(sizeBytes / 1e9) GB (at least 1) × multiplier × baseRewardPerGb.
    function calculateReward(uint256 sizeBytes, uint8 modelType) public view returns (uint256) {
        if (sizeBytes == 0 || sizeBytes > MAX_SIZE_BYTES) revert InvalidSize(sizeBytes, MAX_SIZE_BYTES);
        uint256 gb = (sizeBytes + BYTES_PER_GB - 1) / BYTES_PER_GB;
        return gb * multiplierOf(modelType) * baseRewardPerGb;
    }

    /// @notice The current reward period (unix time / PERIOD).
    function currentPeriod() public view returns (uint256) {
        return block.timestamp / PERIOD;
    }

    /// @notice Funds not reserved for earned rewards (what new reports can still pay).
    function unallocatedBalance() public view returns (uint256) {
        return address(this).balance - totalOwed;
    }

    /// @notice Unclaimed rewards of `pinner`.
    function rewardsOf(address pinner) external view returns (uint256) {
        return _owed[pinner];
    }

    /// @notice True when `pinner` was rewarded for `cid` in `period`.
    function isReported(string calldata cid, address pinner, uint256 period) external view returns (bool) {
        return _reported[period][keccak256(bytes(cid))][pinner];
    }

    /// @notice What is known about `pinner` pinning `cid` (zero record when never reported).
    function getPin(string calldata cid, address pinner) external view returns (PinRecord memory) {
        return _pins[keccak256(bytes(cid))][pinner];
    }

    /// @notice Number of pinners ever reported for `cid`.
    function pinnerCount(string calldata cid) external view returns (uint256) {
        return _pinners[keccak256(bytes(cid))].length;
    }

    /// @notice Pinners reported for `cid`, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getModelPinners(string calldata cid, uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory out)
    {
        address[] storage all = _pinners[keccak256(bytes(cid))];
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        if (offset >= all.length) return out;
        uint256 n = all.length - offset;
        if (n > limit) n = limit;
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = all[offset + i];
        }
    }
}
