// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PullPayments} from "./lib/PullPayments.sol";

/// @title LoRAFactory: LoRA adapters of registered models, their training, merging and paid use
/// @notice Anyone may order a LoRA adapter of an active registered model, paying
/// `epochs * trainingFeePerEpoch`. An operator trains it off-chain and completes it with the
/// adapter's CID (or fails it, refunding the fee). Ready adapters of one base model can be merged
/// (Linear, SVD, Task-Arithmetic or TIES) for `mergeFee`. Using an adapter costs its
/// creator-set inference price, split 80 % to the base model's owner and 20 % to the creator.
/// @dev Money. Training and merge fees are escrowed (`totalEscrowed`) until the job ends:
/// operator success credits the treasury; operator failure, or the payer's cancellation once the
/// job's `deadline` (order time + the `jobTimeout` in force then) has passed, credits the payer a
/// full refund, so fees never depend on the operator staying alive. The contract's balance always
/// equals `totalEscrowed + totalCredits`.
///
/// Access. Ordering an adapter needs `registry.hasAccess(baseModelId, creator)` (free base model,
/// its owner, or granted), and an adapter's inference price must be at least the base model's
/// current registry price (`inferencePriceOf`) when it is used, so a derivative never bypasses
/// or undercuts the base owner's terms.
///
/// Split. `baseOwnerShare = price * 8_000 / 10_000` rounded down; the creator gets
/// `price - baseOwnerShare`, so the rounding dust goes to the LoRA creator. The base owner's
/// share is reported to the registry as owner revenue with one use.
///
/// Units. `dropoutBps` and `validationSplitBps` are basis points (1_000 = 10 %);
/// `learningRate` is 1e18-scaled (1e14 = 0.0001). Merge weights are 1e18-scaled and sum to 1e18.
///
/// Pricing. An inference with an adapter costs exactly the adapter's `inferencePrice` (set by its
/// creator, 0 by default), which must be at least the base model's registry price at that time
/// (`PriceBelowBaseModel` otherwise); the base price is not added on top, because the base owner
/// is paid its 80 % share of every use. A merge records the merged adapter's CID on the
/// merge request; it does not create a new adapter record.
///
/// Adapter state machine: `Training` -> `Ready` (operator, with the CID), `Failed` (operator;
/// fee refunded) or `Cancelled` (creator, after the deadline; fee refunded). Merge state machine:
/// `Pending` -> `Completed` (operator, with the CID), `Failed` (operator; fee refunded) or
/// `Cancelled` (requester, after the deadline; fee refunded). The operator cannot finish a
/// cancelled job.
contract LoRAFactory is AccessControl, PullPayments {
    // ---------------------------------------------------------------- constants

    /// @notice Role of the training/merging service that completes or fails jobs.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Basis-point denominator (10_000 = 100 %).
    uint256 public constant BPS = 10_000;
    /// @notice The base model owner's share of a LoRA inference payment (80 %).
    uint256 public constant BASE_OWNER_SHARE_BPS = 8_000;
    /// @notice Sum the merge weights must have (1e18 = 100 %).
    uint256 public constant WEIGHT_SCALE = 1e18;
    /// @notice Highest LoRA rank accepted.
    uint256 public constant MAX_RANK = 1_024;
    /// @notice Highest LoRA alpha accepted.
    uint256 public constant MAX_ALPHA = 65_536;
    /// @notice Highest number of training epochs.
    uint256 public constant MAX_EPOCHS = 1_000;
    /// @notice Highest training batch size.
    uint256 public constant MAX_BATCH_SIZE = 65_536;
    /// @notice Highest training fee per epoch or merge fee the admin may set.
    uint256 public constant MAX_FEE = 10 ether;
    /// @notice Highest inference price a creator may set.
    uint256 public constant MAX_INFERENCE_PRICE = 1_000 ether;
    /// @notice Most adapters one merge may combine.
    uint256 public constant MAX_MERGE_INPUTS = 8;
    /// @notice Longest name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @notice Longest description, in bytes.
    uint256 public constant MAX_DESCRIPTION_LENGTH = 1_024;
    /// @notice Longest CID, in bytes.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Most results a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;
    /// @notice Longest failure reason, in bytes.
    uint256 public constant MAX_REASON_LENGTH = 256;
    /// @notice Shortest job timeout the admin may set.
    uint256 public constant MIN_JOB_TIMEOUT = 1 hours;
    /// @notice Longest job timeout the admin may set.
    uint256 public constant MAX_JOB_TIMEOUT = 90 days;

    // ---------------------------------------------------------------- types

    /// @notice Adapter lifecycle (`None` = unknown id).
    enum LoRAStatus {
        None,
        Training,
        Ready,
        Failed,
        Cancelled
    }

    /// @notice Merge request lifecycle (`None` = unknown id).
    enum MergeStatus {
        None,
        Pending,
        Completed,
        Failed,
        Cancelled
    }

    /// @notice How adapters are merged.
    enum MergeType {
        Linear,
        SVD,
        TaskArithmetic,
        TIES
    }

    /// @notice Training hyper-parameters and data (`learningRate` 1e18-scaled, `validationSplitBps` in bps).
    struct TrainingConfig {
        uint256 epochs;
        uint256 batchSize;
        uint256 learningRate;
        string datasetCID;
        uint256 datasetSize;
        uint256 validationSplitBps;
    }

    /// @notice An adapter as stored.
    struct LoRA {
        bytes32 baseModelId;
        address creator;
        LoRAStatus status;
        bool isPublic;
        uint64 createdAt;
        uint64 readyAt;
        uint64 deadline;
        string name;
        string description;
        string adapterCID;
        uint256 rank;
        uint256 alpha;
        uint256 dropoutBps;
        uint256 trainingCost;
        uint256 inferencePrice;
        uint256 totalInferences;
        uint256 totalRevenue;
        TrainingConfig config;
    }

    /// @notice A merge request as stored.
    struct MergeRequest {
        address requester;
        MergeStatus status;
        MergeType mergeType;
        uint64 createdAt;
        uint64 finishedAt;
        uint64 deadline;
        bytes32 baseModelId;
        uint256 fee;
        string resultCID;
        bytes32[] loraIds;
        uint256[] weights;
    }

    // ---------------------------------------------------------------- state

    /// @notice The model registry (base models must exist and be active there).
    IModelRegistry public immutable registry;
    /// @notice Receives training and merge fees.
    address public treasury;
    /// @notice Fee per training epoch.
    uint256 public trainingFeePerEpoch = 0.01 ether;
    /// @notice Fee per merge request.
    uint256 public mergeFee = 0.05 ether;
    /// @notice Fees held for unfinished training and merge jobs.
    uint256 public totalEscrowed;
    /// @notice Seconds the operator has to finish a new training or merge job; after that the
    /// payer may cancel it for a full refund (snapshotted per job as its `deadline`).
    uint256 public jobTimeout = 7 days;

    uint256 private _nonce;
    mapping(bytes32 loraId => LoRA) private _loras;
    bytes32[] private _allLoRAs;
    mapping(address creator => bytes32[]) private _lorasOf;
    mapping(bytes32 baseModelId => bytes32[]) private _lorasOfModel;
    mapping(bytes32 loraId => mapping(address user => bool)) private _permitted;
    mapping(bytes32 requestId => MergeRequest) private _merges;
    bytes32[] private _allMerges;

    // ---------------------------------------------------------------- events

    /// @notice `creator` ordered adapter `loraId` of `baseModelId`.
    event LoRACreated(bytes32 indexed loraId, bytes32 indexed baseModelId, address indexed creator, string name);
    /// @notice Training of `loraId` started for `epochs` epochs, `cost` wei escrowed.
    event TrainingStarted(bytes32 indexed loraId, uint256 epochs, uint256 cost);
    /// @notice Training of `loraId` finished; the adapter is at `adapterCID`.
    event TrainingCompleted(bytes32 indexed loraId, string adapterCID);
    /// @notice Training of `loraId` failed; `refund` wei was credited to the creator.
    event TrainingFailed(bytes32 indexed loraId, string reason, uint256 refund);
    /// @notice `requester` asked to merge `loraIds` with `weights` by `mergeType`.
    event MergeRequested(
        bytes32 indexed requestId,
        address indexed requester,
        bytes32 indexed baseModelId,
        bytes32[] loraIds,
        uint256[] weights,
        MergeType mergeType
    );
    /// @notice Merge `requestId` finished; the merged adapter is at `resultCID`.
    event MergeCompleted(bytes32 indexed requestId, string resultCID);
    /// @notice Merge `requestId` failed; `refund` wei was credited to the requester.
    event MergeFailed(bytes32 indexed requestId, string reason, uint256 refund);
    /// @notice `user` paid `price` to use `loraId`: `baseOwnerAmount` to the base model's owner, `creatorAmount` to the creator.
    event LoRAInference(
        bytes32 indexed loraId,
        address indexed user,
        uint256 price,
        address baseOwner,
        uint256 baseOwnerAmount,
        uint256 creatorAmount
    );
    /// @notice The creator made `loraId` public or private.
    event VisibilityChanged(bytes32 indexed loraId, bool isPublic);
    /// @notice The creator set the inference price of `loraId`.
    event InferencePriceUpdated(bytes32 indexed loraId, uint256 oldPrice, uint256 newPrice);
    /// @notice The creator let `user` use private adapter `loraId`.
    event PermissionGranted(bytes32 indexed loraId, address indexed user);
    /// @notice The creator withdrew `user`'s permission on `loraId`.
    event PermissionRevoked(bytes32 indexed loraId, address indexed user);
    /// @notice The training fee per epoch changed.
    event TrainingFeeUpdated(uint256 oldFee, uint256 newFee);
    /// @notice The merge fee changed.
    event MergeFeeUpdated(uint256 oldFee, uint256 newFee);
    /// @notice The treasury changed.
    event TreasuryUpdated(address oldTreasury, address newTreasury);
    /// @notice The job timeout for new training and merge jobs changed.
    event JobTimeoutUpdated(uint256 oldTimeout, uint256 newTimeout);
    /// @notice The creator cancelled the overdue training of `loraId`; `refund` wei was credited to it.
    event TrainingCancelled(bytes32 indexed loraId, uint256 refund);
    /// @notice The requester cancelled overdue merge `requestId`; `refund` wei was credited to it.
    event MergeCancelled(bytes32 indexed requestId, uint256 refund);

    // ---------------------------------------------------------------- errors

    /// @notice The address given as `what` is the zero address; pass a real account.
    error ZeroAddress(string what);
    /// @notice You may not build on this priced base model; ask its owner for access in the ModelRegistry.
    error NoBaseModelAccess(bytes32 baseModelId, address user);
    /// @notice The adapter's price is below its base model's registry price `basePrice`; its
    /// creator must raise it (setInferencePrice) to at least `basePrice`.
    error PriceBelowBaseModel(bytes32 loraId, uint256 price, uint256 basePrice);
    /// @notice The failure reason may be at most `max` bytes long; shorten it.
    error ReasonTooLong(uint256 length, uint256 max);
    /// @notice The job timeout must be between `min` and `max` seconds.
    error InvalidJobTimeout(uint256 timeout, uint256 min, uint256 max);
    /// @notice The job may be cancelled only after its `deadline` (unix time); wait for the operator until then.
    error DeadlineNotReached(uint256 deadline);
    /// @notice Only the merge's requester may cancel it.
    error NotMergeRequester(bytes32 requestId, address requester);
    /// @notice This model is not registered in the ModelRegistry; check the model id.
    error UnknownModel(bytes32 modelId);
    /// @notice This model is deactivated in the ModelRegistry; it cannot be used now.
    error ModelInactive(bytes32 modelId);
    /// @notice The fee sent is wrong; send exactly `required` wei.
    error WrongFee(uint256 required, uint256 sent);
    /// @notice The name must be 1 to `maxLength` bytes long.
    error InvalidName(uint256 length, uint256 maxLength);
    /// @notice The description may be at most `maxLength` bytes long.
    error DescriptionTooLong(uint256 length, uint256 maxLength);
    /// @notice The CID must be 1 to `maxLength` bytes long.
    error InvalidCID(uint256 length, uint256 maxLength);
    /// @notice The rank must be between 1 and `max`.
    error InvalidRank(uint256 rank, uint256 max);
    /// @notice The alpha must be between 1 and `max`.
    error InvalidAlpha(uint256 alpha, uint256 max);
    /// @notice The dropout is in basis points and must be below 10_000.
    error InvalidDropout(uint256 dropoutBps);
    /// @notice The epochs must be between 1 and `max`.
    error InvalidEpochs(uint256 epochs, uint256 max);
    /// @notice The batch size must be between 1 and `max`.
    error InvalidBatchSize(uint256 batchSize, uint256 max);
    /// @notice The learning rate is 1e18-scaled and must be above 0 and at most 1e18.
    error InvalidLearningRate(uint256 learningRate);
    /// @notice The dataset size must be greater than zero.
    error InvalidDatasetSize();
    /// @notice The validation split is in basis points and must be below 10_000.
    error InvalidValidationSplit(uint256 validationSplitBps);
    /// @notice There is no LoRA adapter with this id.
    error UnknownLoRA(bytes32 loraId);
    /// @notice The adapter is not in the state this needs (`required`); it is `actual`.
    error WrongLoRAStatus(bytes32 loraId, LoRAStatus required, LoRAStatus actual);
    /// @notice Only the adapter's creator may do this.
    error NotCreator(bytes32 loraId, address creator);
    /// @notice You may not use this private adapter; ask its creator for permission.
    error NoPermission(bytes32 loraId, address user);
    /// @notice The price may be at most `max` wei.
    error PriceTooHigh(uint256 price, uint256 max);
    /// @notice The fee may be at most `max` wei.
    error FeeTooHigh(uint256 fee, uint256 max);
    /// @notice The visibility or permission is already as requested.
    error Unchanged();
    /// @notice A merge needs 2 to `max` adapters and one weight per adapter.
    error InvalidMergeInputs(uint256 loraCount, uint256 weightCount, uint256 max);
    /// @notice The merge type must be 0 Linear, 1 SVD, 2 TaskArithmetic or 3 TIES.
    error InvalidMergeType(uint8 mergeType);
    /// @notice An adapter appears twice in the merge; list each once.
    error DuplicateLoRA(bytes32 loraId);
    /// @notice All adapters of a merge must share one base model (`expected`).
    error BaseModelMismatch(bytes32 loraId, bytes32 expected, bytes32 actual);
    /// @notice Every merge weight must be greater than zero.
    error ZeroWeight(uint256 index);
    /// @notice The merge weights must sum to exactly 1e18.
    error WeightsSumInvalid(uint256 sum);
    /// @notice There is no merge request with this id.
    error UnknownMerge(bytes32 requestId);
    /// @notice This merge request is not pending.
    error MergeNotPending(bytes32 requestId, MergeStatus status);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy with `admin` holding the admin and operator roles, `registry` for models and `treasury` for fees.
    constructor(address admin, address registry_, address treasury_) {
        if (admin == address(0)) revert ZeroAddress("admin");
        if (registry_ == address(0)) revert ZeroAddress("registry");
        _checkPayee(treasury_);
        registry = IModelRegistry(registry_);
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, admin);
    }

    // ---------------------------------------------------------------- adapters

    /// @notice Order a LoRA adapter of `baseModelId`, paying exactly `config.epochs * trainingFeePerEpoch`.
    /// `dropoutBps` is in basis points; the adapter starts private with inference price 0.
    function createLoRA(
        bytes32 baseModelId,
        string calldata name,
        string calldata description,
        uint256 rank,
        uint256 alpha,
        uint256 dropoutBps,
        TrainingConfig calldata config
    ) external payable nonReentrant returns (bytes32 loraId) {
        _requireActiveModel(baseModelId);
        if (!registry.hasAccess(baseModelId, msg.sender)) revert NoBaseModelAccess(baseModelId, msg.sender);
        _checkText(name, description);
        _checkShape(rank, alpha, dropoutBps);
        _checkConfig(config);
        uint256 fee = config.epochs * trainingFeePerEpoch;
        if (msg.value != fee) revert WrongFee(fee, msg.value);

        loraId = keccak256(abi.encode(block.chainid, address(this), msg.sender, baseModelId, ++_nonce));
        LoRA storage l = _loras[loraId];
        l.baseModelId = baseModelId;
        l.creator = msg.sender;
        l.status = LoRAStatus.Training;
        l.createdAt = uint64(block.timestamp);
        l.deadline = uint64(block.timestamp + jobTimeout);
        l.name = name;
        l.description = description;
        l.rank = rank;
        l.alpha = alpha;
        l.dropoutBps = dropoutBps;
        l.trainingCost = fee;
        l.config = config;
        totalEscrowed += fee;
        _allLoRAs.push(loraId);
        _lorasOf[msg.sender].push(loraId);
        _lorasOfModel[baseModelId].push(loraId);
        emit LoRACreated(loraId, baseModelId, msg.sender, name);
        emit TrainingStarted(loraId, config.epochs, fee);
    }

    /// @notice Operator: training of `loraId` succeeded; record the adapter CID (the fee goes to the treasury).
    function completeTraining(bytes32 loraId, string calldata adapterCID) external onlyRole(OPERATOR_ROLE) {
        LoRA storage l = _loraIn(loraId, LoRAStatus.Training);
        _checkCID(adapterCID);
        uint256 fee = l.trainingCost;
        l.status = LoRAStatus.Ready;
        l.adapterCID = adapterCID;
        l.readyAt = uint64(block.timestamp);
        totalEscrowed -= fee;
        _credit(treasury, fee);
        emit TrainingCompleted(loraId, adapterCID);
    }

    /// @notice Operator: training of `loraId` failed; the creator is credited the whole fee.
    function failTraining(bytes32 loraId, string calldata reason) external onlyRole(OPERATOR_ROLE) {
        LoRA storage l = _loraIn(loraId, LoRAStatus.Training);
        _checkReason(reason);
        uint256 fee = l.trainingCost;
        l.status = LoRAStatus.Failed;
        totalEscrowed -= fee;
        _credit(l.creator, fee);
        emit TrainingFailed(loraId, reason, fee);
    }

    /// @notice Creator: cancel the training of `loraId` once its `deadline` has passed without the
    /// operator finishing it; the whole fee is credited back to you (withdraw it).
    function cancelTraining(bytes32 loraId) external {
        LoRA storage l = _ownLoRA(loraId);
        if (l.status != LoRAStatus.Training) revert WrongLoRAStatus(loraId, LoRAStatus.Training, l.status);
        if (block.timestamp <= l.deadline) revert DeadlineNotReached(l.deadline);
        uint256 fee = l.trainingCost;
        l.status = LoRAStatus.Cancelled;
        totalEscrowed -= fee;
        _credit(msg.sender, fee);
        emit TrainingCancelled(loraId, fee);
    }

    /// @notice Creator: make `loraId` usable by everyone (`true`) or only by you and permitted users.
    function setPublic(bytes32 loraId, bool isPublic) external {
        LoRA storage l = _ownLoRA(loraId);
        if (l.isPublic == isPublic) revert Unchanged();
        l.isPublic = isPublic;
        emit VisibilityChanged(loraId, isPublic);
    }

    /// @notice Creator: set the price of one inference with `loraId` (at most `MAX_INFERENCE_PRICE`).
    function setInferencePrice(bytes32 loraId, uint256 price) external {
        LoRA storage l = _ownLoRA(loraId);
        if (price > MAX_INFERENCE_PRICE) revert PriceTooHigh(price, MAX_INFERENCE_PRICE);
        emit InferencePriceUpdated(loraId, l.inferencePrice, price);
        l.inferencePrice = price;
    }

    /// @notice Creator: let `user` use private adapter `loraId`.
    function grantPermission(bytes32 loraId, address user) external {
        _ownLoRA(loraId);
        if (user == address(0)) revert ZeroAddress("user");
        if (_permitted[loraId][user]) revert Unchanged();
        _permitted[loraId][user] = true;
        emit PermissionGranted(loraId, user);
    }

    /// @notice Creator: withdraw `user`'s permission on `loraId`.
    function revokePermission(bytes32 loraId, address user) external {
        _ownLoRA(loraId);
        if (!_permitted[loraId][user]) revert Unchanged();
        _permitted[loraId][user] = false;
        emit PermissionRevoked(loraId, user);
    }

    /// @notice Pay exactly the adapter's inference price to use Ready adapter `loraId`: 80 % to the
    /// base model's owner, the rest (with the rounding dust) to the creator. Returns the use number.
    function inferWithLoRA(bytes32 loraId) external payable nonReentrant returns (uint256 useNumber) {
        LoRA storage l = _loraIn(loraId, LoRAStatus.Ready);
        if (!hasAccess(loraId, msg.sender)) revert NoPermission(loraId, msg.sender);
        bytes32 baseModelId = l.baseModelId;
        _requireActiveModel(baseModelId);
        uint256 price = l.inferencePrice;
        uint256 basePrice = registry.inferencePriceOf(baseModelId);
        if (price < basePrice) revert PriceBelowBaseModel(loraId, price, basePrice);
        if (msg.value != price) revert WrongFee(price, msg.value);
        address baseOwner = registry.modelOwner(baseModelId);
        uint256 baseOwnerAmount = (price * BASE_OWNER_SHARE_BPS) / BPS;
        uint256 creatorAmount = price - baseOwnerAmount;

        useNumber = ++l.totalInferences;
        l.totalRevenue += creatorAmount;
        _credit(baseOwner, baseOwnerAmount);
        _credit(l.creator, creatorAmount);
        emit LoRAInference(loraId, msg.sender, price, baseOwner, baseOwnerAmount, creatorAmount);
        registry.recordUsage(baseModelId, 1, baseOwnerAmount);
    }

    // ---------------------------------------------------------------- merging

    /// @notice Ask to merge 2 to `MAX_MERGE_INPUTS` distinct Ready adapters of one base model, each
    /// usable by you, with 1e18-scaled `weights` summing to 1e18, by `mergeType` (0 Linear, 1 SVD,
    /// 2 TaskArithmetic, 3 TIES), paying exactly `mergeFee`.
    function mergeLoRAs(bytes32[] calldata loraIds, uint256[] calldata weights, uint8 mergeType)
        external
        payable
        nonReentrant
        returns (bytes32 requestId)
    {
        uint256 n = loraIds.length;
        if (n < 2 || n > MAX_MERGE_INPUTS || weights.length != n) {
            revert InvalidMergeInputs(n, weights.length, MAX_MERGE_INPUTS);
        }
        if (mergeType > uint8(type(MergeType).max)) revert InvalidMergeType(mergeType);
        bytes32 baseModelId = _checkMergeInputs(loraIds, weights);
        _requireActiveModel(baseModelId);
        uint256 fee = mergeFee;
        if (msg.value != fee) revert WrongFee(fee, msg.value);

        requestId = keccak256(abi.encode(block.chainid, address(this), msg.sender, "merge", ++_nonce));
        MergeRequest storage m = _merges[requestId];
        m.requester = msg.sender;
        m.status = MergeStatus.Pending;
        m.mergeType = MergeType(mergeType);
        m.createdAt = uint64(block.timestamp);
        m.deadline = uint64(block.timestamp + jobTimeout);
        m.baseModelId = baseModelId;
        m.fee = fee;
        m.loraIds = loraIds;
        m.weights = weights;
        totalEscrowed += fee;
        _allMerges.push(requestId);
        emit MergeRequested(requestId, msg.sender, baseModelId, loraIds, weights, MergeType(mergeType));
    }

    /// @notice Operator: merge `requestId` succeeded; record the merged adapter's CID (the fee goes to the treasury).
    function completeMerge(bytes32 requestId, string calldata resultCID) external onlyRole(OPERATOR_ROLE) {
        MergeRequest storage m = _pendingMerge(requestId);
        _checkCID(resultCID);
        m.status = MergeStatus.Completed;
        m.resultCID = resultCID;
        m.finishedAt = uint64(block.timestamp);
        totalEscrowed -= m.fee;
        _credit(treasury, m.fee);
        emit MergeCompleted(requestId, resultCID);
    }

    /// @notice Operator: merge `requestId` failed; the requester is credited the whole fee.
    function failMerge(bytes32 requestId, string calldata reason) external onlyRole(OPERATOR_ROLE) {
        MergeRequest storage m = _pendingMerge(requestId);
        _checkReason(reason);
        m.status = MergeStatus.Failed;
        m.finishedAt = uint64(block.timestamp);
        totalEscrowed -= m.fee;
        _credit(m.requester, m.fee);
        emit MergeFailed(requestId, reason, m.fee);
    }

    /// @notice Requester: cancel merge `requestId` once its `deadline` has passed without the
    /// operator finishing it; the whole fee is credited back to you (withdraw it).
    function cancelMerge(bytes32 requestId) external {
        MergeRequest storage m = _pendingMerge(requestId);
        if (m.requester != msg.sender) revert NotMergeRequester(requestId, m.requester);
        if (block.timestamp <= m.deadline) revert DeadlineNotReached(m.deadline);
        m.status = MergeStatus.Cancelled;
        m.finishedAt = uint64(block.timestamp);
        totalEscrowed -= m.fee;
        _credit(msg.sender, m.fee);
        emit MergeCancelled(requestId, m.fee);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Admin: set the training fee per epoch for new adapters (at most `MAX_FEE`).
    function setTrainingFeePerEpoch(uint256 newFee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFee > MAX_FEE) revert FeeTooHigh(newFee, MAX_FEE);
        emit TrainingFeeUpdated(trainingFeePerEpoch, newFee);
        trainingFeePerEpoch = newFee;
    }

    /// @notice Admin: set the fee for new merge requests (at most `MAX_FEE`).
    function setMergeFee(uint256 newFee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFee > MAX_FEE) revert FeeTooHigh(newFee, MAX_FEE);
        emit MergeFeeUpdated(mergeFee, newFee);
        mergeFee = newFee;
    }

    /// @notice Admin: set the account that receives fees from now on.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkPayee(newTreasury);
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice Admin: set the time the operator has to finish new jobs (`MIN_JOB_TIMEOUT` to
    /// `MAX_JOB_TIMEOUT`); jobs already ordered keep their deadline.
    function setJobTimeout(uint256 newTimeout) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTimeout < MIN_JOB_TIMEOUT || newTimeout > MAX_JOB_TIMEOUT) {
            revert InvalidJobTimeout(newTimeout, MIN_JOB_TIMEOUT, MAX_JOB_TIMEOUT);
        }
        emit JobTimeoutUpdated(jobTimeout, newTimeout);
        jobTimeout = newTimeout;
    }

    // ---------------------------------------------------------------- views

    /// @notice Fee to train an adapter for `epochs` epochs now.
    function trainingFee(uint256 epochs) external view returns (uint256) {
        return epochs * trainingFeePerEpoch;
    }

    /// @notice True when `user` may use `loraId` (it is public, or `user` is its creator or permitted).
    function hasAccess(bytes32 loraId, address user) public view returns (bool) {
        LoRA storage l = _loras[loraId];
        return l.isPublic || l.creator == user || _permitted[loraId][user];
    }

    /// @notice An adapter's record (status `None` for an unknown id).
    function getLoRA(bytes32 loraId) external view returns (LoRA memory) {
        return _loras[loraId];
    }

    /// @notice A merge request's record (status `None` for an unknown id).
    function getMergeRequest(bytes32 requestId) external view returns (MergeRequest memory) {
        return _merges[requestId];
    }

    /// @notice Number of adapters ever ordered.
    function totalLoRAs() external view returns (uint256) {
        return _allLoRAs.length;
    }

    /// @notice Number of merge requests ever made.
    function totalMerges() external view returns (uint256) {
        return _allMerges.length;
    }

    /// @notice Adapter ids, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getAllLoRAs(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _page(_allLoRAs, offset, limit);
    }

    /// @notice Merge request ids, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getAllMerges(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _page(_allMerges, offset, limit);
    }

    /// @notice Number of adapters `creator` ordered.
    function loraCountOf(address creator) external view returns (uint256) {
        return _lorasOf[creator].length;
    }

    /// @notice Ids of `creator`'s adapters, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getUserLoRAs(address creator, uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _page(_lorasOf[creator], offset, limit);
    }

    /// @notice Number of adapters of `baseModelId`.
    function loraCountOfModel(bytes32 baseModelId) external view returns (uint256) {
        return _lorasOfModel[baseModelId].length;
    }

    /// @notice Ids of the adapters of `baseModelId`, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getModelLoRAs(bytes32 baseModelId, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory)
    {
        return _page(_lorasOfModel[baseModelId], offset, limit);
    }

    // ---------------------------------------------------------------- internals

    function _requireActiveModel(bytes32 modelId) private view {
        if (!registry.isModelActive(modelId)) {
            if (!registry.modelExists(modelId)) revert UnknownModel(modelId);
            revert ModelInactive(modelId);
        }
    }

    function _loraIn(bytes32 loraId, LoRAStatus required) private view returns (LoRA storage l) {
        l = _loras[loraId];
        if (l.status == LoRAStatus.None) revert UnknownLoRA(loraId);
        if (l.status != required) revert WrongLoRAStatus(loraId, required, l.status);
    }

    function _ownLoRA(bytes32 loraId) private view returns (LoRA storage l) {
        l = _loras[loraId];
        if (l.status == LoRAStatus.None) revert UnknownLoRA(loraId);
        if (l.creator != msg.sender) revert NotCreator(loraId, l.creator);
    }

    function _pendingMerge(bytes32 requestId) private view returns (MergeRequest storage m) {
        m = _merges[requestId];
        if (m.status == MergeStatus.None) revert UnknownMerge(requestId);
        if (m.status != MergeStatus.Pending) revert MergeNotPending(requestId, m.status);
    }

    function _checkMergeInputs(bytes32[] calldata loraIds, uint256[] calldata weights)
        private
        view
        returns (bytes32 baseModelId)
    {
        uint256 sum;
        for (uint256 i; i < loraIds.length; ++i) {
            bytes32 id = loraIds[i];
            LoRA storage l = _loraIn(id, LoRAStatus.Ready);
            if (!hasAccess(id, msg.sender)) revert NoPermission(id, msg.sender);
            if (i == 0) {
                baseModelId = l.baseModelId;
            } else if (l.baseModelId != baseModelId) {
                revert BaseModelMismatch(id, baseModelId, l.baseModelId);
            }
            for (uint256 j; j < i; ++j) {
                if (loraIds[j] == id) revert DuplicateLoRA(id);
            }
            if (weights[i] == 0) revert ZeroWeight(i);
            if (weights[i] > WEIGHT_SCALE) revert WeightsSumInvalid(weights[i]);
            sum += weights[i];
        }
        if (sum != WEIGHT_SCALE) revert WeightsSumInvalid(sum);
    }

    function _checkText(string calldata name, string calldata description) private pure {
        uint256 len = bytes(name).length;
        if (len == 0 || len > MAX_NAME_LENGTH) revert InvalidName(len, MAX_NAME_LENGTH);
        len = bytes(description).length;
        if (len > MAX_DESCRIPTION_LENGTH) revert DescriptionTooLong(len, MAX_DESCRIPTION_LENGTH);
    }

    function _checkShape(uint256 rank, uint256 alpha, uint256 dropoutBps) private pure {
        if (rank == 0 || rank > MAX_RANK) revert InvalidRank(rank, MAX_RANK);
        if (alpha == 0 || alpha > MAX_ALPHA) revert InvalidAlpha(alpha, MAX_ALPHA);
        if (dropoutBps >= BPS) revert InvalidDropout(dropoutBps);
    }

    function _checkConfig(TrainingConfig calldata c) private pure {
        if (c.epochs == 0 || c.epochs > MAX_EPOCHS) revert InvalidEpochs(c.epochs, MAX_EPOCHS);
        if (c.batchSize == 0 || c.batchSize > MAX_BATCH_SIZE) revert InvalidBatchSize(c.batchSize, MAX_BATCH_SIZE);
        if (c.learningRate == 0 || c.learningRate > 1e18) revert InvalidLearningRate(c.learningRate);
        _checkCID(c.datasetCID);
        if (c.datasetSize == 0) revert InvalidDatasetSize();
        if (c.validationSplitBps >= BPS) revert InvalidValidationSplit(c.validationSplitBps);
    }

    function _checkReason(string calldata reason) private pure {
        if (bytes(reason).length > MAX_REASON_LENGTH) revert ReasonTooLong(bytes(reason).length, MAX_REASON_LENGTH);
    }

    function _checkCID(string calldata cid) private pure {
        uint256 len = bytes(cid).length;
        if (len == 0 || len > MAX_CID_LENGTH) revert InvalidCID(len, MAX_CID_LENGTH);
    }

    function _page(bytes32[] storage all, uint256 offset, uint256 limit) private view returns (bytes32[] memory out) {
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        uint256 length = all.length;
        if (offset >= length) return out;
        uint256 n = length - offset;
        if (n > limit) n = limit;
        out = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = all[offset + i];
        }
    }
}
