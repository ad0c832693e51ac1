// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PullPayments} from "./lib/PullPayments.sol";

/// @title InferenceRouter: staked inference providers, escrowed requests, routed by score
/// @notice Providers stake SALT and list the models they serve at a minimum price. A requester
/// escrows `maxPrice`; the router assigns the best provider for the model at once. The provider
/// completes with the output hash and is paid its price less the platform fee; the requester gets
/// back the difference between `maxPrice` and the price. A failed or timed-out request is refunded
/// in full.
/// @dev Money. The contract's balance always equals `totalStaked + totalEscrowed + totalCredits`.
/// Payouts to third parties (provider, treasury, the requester on completion or failure) are
/// pull-payment credits; money returned to the caller itself (excess value, a cancelled request,
/// a stake withdrawal) is sent last in a `nonReentrant` call.
///
/// Pricing. The price of a request is the assigned provider's `minPrice` when the request is
/// made (snapshotted, so a later price change never affects it), never more than `maxPrice`. The
/// platform fee is `price * feeBps / 10_000` rounded down, with `feeBps` snapshotted at request
/// time too; the rounding dust goes to the provider (`price - fee`). Model owners earn nothing
/// from the router: it pays for compute, not for model access (access is sold by the
/// marketplace / access control); each completed request is reported to the registry as one use
/// with zero owner revenue.
///
/// Routing. Among the model's providers (at most `MAX_PROVIDERS_PER_MODEL`) the eligible ones
/// are active, staked at least `minProviderStake`, below `maxConcurrent` active requests and
/// priced at or below `maxPrice`. Each gets a score in [0, 1_000_000]:
/// `40 * priceScore + 30 * loadScore + 30 * successScore`, each sub-score in basis points:
/// `priceScore = 10_000 - 10_000 * minPrice / maxPrice` (10_000 when `maxPrice` is 0),
/// `loadScore = 10_000 - 10_000 * activeRequests / maxConcurrent`,
/// `successScore = successRateBps` (10_000 for a provider with no finished request).
/// The highest score wins; ties go to the provider listed first for the model.
///
/// Model lists. A provider's `minPrice` is at most `MAX_PRICE`. Only active providers are
/// listed: deactivating takes a provider off its models' lists (reactivating lists it again) and
/// withdrawing the whole stake forgets its models. When a model's list is full, a newcomer
/// (registering or updating) takes the slot of the first ineligible entry (inactive, or staked
/// below a since-raised `minProviderStake`), or else of the dearest entry if the newcomer's
/// `minPrice` is strictly lower (`ProviderEvicted`); otherwise it gets `TooManyProviders`. So
/// squatting a model's slots at a prohibitive price cannot block it. An evicted provider keeps
/// serving the requests already assigned to it (requests are bound to its address) and its stake
/// stays locked until they finish; it just gets no new requests for that model.
///
/// Access. Requesting needs `registry.hasAccess(modelId, requester)` (free model, owner, or
/// granted by the owner), so the router never bypasses a priced model's access rules.
///
/// Request state machine: `Assigned` -> `Completed` (provider), `Failed` (provider reports failure;
/// full refund) or `Cancelled` (requester, once the request's `cancellableAt` has passed: request
/// time plus the `requestTimeout` in force then, snapshotted like `feeBps`; full refund, counted
/// as a failure of the provider). A request is assigned when it is made
/// (or not made at all: `NoProviderAvailable`), so there is no pending state.
///
/// Stake. A provider's stake is locked while it has assigned requests. What remains after a
/// withdrawal is zero (the provider leaves every model list and is deactivated) or at least
/// `minProviderStake`, so every slot in a model's provider list (at most
/// `MAX_PROVIDERS_PER_MODEL`) is backed by a real stake.
///
/// Trust. The router records the output hash the provider reports; it does not verify it
/// (ComputeMarket's commit-reveal and disputes cover verifiable jobs). Stakes are not slashed
/// here; failures and timeouts lower the provider's success rate and thus its routing score.
contract InferenceRouter is AccessControl, PullPayments {
    // ---------------------------------------------------------------- constants

    /// @notice Basis-point denominator (10_000 = 100 %).
    uint256 public constant BPS = 10_000;
    /// @notice Highest platform fee the admin may set (10 %).
    uint256 public constant MAX_PLATFORM_FEE_BPS = 1_000;
    /// @notice Most providers that may serve one model.
    uint256 public constant MAX_PROVIDERS_PER_MODEL = 32;
    /// @notice Most models one provider may serve.
    uint256 public constant MAX_MODELS_PER_PROVIDER = 16;
    /// @notice Longest endpoint string, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    /// @notice Most concurrent requests a provider may accept.
    uint256 public constant MAX_CONCURRENT_LIMIT = 1_000;
    /// @notice Shortest request timeout the admin may set.
    uint256 public constant MIN_REQUEST_TIMEOUT = 1 minutes;
    /// @notice Longest request timeout the admin may set.
    uint256 public constant MAX_REQUEST_TIMEOUT = 7 days;
    /// @notice Most results a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;
    /// @notice Highest minimum price a provider may ask per request.
    uint256 public constant MAX_PRICE = 1_000_000 ether;
    /// @notice Longest failure reason, in bytes.
    uint256 public constant MAX_REASON_LENGTH = 256;

    // ---------------------------------------------------------------- types

    /// @notice Lifecycle of a request (`None` = unknown id).
    enum RequestStatus {
        None,
        Assigned,
        Completed,
        Failed,
        Cancelled
    }

    /// @notice What a provider offers (registration and updates).
    struct ProviderConfig {
        string endpoint;
        uint256 minPrice;
        uint256 maxConcurrent;
        bytes32[] models;
    }

    /// @notice A provider as stored.
    struct Provider {
        string endpoint;
        uint256 stake;
        uint256 minPrice;
        uint256 maxConcurrent;
        uint256 activeRequests;
        uint256 completed;
        uint256 failed;
        uint256 earned;
        uint64 registeredAt;
        bool registered;
        bool active;
        bytes32[] models;
    }

    /// @notice A request as stored.
    struct Request {
        address requester;
        uint64 createdAt;
        uint16 feeBps;
        RequestStatus status;
        address provider;
        uint64 finishedAt;
        bytes32 modelId;
        bytes32 inputHash;
        bytes32 outputHash;
        uint256 maxPrice;
        uint256 price;
        uint64 cancellableAt;
    }

    // ---------------------------------------------------------------- state

    /// @notice The model registry (models must exist there; usage is reported to it).
    IModelRegistry public immutable registry;
    /// @notice Receives the platform fee.
    address public treasury;
    /// @notice Stake a provider needs to be registered and routed to.
    uint256 public minProviderStake = 100 ether;
    /// @notice Platform fee on each completed request's price, in basis points.
    uint256 public platformFeeBps = 250;
    /// @notice Seconds after which the requester may cancel an unfinished request.
    uint256 public requestTimeout = 1 hours;
    /// @notice Sum of all providers' stakes.
    uint256 public totalStaked;
    /// @notice Sum of the `maxPrice` of all assigned (unfinished) requests.
    uint256 public totalEscrowed;
    /// @notice Number of requests made (ids run from 1 to `requestCount`).
    uint256 public requestCount;

    mapping(address provider => Provider) private _providers;
    address[] private _providerList;
    mapping(bytes32 modelId => address[]) private _modelProviders;
    /// @dev 1-based position of a provider in `_modelProviders[modelId]` (0 = absent).
    mapping(bytes32 modelId => mapping(address provider => uint256)) private _modelProviderPos;
    mapping(uint256 requestId => Request) private _requests;
    mapping(address requester => uint256[]) private _requestsOf;

    // ---------------------------------------------------------------- events

    /// @notice `provider` registered with `stake` wei at `minPrice` for `models`.
    event ProviderRegistered(
        address indexed provider, uint256 stake, string endpoint, uint256 minPrice, uint256 maxConcurrent, bytes32[] models
    );
    /// @notice `provider` changed its endpoint, price, capacity or models.
    event ProviderUpdated(
        address indexed provider, string endpoint, uint256 minPrice, uint256 maxConcurrent, bytes32[] models
    );
    /// @notice `provider` was activated (`active`) or deactivated.
    event ProviderStatusChanged(address indexed provider, bool active);
    /// @notice `provider` added `amount` wei of stake (now `newStake`).
    event StakeAdded(address indexed provider, uint256 amount, uint256 newStake);
    /// @notice `provider` withdrew `amount` wei of stake (now `newStake`).
    event StakeWithdrawn(address indexed provider, uint256 amount, uint256 newStake);
    /// @notice Request `requestId` for `modelId` escrowed `maxPrice` and was assigned to `provider` at `price`.
    event InferenceRequested(
        uint256 indexed requestId,
        address indexed requester,
        bytes32 indexed modelId,
        address provider,
        bytes32 inputHash,
        uint256 maxPrice,
        uint256 price
    );
    /// @notice `provider` completed `requestId`: it earned `providerAmount`, the treasury `fee`, the requester got `refund` back.
    event InferenceCompleted(
        uint256 indexed requestId,
        address indexed provider,
        bytes32 outputHash,
        uint256 price,
        uint256 fee,
        uint256 providerAmount,
        uint256 refund
    );
    /// @notice `provider` reported that it could not serve `requestId`; `refund` went back to the requester.
    event InferenceFailed(uint256 indexed requestId, address indexed provider, string reason, uint256 refund);
    /// @notice `provider` withdrew its whole stake and left every model (it stays registered, inactive).
    event ProviderExited(address indexed provider);
    /// @notice The requester cancelled `requestId` after the timeout and got `refund` back.
    event InferenceCancelled(uint256 indexed requestId, address indexed requester, uint256 refund);
    /// @notice The minimum provider stake changed.
    event MinProviderStakeUpdated(uint256 oldStake, uint256 newStake);
    /// @notice The platform fee changed.
    event PlatformFeeUpdated(uint256 oldFeeBps, uint256 newFeeBps);
    /// @notice The treasury changed.
    event TreasuryUpdated(address oldTreasury, address newTreasury);
    /// @notice The request timeout changed.
    event RequestTimeoutUpdated(uint256 oldTimeout, uint256 newTimeout);
    /// @notice `evicted` lost its slot in `modelId`'s full provider list to `newcomer`, because it
    /// was ineligible (`ineligible`: inactive or under-staked) or the most expensive provider.
    /// It keeps serving the requests already assigned to it.
    event ProviderEvicted(bytes32 indexed modelId, address indexed evicted, address indexed newcomer, bool ineligible);
    /// @notice `provider` stopped serving `modelId` (it deactivated or withdrew its whole stake).
    event ProviderDelisted(bytes32 indexed modelId, address indexed provider);

    // ---------------------------------------------------------------- errors

    /// @notice The address given as `what` is the zero address; pass a real account.
    error ZeroAddress(string what);
    /// @notice This account is already a registered provider; use updateProvider instead.
    error AlreadyRegistered(address provider);
    /// @notice This account is not a registered provider; call registerProvider first.
    error NotProvider(address account);
    /// @notice The stake is below the minimum; send at least `required` wei.
    error InsufficientStake(uint256 required, uint256 sent);
    /// @notice The endpoint must be 1 to `maxLength` bytes long.
    error InvalidEndpoint(uint256 length, uint256 maxLength);
    /// @notice maxConcurrent must be between 1 and `maxAllowed`.
    error InvalidMaxConcurrent(uint256 value, uint256 maxAllowed);
    /// @notice A provider must list between 1 and `maxAllowed` models.
    error InvalidModelCount(uint256 count, uint256 maxAllowed);
    /// @notice This model is not registered in the ModelRegistry; check the model id.
    error UnknownModel(bytes32 modelId);
    /// @notice This model is deactivated in the ModelRegistry; it cannot be requested now.
    error ModelInactive(bytes32 modelId);
    /// @notice The model appears twice in the list; list each model once.
    error DuplicateModel(bytes32 modelId);
    /// @notice This model already has the most providers allowed (`maxProviders`), all eligible and
    /// none dearer than you; ask a lower minPrice than the dearest listed provider or pick another model.
    error TooManyProviders(bytes32 modelId, uint256 maxProviders);
    /// @notice The minimum price may be at most `max` wei; ask less.
    error PriceTooHigh(uint256 price, uint256 max);
    /// @notice The failure reason may be at most `max` bytes long; shorten it.
    error ReasonTooLong(uint256 length, uint256 max);
    /// @notice You may not use this priced model; ask its owner for access in the ModelRegistry.
    error NoModelAccess(bytes32 modelId, address user);
    /// @notice The input hash must not be zero; pass the hash of the request input.
    error ZeroInputHash();
    /// @notice The output hash must not be zero; pass the hash of the inference output.
    error ZeroOutputHash();
    /// @notice Not enough value for the escrow; send at least `required` wei.
    error InsufficientPayment(uint256 required, uint256 sent);
    /// @notice No active provider with free capacity serves this model at or below `maxPrice`; raise maxPrice or retry later.
    error NoProviderAvailable(bytes32 modelId, uint256 maxPrice);
    /// @notice There is no request with this id.
    error UnknownRequest(uint256 requestId);
    /// @notice The request is not in the Assigned state, so it cannot change now.
    error RequestNotAssigned(uint256 requestId, RequestStatus status);
    /// @notice Only the provider assigned to this request may do this.
    error NotAssignedProvider(uint256 requestId, address provider);
    /// @notice Only the requester may cancel this request.
    error NotRequester(uint256 requestId, address requester);
    /// @notice The request may be cancelled only after `cancellableAt` (unix time).
    error RequestNotTimedOut(uint256 requestId, uint256 cancellableAt);
    /// @notice The stake is locked while the provider has `activeRequests` unfinished requests.
    error StakeLocked(address provider, uint256 activeRequests);
    /// @notice Cannot withdraw more than the stake; at most `stake` wei.
    error WithdrawTooLarge(uint256 requested, uint256 stake);
    /// @notice The stake left (`remaining`) would be below the minimum `minimum`; withdraw everything or less.
    error StakeBelowMinimum(uint256 remaining, uint256 minimum);
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice The platform fee may be at most `maxBps` basis points.
    error PlatformFeeTooHigh(uint256 bps, uint256 maxBps);
    /// @notice The minimum stake must be greater than zero.
    error InvalidMinStake();
    /// @notice The timeout must be between `min` and `max` seconds.
    error InvalidTimeout(uint256 timeout, uint256 min, uint256 max);
    /// @notice The provider is already in the requested state.
    error StatusUnchanged(bool active);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy with `admin` holding the admin role, `registry` for models and `treasury` for fees.
    constructor(address admin, address registry_, address treasury_) {
        if (admin == address(0)) revert ZeroAddress("admin");
        if (registry_ == address(0)) revert ZeroAddress("registry");
        _checkPayee(treasury_);
        registry = IModelRegistry(registry_);
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- providers

    /// @notice Register as a provider, staking all of `msg.value` (at least `minProviderStake`).
    function registerProvider(ProviderConfig calldata config) external payable nonReentrant {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value < minProviderStake) revert InsufficientStake(minProviderStake, msg.value);
        _checkConfig(config);
        p.registered = true;
        p.active = true;
        p.registeredAt = uint64(block.timestamp);
        p.stake = msg.value;
        totalStaked += msg.value;
        _providerList.push(msg.sender);
        _applyConfig(p, config);
        emit ProviderRegistered(
            msg.sender, msg.value, config.endpoint, config.minPrice, config.maxConcurrent, config.models
        );
    }

    /// @notice Change your endpoint, minimum price, capacity and model list (needs a stake of at
    /// least `minProviderStake`; assigned requests keep the price they were made at). An inactive
    /// provider is activated again. On a full model list you take the slot of an ineligible
    /// provider, or else of the dearest one if you are strictly cheaper.
    function updateProvider(ProviderConfig calldata config) external nonReentrant {
        Provider storage p = _requireProvider(msg.sender);
        if (p.stake < minProviderStake) revert InsufficientStake(minProviderStake, p.stake);
        _checkConfig(config);
        _clearModels(p, false);
        if (!p.active) {
            p.active = true;
            emit ProviderStatusChanged(msg.sender, true);
        }
        _applyConfig(p, config);
        emit ProviderUpdated(msg.sender, config.endpoint, config.minPrice, config.maxConcurrent, config.models);
    }

    /// @notice Start (`true`, needs at least `minProviderStake`) or stop (`false`) receiving new
    /// requests. Stopping takes you off your models' lists, freeing the slots (your model list is
    /// kept); starting lists you again on each of them, by the same rules as registering (a full
    /// list needs an evictable entry: `TooManyProviders` otherwise; drop that model with
    /// updateProvider). Assigned requests are unaffected.
    function setProviderActive(bool active) external {
        Provider storage p = _requireProvider(msg.sender);
        if (p.active == active) revert StatusUnchanged(active);
        if (active && p.stake < minProviderStake) revert InsufficientStake(minProviderStake, p.stake);
        if (active) {
            bytes32[] storage models = p.models;
            for (uint256 i; i < models.length; ++i) {
                _list(models[i], p.minPrice);
            }
        } else {
            _delistAll(p);
        }
        p.active = active;
        emit ProviderStatusChanged(msg.sender, active);
    }

    /// @notice Add `msg.value` wei to your stake.
    function addStake() external payable nonReentrant {
        Provider storage p = _requireProvider(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        p.stake += msg.value;
        totalStaked += msg.value;
        emit StakeAdded(msg.sender, msg.value, p.stake);
    }

    /// @notice Withdraw `amount` wei of stake (only while you have no unfinished request). What
    /// remains must be zero or at least `minProviderStake`; withdrawing everything takes you off
    /// every model and deactivates you (add stake and call updateProvider to come back).
    function withdrawStake(uint256 amount) external nonReentrant {
        Provider storage p = _requireProvider(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (p.activeRequests != 0) revert StakeLocked(msg.sender, p.activeRequests);
        if (amount > p.stake) revert WithdrawTooLarge(amount, p.stake);
        uint256 remaining = p.stake - amount;
        if (remaining != 0 && remaining < minProviderStake) {
            revert StakeBelowMinimum(remaining, minProviderStake);
        }
        p.stake = remaining;
        totalStaked -= amount;
        emit StakeWithdrawn(msg.sender, amount, remaining);
        if (remaining == 0) {
            _clearModels(p, true);
            p.active = false;
            emit ProviderExited(msg.sender);
        }
        _refundSender(amount);
    }

    // ---------------------------------------------------------------- requests

    /// @notice Request an inference of `modelId` on the input whose hash is `inputHash`, paying at
    /// most `maxPrice`. Escrows `maxPrice` and refunds any excess value; assigns a provider at once.
    function requestInference(bytes32 modelId, bytes32 inputHash, uint256 maxPrice)
        external
        payable
        nonReentrant
        returns (uint256 requestId)
    {
        if (inputHash == bytes32(0)) revert ZeroInputHash();
        if (msg.value < maxPrice) revert InsufficientPayment(maxPrice, msg.value);
        if (!registry.isModelActive(modelId)) {
            if (!registry.modelExists(modelId)) revert UnknownModel(modelId);
            revert ModelInactive(modelId);
        }
        if (!registry.hasAccess(modelId, msg.sender)) revert NoModelAccess(modelId, msg.sender);
        (address chosen,) = _select(modelId, maxPrice);
        if (chosen == address(0)) revert NoProviderAvailable(modelId, maxPrice);
        Provider storage p = _providers[chosen];

        requestId = ++requestCount;
        Request storage r = _requests[requestId];
        r.requester = msg.sender;
        r.createdAt = uint64(block.timestamp);
        r.feeBps = uint16(platformFeeBps);
        r.status = RequestStatus.Assigned;
        r.provider = chosen;
        r.modelId = modelId;
        r.inputHash = inputHash;
        r.maxPrice = maxPrice;
        r.price = p.minPrice;
        r.cancellableAt = uint64(block.timestamp + requestTimeout);
        p.activeRequests += 1;
        totalEscrowed += maxPrice;
        _requestsOf[msg.sender].push(requestId);
        emit InferenceRequested(requestId, msg.sender, modelId, chosen, inputHash, maxPrice, p.minPrice);
        _refundSender(msg.value - maxPrice);
    }

    /// @notice As the assigned provider, deliver the output of `requestId` (its hash) and get paid.
    function completeInference(uint256 requestId, bytes32 outputHash) external nonReentrant {
        Request storage r = _assignedRequest(requestId);
        if (outputHash == bytes32(0)) revert ZeroOutputHash();
        Provider storage p = _providers[r.provider];
        uint256 price = r.price;
        uint256 fee = (price * r.feeBps) / BPS;
        uint256 providerAmount = price - fee;
        uint256 refund = r.maxPrice - price;

        r.status = RequestStatus.Completed;
        r.outputHash = outputHash;
        r.finishedAt = uint64(block.timestamp);
        p.activeRequests -= 1;
        p.completed += 1;
        p.earned += providerAmount;
        totalEscrowed -= r.maxPrice;

        _credit(treasury, fee);
        _credit(msg.sender, providerAmount);
        _credit(r.requester, refund);
        emit InferenceCompleted(requestId, msg.sender, outputHash, price, fee, providerAmount, refund);
        registry.recordUsage(r.modelId, 1, 0);
    }

    /// @notice As the assigned provider, give up on `requestId`; the requester is refunded in full
    /// and the failure lowers your success rate.
    function failInference(uint256 requestId, string calldata reason) external nonReentrant {
        Request storage r = _assignedRequest(requestId);
        if (bytes(reason).length > MAX_REASON_LENGTH) revert ReasonTooLong(bytes(reason).length, MAX_REASON_LENGTH);
        uint256 refund = r.maxPrice;
        r.status = RequestStatus.Failed;
        r.finishedAt = uint64(block.timestamp);
        Provider storage p = _providers[msg.sender];
        p.activeRequests -= 1;
        p.failed += 1;
        totalEscrowed -= refund;
        _credit(r.requester, refund);
        emit InferenceFailed(requestId, msg.sender, reason, refund);
    }

    /// @notice As the requester, cancel `requestId` once its `cancellableAt` (request time plus the
    /// `requestTimeout` in force then) has passed without a result and get the escrow back now; it
    /// counts as a failure of the provider.
    function cancelRequest(uint256 requestId) external nonReentrant {
        Request storage r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(requestId, r.requester);
        if (r.status != RequestStatus.Assigned) revert RequestNotAssigned(requestId, r.status);
        uint256 cancellableAt = r.cancellableAt;
        if (block.timestamp < cancellableAt) revert RequestNotTimedOut(requestId, cancellableAt);
        uint256 refund = r.maxPrice;
        r.status = RequestStatus.Cancelled;
        r.finishedAt = uint64(block.timestamp);
        Provider storage p = _providers[r.provider];
        p.activeRequests -= 1;
        p.failed += 1;
        totalEscrowed -= refund;
        emit InferenceCancelled(requestId, msg.sender, refund);
        _refundSender(refund);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Admin: set the stake a provider needs (applies to routing at once).
    function setMinProviderStake(uint256 newStake) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newStake == 0) revert InvalidMinStake();
        emit MinProviderStakeUpdated(minProviderStake, newStake);
        minProviderStake = newStake;
    }

    /// @notice Admin: set the platform fee for new requests (at most `MAX_PLATFORM_FEE_BPS`).
    function setPlatformFee(uint256 newFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFeeBps > MAX_PLATFORM_FEE_BPS) revert PlatformFeeTooHigh(newFeeBps, MAX_PLATFORM_FEE_BPS);
        emit PlatformFeeUpdated(platformFeeBps, newFeeBps);
        platformFeeBps = newFeeBps;
    }

    /// @notice Admin: set the account that receives platform fees from now on.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkPayee(newTreasury);
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice Admin: set how long a requester waits before cancelling a request made from now on
    /// (requests already made keep their `cancellableAt`).
    function setRequestTimeout(uint256 newTimeout) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTimeout < MIN_REQUEST_TIMEOUT || newTimeout > MAX_REQUEST_TIMEOUT) {
            revert InvalidTimeout(newTimeout, MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT);
        }
        emit RequestTimeoutUpdated(requestTimeout, newTimeout);
        requestTimeout = newTimeout;
    }

    // ---------------------------------------------------------------- views

    /// @notice A provider's record (empty when not registered).
    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice A provider's success rate in basis points (10_000 before any finished request).
    function successRateBps(address provider) public view returns (uint256) {
        Provider storage p = _providers[provider];
        uint256 total = p.completed + p.failed;
        return total == 0 ? BPS : (p.completed * BPS) / total;
    }

    /// @notice The routing score of `provider` for a request capped at `maxPrice` (0 when ineligible).
    function providerScore(address provider, uint256 maxPrice) public view returns (uint256) {
        Provider storage p = _providers[provider];
        if (!p.active || p.stake < minProviderStake || p.activeRequests >= p.maxConcurrent) return 0;
        if (p.minPrice > maxPrice) return 0;
        uint256 priceScore = maxPrice == 0 ? BPS : BPS - (p.minPrice * BPS) / maxPrice;
        uint256 loadScore = BPS - (p.activeRequests * BPS) / p.maxConcurrent;
        // +1 so that an eligible provider never scores 0, which means "ineligible".
        return 40 * priceScore + 30 * loadScore + 30 * successRateBps(provider) + 1;
    }

    /// @notice The provider a request for `modelId` at `maxPrice` would be assigned now, and its
    /// price (zero address when none is available).
    function previewProvider(bytes32 modelId, uint256 maxPrice) external view returns (address, uint256) {
        (address chosen,) = _select(modelId, maxPrice);
        return (chosen, chosen == address(0) ? 0 : _providers[chosen].minPrice);
    }

    /// @notice The models `provider` serves.
    function getProviderModels(address provider) external view returns (bytes32[] memory) {
        return _providers[provider].models;
    }

    /// @notice Number of providers that ever registered.
    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    /// @notice Registered providers, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getProviders(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return _page(_providerList, offset, limit);
    }

    /// @notice Number of providers serving `modelId`.
    function modelProviderCount(bytes32 modelId) external view returns (uint256) {
        return _modelProviders[modelId].length;
    }

    /// @notice Providers serving `modelId`, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getModelProviders(bytes32 modelId, uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory)
    {
        return _page(_modelProviders[modelId], offset, limit);
    }

    /// @notice A request's record (status `None` for an unknown id).
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    /// @notice Number of requests `requester` has made.
    function requestCountOf(address requester) external view returns (uint256) {
        return _requestsOf[requester].length;
    }

    /// @notice Ids of `requester`'s requests, `limit` (at most `MAX_PAGE_SIZE`) from `offset`.
    function getUserRequests(address requester, uint256 offset, uint256 limit)
        external
        view
        returns (uint256[] memory ids)
    {
        uint256[] storage all = _requestsOf[requester];
        (uint256 start, uint256 n) = _window(all.length, offset, limit);
        ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            ids[i] = all[start + i];
        }
    }

    // ---------------------------------------------------------------- internals

    function _requireProvider(address account) private view returns (Provider storage p) {
        p = _providers[account];
        if (!p.registered) revert NotProvider(account);
    }

    function _assignedRequest(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.provider != msg.sender) revert NotAssignedProvider(requestId, r.provider);
        if (r.status != RequestStatus.Assigned) revert RequestNotAssigned(requestId, r.status);
    }

    function _checkConfig(ProviderConfig calldata config) private pure {
        if (config.minPrice > MAX_PRICE) revert PriceTooHigh(config.minPrice, MAX_PRICE);
        uint256 len = bytes(config.endpoint).length;
        if (len == 0 || len > MAX_ENDPOINT_LENGTH) revert InvalidEndpoint(len, MAX_ENDPOINT_LENGTH);
        if (config.maxConcurrent == 0 || config.maxConcurrent > MAX_CONCURRENT_LIMIT) {
            revert InvalidMaxConcurrent(config.maxConcurrent, MAX_CONCURRENT_LIMIT);
        }
        uint256 n = config.models.length;
        if (n == 0 || n > MAX_MODELS_PER_PROVIDER) revert InvalidModelCount(n, MAX_MODELS_PER_PROVIDER);
    }

    /// @dev Store the config and add the provider to each model's list (the old list is empty).
    function _applyConfig(Provider storage p, ProviderConfig calldata config) private {
        p.endpoint = config.endpoint;
        p.minPrice = config.minPrice;
        p.maxConcurrent = config.maxConcurrent;
        for (uint256 i; i < config.models.length; ++i) {
            bytes32 modelId = config.models[i];
            if (!registry.modelExists(modelId)) revert UnknownModel(modelId);
            _list(modelId, config.minPrice);
            p.models.push(modelId);
        }
    }

    /// @dev Add the caller to `modelId`'s list, evicting someone if it is full.
    function _list(bytes32 modelId, uint256 price) private {
        if (_modelProviderPos[modelId][msg.sender] != 0) revert DuplicateModel(modelId);
        address[] storage list = _modelProviders[modelId];
        if (list.length >= MAX_PROVIDERS_PER_MODEL) _evictFor(modelId, list, price);
        list.push(msg.sender);
        _modelProviderPos[modelId][msg.sender] = list.length;
    }

    /// @dev Take the caller (active, so listed) off every model list it is on, keeping `p.models`.
    function _delistAll(Provider storage p) private {
        bytes32[] storage models = p.models;
        for (uint256 i; i < models.length; ++i) {
            _removeFromModel(models[i], msg.sender);
            emit ProviderDelisted(models[i], msg.sender);
        }
    }

    /// @dev Forget the caller's models, taking it off their lists if it is active (listed).
    function _clearModels(Provider storage p, bool emitDelisted) private {
        bytes32[] storage old = p.models;
        bool listed = p.active;
        for (uint256 i = old.length; i > 0; --i) {
            if (listed) _removeFromModel(old[i - 1], msg.sender);
            if (emitDelisted) emit ProviderDelisted(old[i - 1], msg.sender);
            old.pop();
        }
    }

    /// @dev `modelId`'s list is full: free a slot for the caller (asking `newPrice`) by evicting
    /// the first ineligible provider (inactive or staked below the minimum), or else the dearest
    /// one (first listed on ties) when the caller is strictly cheaper; revert otherwise. The
    /// evicted provider keeps its assigned requests (they are bound to its address, not the list).
    function _evictFor(bytes32 modelId, address[] storage list, uint256 newPrice) private {
        uint256 n = list.length;
        address victim;
        uint256 highest;
        bool ineligible;
        for (uint256 i; i < n; ++i) {
            Provider storage q = _providers[list[i]];
            if (!q.active || q.stake < minProviderStake) {
                victim = list[i];
                ineligible = true;
                break;
            }
            if (victim == address(0) || q.minPrice > highest) {
                victim = list[i];
                highest = q.minPrice;
            }
        }
        if (!ineligible && newPrice >= highest) revert TooManyProviders(modelId, MAX_PROVIDERS_PER_MODEL);
        _removeFromModel(modelId, victim);
        bytes32[] storage models = _providers[victim].models;
        uint256 m = models.length;
        for (uint256 j; j < m; ++j) {
            if (models[j] == modelId) {
                models[j] = models[m - 1];
                models.pop();
                break;
            }
        }
        emit ProviderEvicted(modelId, victim, msg.sender, ineligible);
    }

    function _removeFromModel(bytes32 modelId, address provider) private {
        address[] storage list = _modelProviders[modelId];
        uint256 pos = _modelProviderPos[modelId][provider];
        uint256 last = list.length;
        if (pos != last) {
            address moved = list[last - 1];
            list[pos - 1] = moved;
            _modelProviderPos[modelId][moved] = pos;
        }
        list.pop();
        delete _modelProviderPos[modelId][provider];
    }

    function _select(bytes32 modelId, uint256 maxPrice) private view returns (address best, uint256 bestScore) {
        address[] storage list = _modelProviders[modelId];
        uint256 n = list.length;
        for (uint256 i; i < n; ++i) {
            uint256 score = providerScore(list[i], maxPrice);
            if (score > bestScore) {
                bestScore = score;
                best = list[i];
            }
        }
    }

    function _window(uint256 length, uint256 offset, uint256 limit) private pure returns (uint256 start, uint256 n) {
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        if (offset >= length) return (length, 0);
        start = offset;
        n = length - offset;
        if (n > limit) n = limit;
    }

    function _page(address[] storage all, uint256 offset, uint256 limit) private view returns (address[] memory out) {
        (uint256 start, uint256 n) = _window(all.length, offset, limit);
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = all[start + i];
        }
    }
}
