// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PullPayments} from "./lib/PullPayments.sol";

/// @title ModelRegistry: the on-chain catalogue of AI models
/// @notice Anyone registers a model (name, framework, version, content CID, size, inference
/// price and metadata) for the registration fee, which is credited to the treasury. The owner
/// updates its version/CID, metadata and price, grants and revokes per-address access, and
/// activates or deactivates it. Paid inference and the usage reported by the other system
/// contracts (holders of `USAGE_REPORTER_ROLE`) feed each model's usage and revenue counters.
/// @dev Design decisions:
/// - Model id = keccak256(abi.encode(owner, name, version)) with the *initial* version; it never
///   changes when the version is updated later. Registering the same (owner, name, version)
///   twice reverts with `ModelAlreadyRegistered`, so an id can be computed off-chain before
///   registering (`computeModelId`).
/// - The registration fee must be paid exactly: an overpayment is rejected (`WrongFee`) rather
///   than refunded, so a fee change by the admin between signing and inclusion can never take
///   more than the registrant agreed to, and registration makes no external call.
/// - `requestInference`: a model priced at 0 is public (anyone may call); a priced model may be
///   used only by its owner or by addresses it granted access to, paying the price exactly.
///   The payment is credited to the owner (pull payment); nothing is pushed.
/// - No state lives behind precompiles: everything is in this contract's storage.
contract ModelRegistry is IModelRegistry, AccessControl, PullPayments {
    // ---------------------------------------------------------------- constants

    /// @notice Role of the contracts that may report usage and revenue (`recordUsage`).
    bytes32 public constant USAGE_REPORTER_ROLE = keccak256("USAGE_REPORTER_ROLE");
    /// @notice Registration fee at deployment.
    uint256 public constant DEFAULT_REGISTRATION_FEE = 0.1 ether;
    /// @notice Highest registration fee the admin may set.
    uint256 public constant MAX_REGISTRATION_FEE = 100 ether;
    /// @notice Highest inference price an owner may set (keeps price × quantity far from
    /// overflow).
    uint256 public constant MAX_INFERENCE_PRICE = 1_000_000 ether;
    /// @notice Most entries a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;

    /// @notice Longest model name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 128;
    /// @notice Longest framework, version or licence string, in bytes.
    uint256 public constant MAX_SHORT_STRING_LENGTH = 64;
    /// @notice Longest content identifier (CID), in bytes.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Longest description, in bytes.
    uint256 public constant MAX_DESCRIPTION_LENGTH = 2048;
    /// @notice Most entries of an input or output shape.
    uint256 public constant MAX_SHAPE_ITEMS = 16;
    /// @notice Most tags.
    uint256 public constant MAX_TAGS = 16;
    /// @notice Longest shape entry or tag, in bytes.
    uint256 public constant MAX_ITEM_LENGTH = 32;
    /// @notice Largest model size, in bytes (10 TB).
    uint256 public constant MAX_SIZE_BYTES = 10_000_000_000_000;
    /// @notice Largest parameter count in the metadata (10^15, far beyond any model today).
    uint256 public constant MAX_PARAMETERS = 1_000_000_000_000_000;

    // ---------------------------------------------------------------- types

    /// @notice Descriptive metadata of a model.
    struct ModelMetadata {
        string description;
        string[] inputShape;
        string[] outputShape;
        uint256 parameters;
        string license;
        string[] tags;
    }

    /// @notice Everything `registerModel` needs.
    struct ModelInput {
        string name;
        string framework;
        string version;
        string cid;
        uint256 sizeBytes;
        uint256 inferencePrice;
        ModelMetadata metadata;
    }

    /// @notice A registered model.
    struct Model {
        bytes32 modelId;
        address owner;
        bool active;
        uint64 createdAt;
        uint64 updatedAt;
        string name;
        string framework;
        string version;
        string cid;
        uint256 sizeBytes;
        uint256 inferencePrice;
        uint256 totalInferences;
        uint256 revenue;
        ModelMetadata metadata;
    }

    // ---------------------------------------------------------------- state

    /// @notice Address credited with registration fees.
    address public treasury;
    /// @notice Fee in wei to register a model (exact amount required).
    uint256 public registrationFee;

    mapping(bytes32 modelId => Model) private _models;
    mapping(address owner => bytes32[]) private _modelsByOwner;
    mapping(bytes32 modelId => mapping(address user => bool)) private _permitted;
    bytes32[] private _modelIds;

    // ---------------------------------------------------------------- events

    /// @notice `owner` registered `modelId`, paying `feePaid` wei.
    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        string name,
        string version,
        string cid,
        uint256 inferencePrice,
        uint256 feePaid
    );
    /// @notice The owner changed the version and content CID of `modelId`.
    event ModelUpdated(bytes32 indexed modelId, string version, string cid);
    /// @notice The owner replaced the metadata of `modelId`.
    event ModelMetadataUpdated(bytes32 indexed modelId);
    /// @notice The inference price of `modelId` changed from `oldPrice` to `newPrice` wei.
    event InferencePriceChanged(bytes32 indexed modelId, uint256 oldPrice, uint256 newPrice);
    /// @notice `modelId` was activated.
    event ModelActivated(bytes32 indexed modelId);
    /// @notice `modelId` was deactivated.
    event ModelDeactivated(bytes32 indexed modelId);
    /// @notice The owner let `user` use the priced model `modelId`.
    event AccessGranted(bytes32 indexed modelId, address indexed user);
    /// @notice The owner withdrew `user`'s access to `modelId`.
    event AccessRevoked(bytes32 indexed modelId, address indexed user);
    /// @notice `requester` paid `price` wei for inference number `inferenceNumber` of `modelId`.
    event InferenceRequested(
        bytes32 indexed modelId, address indexed requester, uint256 price, uint256 inferenceNumber
    );
    /// @notice `reporter` added `inferences` uses and `revenue` wei of owner revenue to `modelId`.
    event UsageRecorded(
        bytes32 indexed modelId, address indexed reporter, uint256 inferences, uint256 revenue
    );
    /// @notice The admin changed the registration fee from `oldFee` to `newFee` wei.
    event RegistrationFeeChanged(uint256 oldFee, uint256 newFee);
    /// @notice The admin changed the treasury from `oldTreasury` to `newTreasury`.
    event TreasuryChanged(address indexed oldTreasury, address indexed newTreasury);

    // ---------------------------------------------------------------- errors

    /// @notice An address argument (`what`) must not be the zero address.
    error ZeroAddress(string what);
    /// @notice This model is not registered in the ModelRegistry; check the model id.
    error UnknownModel(bytes32 modelId);
    /// @notice This owner already registered a model with this name and version; register a
    /// new version instead.
    error ModelAlreadyRegistered(bytes32 modelId);
    /// @notice The fee sent is wrong; send exactly `required` wei.
    error WrongFee(uint256 required, uint256 sent);
    /// @notice The payment is not the model's inference price; send exactly `required` wei.
    error WrongPayment(uint256 required, uint256 sent);
    /// @notice Only the model's owner may do this.
    error NotModelOwner(bytes32 modelId, address caller);
    /// @notice The model is deactivated; its owner must activate it first.
    error ModelNotActive(bytes32 modelId);
    /// @notice The model is already in the requested state (`active`).
    error ModelStateUnchanged(bytes32 modelId, bool active);
    /// @notice This priced model may only be used by its owner or addresses it granted access to.
    error NotPermitted(bytes32 modelId, address caller);
    /// @notice The user already has access to this model.
    error AlreadyPermitted(bytes32 modelId, address user);
    /// @notice The user has no granted access to revoke.
    error NotPermittedUser(bytes32 modelId, address user);
    /// @notice The field `field` must not be empty.
    error EmptyField(string field);
    /// @notice The field `field` is `length` bytes long; shorten it to at most `maxLength` bytes.
    error StringTooLong(string field, uint256 length, uint256 maxLength);
    /// @notice The list `field` has `count` entries; send at most `maxCount`.
    error TooManyItems(string field, uint256 count, uint256 maxCount);
    /// @notice The value of `field` must be greater than zero.
    error ZeroValue(string field);
    /// @notice `value` is above the maximum `max` allowed for `field`.
    error ValueTooLarge(string field, uint256 value, uint256 max);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy with `admin` holding the admin role and `treasury` receiving the fees.
    constructor(address admin, address treasury_) {
        if (admin == address(0)) revert ZeroAddress("admin");
        if (treasury_ == address(0)) revert ZeroAddress("treasury");
        _checkPayee(treasury_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        treasury = treasury_;
        registrationFee = DEFAULT_REGISTRATION_FEE;
        emit TreasuryChanged(address(0), treasury_);
        emit RegistrationFeeChanged(0, DEFAULT_REGISTRATION_FEE);
    }

    // ---------------------------------------------------------------- modifiers

    modifier onlyModelOwner(bytes32 modelId) {
        _requireOwner(modelId);
        _;
    }

    // ---------------------------------------------------------------- registration

    /// @notice The id `registerModel` gives a model with this owner, name and version.
    function computeModelId(address owner, string calldata name, string calldata version)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(owner, name, version));
    }

    /// @notice Register a model, paying exactly `registrationFee` wei; returns its id.
    function registerModel(ModelInput calldata input)
        external
        payable
        nonReentrant
        returns (bytes32 modelId)
    {
        if (msg.value != registrationFee) revert WrongFee(registrationFee, msg.value);
        _checkString("name", input.name, MAX_NAME_LENGTH, true);
        _checkString("framework", input.framework, MAX_SHORT_STRING_LENGTH, false);
        _checkString("version", input.version, MAX_SHORT_STRING_LENGTH, true);
        _checkString("cid", input.cid, MAX_CID_LENGTH, true);
        if (input.sizeBytes == 0) revert ZeroValue("sizeBytes");
        if (input.sizeBytes > MAX_SIZE_BYTES) {
            revert ValueTooLarge("sizeBytes", input.sizeBytes, MAX_SIZE_BYTES);
        }
        _checkPrice(input.inferencePrice);
        _checkMetadata(input.metadata);

        modelId = computeModelId(msg.sender, input.name, input.version);
        Model storage m = _models[modelId];
        if (m.owner != address(0)) revert ModelAlreadyRegistered(modelId);

        m.modelId = modelId;
        m.owner = msg.sender;
        m.active = true;
        m.createdAt = uint64(block.timestamp);
        m.updatedAt = uint64(block.timestamp);
        m.name = input.name;
        m.framework = input.framework;
        m.version = input.version;
        m.cid = input.cid;
        m.sizeBytes = input.sizeBytes;
        m.inferencePrice = input.inferencePrice;
        m.metadata = input.metadata;
        _modelIds.push(modelId);
        _modelsByOwner[msg.sender].push(modelId);

        emit ModelRegistered(
            modelId,
            msg.sender,
            input.name,
            input.version,
            input.cid,
            input.inferencePrice,
            msg.value
        );
        _credit(treasury, msg.value);
    }

    // ---------------------------------------------------------------- owner actions

    /// @notice Change a model's version and content CID (owner only; the id does not change).
    function updateModel(bytes32 modelId, string calldata newVersion, string calldata newCid)
        external
        onlyModelOwner(modelId)
    {
        _checkString("version", newVersion, MAX_SHORT_STRING_LENGTH, true);
        _checkString("cid", newCid, MAX_CID_LENGTH, true);
        Model storage m = _models[modelId];
        m.version = newVersion;
        m.cid = newCid;
        m.updatedAt = uint64(block.timestamp);
        emit ModelUpdated(modelId, newVersion, newCid);
    }

    /// @notice Replace a model's metadata (owner only).
    function updateMetadata(bytes32 modelId, ModelMetadata calldata metadata)
        external
        onlyModelOwner(modelId)
    {
        _checkMetadata(metadata);
        Model storage m = _models[modelId];
        m.metadata = metadata;
        m.updatedAt = uint64(block.timestamp);
        emit ModelMetadataUpdated(modelId);
    }

    /// @notice Set the price in wei of one `requestInference` (owner only; 0 makes it public).
    function setInferencePrice(bytes32 modelId, uint256 newPrice) external onlyModelOwner(modelId) {
        _checkPrice(newPrice);
        Model storage m = _models[modelId];
        uint256 oldPrice = m.inferencePrice;
        m.inferencePrice = newPrice;
        m.updatedAt = uint64(block.timestamp);
        emit InferencePriceChanged(modelId, oldPrice, newPrice);
    }

    /// @notice Let `user` use a priced model (owner only).
    function grantAccess(bytes32 modelId, address user) external onlyModelOwner(modelId) {
        if (user == address(0)) revert ZeroAddress("user");
        if (_permitted[modelId][user]) revert AlreadyPermitted(modelId, user);
        _permitted[modelId][user] = true;
        emit AccessGranted(modelId, user);
    }

    /// @notice Withdraw `user`'s access to a model (owner only).
    function revokeAccess(bytes32 modelId, address user) external onlyModelOwner(modelId) {
        if (!_permitted[modelId][user]) revert NotPermittedUser(modelId, user);
        _permitted[modelId][user] = false;
        emit AccessRevoked(modelId, user);
    }

    /// @notice Make a deactivated model usable again (owner only).
    function activateModel(bytes32 modelId) external onlyModelOwner(modelId) {
        _setActive(modelId, true);
        emit ModelActivated(modelId);
    }

    /// @notice Stop a model from being used, sold or served (owner only).
    function deactivateModel(bytes32 modelId) external onlyModelOwner(modelId) {
        _setActive(modelId, false);
        emit ModelDeactivated(modelId);
    }

    // ---------------------------------------------------------------- usage

    /// @notice Pay exactly the model's inference price for one inference (credited to the owner).
    /// A priced model may be used only by its owner or permitted addresses; a free one by anyone.
    function requestInference(bytes32 modelId)
        external
        payable
        nonReentrant
        returns (uint256 inferenceNumber)
    {
        Model storage m = _existing(modelId);
        if (!m.active) revert ModelNotActive(modelId);
        uint256 price = m.inferencePrice;
        if (price > 0 && msg.sender != m.owner && !_permitted[modelId][msg.sender]) {
            revert NotPermitted(modelId, msg.sender);
        }
        if (msg.value != price) revert WrongPayment(price, msg.value);
        inferenceNumber = ++m.totalInferences;
        m.revenue += price;
        emit InferenceRequested(modelId, msg.sender, price, inferenceNumber);
        _credit(m.owner, price);
    }

    /// @inheritdoc IModelRegistry
    function recordUsage(bytes32 modelId, uint256 inferences, uint256 revenue)
        external
        onlyRole(USAGE_REPORTER_ROLE)
    {
        Model storage m = _existing(modelId);
        m.totalInferences += inferences;
        m.revenue += revenue;
        emit UsageRecorded(modelId, msg.sender, inferences, revenue);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Set the registration fee in wei (admin only; at most `MAX_REGISTRATION_FEE`).
    function setRegistrationFee(uint256 newFee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFee > MAX_REGISTRATION_FEE) {
            revert ValueTooLarge("registrationFee", newFee, MAX_REGISTRATION_FEE);
        }
        uint256 oldFee = registrationFee;
        registrationFee = newFee;
        emit RegistrationFeeChanged(oldFee, newFee);
    }

    /// @notice Set the address credited with future fees (admin only; past credits stay).
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress("treasury");
        _checkPayee(newTreasury);
        address oldTreasury = treasury;
        treasury = newTreasury;
        emit TreasuryChanged(oldTreasury, newTreasury);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IModelRegistry
    function modelExists(bytes32 modelId) public view returns (bool) {
        return _models[modelId].owner != address(0);
    }

    /// @inheritdoc IModelRegistry
    function isModelActive(bytes32 modelId) external view returns (bool) {
        return _models[modelId].active;
    }

    /// @inheritdoc IModelRegistry
    function modelOwner(bytes32 modelId) external view returns (address) {
        return _existing(modelId).owner;
    }

    /// @inheritdoc IModelRegistry
    function inferencePriceOf(bytes32 modelId) external view returns (uint256) {
        return _existing(modelId).inferencePrice;
    }

    /// @notice Everything stored about a model (reverts with `UnknownModel` for unknown ids).
    function getModel(bytes32 modelId) external view returns (Model memory) {
        return _existing(modelId);
    }

    /// @notice True when `user` may use `modelId` by `requestInference`: the model is free,
    /// or `user` is its owner or was granted access. False for unknown models.
    function hasAccess(bytes32 modelId, address user) external view returns (bool) {
        Model storage m = _models[modelId];
        if (m.owner == address(0)) return false;
        return m.inferencePrice == 0 || user == m.owner || _permitted[modelId][user];
    }

    /// @notice True when the owner granted `user` access to `modelId`.
    function isPermitted(bytes32 modelId, address user) external view returns (bool) {
        return _permitted[modelId][user];
    }

    /// @notice Number of registered models.
    function totalModels() external view returns (uint256) {
        return _modelIds.length;
    }

    /// @notice Number of models registered by `owner`.
    function modelCountOf(address owner) external view returns (uint256) {
        return _modelsByOwner[owner].length;
    }

    /// @notice Ids of registered models in registration order, `limit` (≤ 100) from `offset`.
    function getModelIds(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _page(_modelIds, offset, limit);
    }

    /// @notice Ids of `owner`'s models in registration order, `limit` (≤ 100) from `offset`.
    function getModelsByOwner(address owner, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory)
    {
        return _page(_modelsByOwner[owner], offset, limit);
    }

    /// @notice Full records of registered models, `limit` (≤ 100) from `offset`.
    function getModels(uint256 offset, uint256 limit) external view returns (Model[] memory out) {
        bytes32[] memory ids = _page(_modelIds, offset, limit);
        out = new Model[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            out[i] = _models[ids[i]];
        }
    }

    // ---------------------------------------------------------------- internals

    function _existing(bytes32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
    }

    function _requireOwner(bytes32 modelId) private view {
        if (_existing(modelId).owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _setActive(bytes32 modelId, bool active) private {
        Model storage m = _models[modelId];
        if (m.active == active) revert ModelStateUnchanged(modelId, active);
        m.active = active;
        m.updatedAt = uint64(block.timestamp);
    }

    function _checkPrice(uint256 price) private pure {
        if (price > MAX_INFERENCE_PRICE) {
            revert ValueTooLarge("inferencePrice", price, MAX_INFERENCE_PRICE);
        }
    }

    function _checkString(
        string memory field,
        string calldata value,
        uint256 maxLength,
        bool required
    ) private pure {
        uint256 length = bytes(value).length;
        if (required && length == 0) revert EmptyField(field);
        if (length > maxLength) revert StringTooLong(field, length, maxLength);
    }

    function _checkList(string memory field, string[] calldata items, uint256 maxCount)
        private
        pure
    {
        if (items.length > maxCount) revert TooManyItems(field, items.length, maxCount);
        for (uint256 i = 0; i < items.length; ++i) {
            _checkString(field, items[i], MAX_ITEM_LENGTH, true);
        }
    }

    function _checkMetadata(ModelMetadata calldata metadata) private pure {
        _checkString("description", metadata.description, MAX_DESCRIPTION_LENGTH, false);
        if (metadata.parameters > MAX_PARAMETERS) {
            revert ValueTooLarge("parameters", metadata.parameters, MAX_PARAMETERS);
        }
        _checkString("license", metadata.license, MAX_SHORT_STRING_LENGTH, false);
        _checkList("inputShape", metadata.inputShape, MAX_SHAPE_ITEMS);
        _checkList("outputShape", metadata.outputShape, MAX_SHAPE_ITEMS);
        _checkList("tags", metadata.tags, MAX_TAGS);
    }

    function _page(bytes32[] storage all, uint256 offset, uint256 limit)
        private
        view
        returns (bytes32[] memory out)
    {
        uint256 n = all.length;
        if (offset >= n) return out;
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        uint256 end = offset + limit > n ? n : offset + limit;
        out = new bytes32[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            out[i - offset] = all[i];
        }
    }
}
