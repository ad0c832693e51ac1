// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {PullPayments} from "./lib/PullPayments.sol";

/// @title ModelMarketplace: sell access to registered models
/// @notice The owner of an active model in the ModelRegistry lists it with a base price per
/// unit of access, an optional bulk price from a minimum quantity, a category and a metadata
/// URI. Buyers call `purchaseAccess(modelId, quantity)`; exactly 2.5 % (250 bps) of the total
/// goes to the treasury and the rest to the model's owner, both as pull-payment credits, and
/// any excess payment is returned to the buyer. Anyone may review a model once; reviews by
/// buyers are marked verified and only verified ratings count towards averages.
/// @dev Design decisions:
/// - Fee = total × 250 / 10000 rounded down; the owner receives total − fee, so rounding dust
///   goes to the model owner (e.g. a 39 wei sale: fee 0, owner 39).
/// - The seller is the registry's current owner of the model, read at every purchase.
/// - Each sale is reported to the registry (`recordUsage(modelId, quantity, ownerShare)`), so
///   this contract needs the registry's USAGE_REPORTER_ROLE.
/// - Units of access sold here are recorded in `purchasedUnits`: an on-chain record of what
///   each buyer bought, for off-chain serving services and future contracts to honour. No
///   contract of this system reads it today, and this contract does not consume units.
/// - `purchaseAccess` charges the price current when it executes; `msg.value` is the buyer's
///   ceiling (any excess is refunded). A seller could raise the price with `updatePricing`
///   before a buyer's transaction lands, up to that ceiling, so clients should send exactly
///   the `quote` total they showed the buyer.
/// - Views are paged (`limit` ≤ 100); `getTopRatedModels` sorts one page of listings only, never
///   the whole set, so clients merge pages themselves.
/// - Category and featured indexes include inactive listings; every view returns the `active`
///   flag. Removing from an index swaps the last entry in, so index order is not stable.
contract ModelMarketplace is AccessControl, PullPayments {
    // ---------------------------------------------------------------- constants

    /// @notice Platform fee in basis points (2.5 %).
    uint256 public constant MARKETPLACE_FEE_BPS = 250;
    /// @notice Basis-point denominator.
    uint256 public constant BPS_DENOMINATOR = 10_000;
    /// @notice Highest unit price, in wei.
    uint256 public constant MAX_PRICE = 1_000_000 ether;
    /// @notice Largest quantity per purchase (and largest bulk threshold).
    uint256 public constant MAX_QUANTITY = 1_000_000;
    /// @notice Highest category number (0 language, 1 vision, 2 audio, 3 multimodal, 4 code,
    /// 5 embedding, 6 image generation, 7 reinforcement learning, 8 time series, 9 tabular,
    /// 10 other).
    uint8 public constant MAX_CATEGORY = 10;
    /// @notice Longest metadata URI, in bytes.
    uint256 public constant MAX_URI_LENGTH = 256;
    /// @notice Longest review comment, in bytes.
    uint256 public constant MAX_COMMENT_LENGTH = 500;
    /// @notice Highest featuring fee the admin may set.
    uint256 public constant MAX_FEATURED_FEE = 100 ether;
    /// @notice Most entries a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;

    // ---------------------------------------------------------------- types

    /// @notice What `listModel` needs.
    struct ListingInput {
        bytes32 modelId;
        uint256 basePrice;
        uint256 discountPrice;
        uint256 minimumBulkSize;
        uint8 category;
        string metadataURI;
    }

    /// @notice A listing with its sales and rating counters.
    struct Listing {
        bytes32 modelId;
        address seller;
        uint8 category;
        bool featured;
        bool active;
        uint64 listedAt;
        uint64 lastSaleAt;
        uint256 basePrice;
        uint256 discountPrice;
        uint256 minimumBulkSize;
        uint256 totalSales;
        uint256 totalUnits;
        uint256 totalRevenue;
        uint256 totalRating;
        uint256 reviewCount;
        uint256 unverifiedReviewCount;
        string metadataURI;
    }

    /// @notice One purchase.
    struct Purchase {
        bytes32 modelId;
        address buyer;
        uint64 timestamp;
        bool bulkDiscount;
        uint256 quantity;
        uint256 unitPrice;
        uint256 total;
    }

    /// @notice One review.
    struct Review {
        address reviewer;
        uint8 rating;
        bool verified;
        uint64 timestamp;
        string comment;
    }

    /// @notice A listing's rating, as returned by `getTopRatedModels`.
    struct Rating {
        bytes32 modelId;
        uint256 averageRatingX100;
        uint256 reviewCount;
    }

    /// @notice Marketplace-wide totals.
    struct Stats {
        uint256 totalListings;
        uint256 totalSales;
        uint256 totalUnits;
        uint256 totalVolume;
        uint256 totalFees;
    }

    // ---------------------------------------------------------------- state

    /// @notice The model registry listings are checked against.
    IModelRegistry public immutable registry;
    /// @notice Address credited with platform and featuring fees.
    address public treasury;
    /// @notice Price in wei a model owner pays to feature a listing.
    uint256 public featuredFee = 1 ether;

    mapping(bytes32 modelId => Listing) private _listings;
    bytes32[] private _listingIds;
    mapping(address seller => bytes32[]) private _bySeller;
    mapping(uint8 category => bytes32[]) private _byCategory;
    mapping(bytes32 modelId => uint256) private _categoryPos; // index + 1
    bytes32[] private _featured;
    mapping(bytes32 modelId => uint256) private _featuredPos; // index + 1
    mapping(address buyer => Purchase[]) private _purchases;
    mapping(bytes32 modelId => mapping(address buyer => uint256)) private _units;
    mapping(bytes32 modelId => Review[]) private _reviews;
    mapping(bytes32 modelId => mapping(address reviewer => bool)) private _reviewed;
    Stats private _stats;

    // ---------------------------------------------------------------- events

    /// @notice `seller` listed `modelId`.
    event ModelListed(
        bytes32 indexed modelId,
        address indexed seller,
        uint256 basePrice,
        uint256 discountPrice,
        uint256 minimumBulkSize,
        uint8 category,
        string metadataURI
    );
    /// @notice `buyer` bought `quantity` units of `modelId` at `unitPrice` for `total` wei, of
    /// which `fee` went to the treasury and `total - fee` to `seller`.
    event ModelPurchased(
        bytes32 indexed modelId,
        address indexed buyer,
        address indexed seller,
        uint256 quantity,
        uint256 unitPrice,
        uint256 total,
        uint256 fee,
        bool bulkDiscount
    );
    /// @notice The seller changed the prices of `modelId`.
    event PriceUpdated(
        bytes32 indexed modelId,
        uint256 oldBasePrice,
        uint256 newBasePrice,
        uint256 oldDiscountPrice,
        uint256 newDiscountPrice,
        uint256 minimumBulkSize
    );
    /// @notice The seller moved `modelId` from category `oldCategory` to `newCategory`.
    event CategoryUpdated(bytes32 indexed modelId, uint8 oldCategory, uint8 newCategory);
    /// @notice The seller changed the metadata URI of `modelId`.
    event MetadataURIUpdated(bytes32 indexed modelId, string metadataURI);
    /// @notice `modelId` was featured by `by`, paying `fee` wei.
    event ModelFeatured(bytes32 indexed modelId, address indexed by, uint256 fee);
    /// @notice `modelId` is no longer featured.
    event ModelUnfeatured(bytes32 indexed modelId, address indexed by);
    /// @notice `reviewer` rated `modelId` `rating` (1–5); `verified` when the reviewer bought it.
    event ReviewAdded(
        bytes32 indexed modelId, address indexed reviewer, uint8 rating, bool verified
    );
    /// @notice The seller paused sales of `modelId`.
    event ListingDeactivated(bytes32 indexed modelId);
    /// @notice The seller resumed sales of `modelId`.
    event ListingActivated(bytes32 indexed modelId);
    /// @notice The admin changed the featuring fee.
    event FeaturedFeeChanged(uint256 oldFee, uint256 newFee);
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
    /// @notice The model is already listed; update the existing listing instead.
    error AlreadyListed(bytes32 modelId);
    /// @notice The model is not listed on the marketplace.
    error NotListed(bytes32 modelId);
    /// @notice The listing is paused; its seller must activate it first.
    error ListingNotActive(bytes32 modelId);
    /// @notice The listing is already in the requested state (`active`).
    error ListingStateUnchanged(bytes32 modelId, bool active);
    /// @notice The value of `field` must be greater than zero.
    error ZeroValue(string field);
    /// @notice `value` is above the maximum `max` allowed for `field`.
    error ValueTooLarge(string field, uint256 value, uint256 max);
    /// @notice The bulk price must not exceed the base price.
    error DiscountAboveBase(uint256 discountPrice, uint256 basePrice);
    /// @notice Categories are numbered 0 to `maxCategory`.
    error InvalidCategory(uint8 category, uint8 maxCategory);
    /// @notice The field `field` must not be empty.
    error EmptyField(string field);
    /// @notice The field `field` is `length` bytes long; shorten it to at most `maxLength` bytes.
    error StringTooLong(string field, uint256 length, uint256 maxLength);
    /// @notice The payment is too small; send at least `required` wei (the excess is refunded).
    error Underpaid(uint256 required, uint256 sent);
    /// @notice The fee sent is wrong; send exactly `required` wei.
    error WrongFee(uint256 required, uint256 sent);
    /// @notice Ratings are whole numbers from 1 to 5.
    error InvalidRating(uint8 rating);
    /// @notice Each address may review a model only once.
    error AlreadyReviewed(bytes32 modelId, address reviewer);
    /// @notice A model's owner may not review their own model.
    error OwnerCannotReview(bytes32 modelId);
    /// @notice The listing is already featured.
    error AlreadyFeatured(bytes32 modelId);
    /// @notice The listing is not featured.
    error NotFeatured(bytes32 modelId);
    /// @notice Only the model's owner or the marketplace admin may do this.
    error NotOwnerOrAdmin(bytes32 modelId, address caller);

    // ---------------------------------------------------------------- construction

    /// @notice Deploy against `registry_`, with `admin` holding the admin role and `treasury_`
    /// receiving the fees.
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

    // ---------------------------------------------------------------- seller actions

    /// @notice List a model you own in the registry (it must be active).
    function listModel(ListingInput calldata input) external {
        bytes32 modelId = input.modelId;
        _requireModelOwner(modelId);
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        Listing storage l = _listings[modelId];
        if (l.listedAt != 0) revert AlreadyListed(modelId);
        _checkPricing(input.basePrice, input.discountPrice, input.minimumBulkSize);
        _checkCategory(input.category);
        _checkURI(input.metadataURI);

        l.modelId = modelId;
        l.seller = msg.sender;
        l.category = input.category;
        l.active = true;
        l.listedAt = uint64(block.timestamp);
        l.basePrice = input.basePrice;
        l.discountPrice = input.discountPrice;
        l.minimumBulkSize = input.minimumBulkSize;
        l.metadataURI = input.metadataURI;
        _listingIds.push(modelId);
        _bySeller[msg.sender].push(modelId);
        _indexAdd(_byCategory[input.category], _categoryPos, modelId);
        _stats.totalListings += 1;

        emit ModelListed(
            modelId,
            msg.sender,
            input.basePrice,
            input.discountPrice,
            input.minimumBulkSize,
            input.category,
            input.metadataURI
        );
    }

    /// @notice Change the base price, bulk price and bulk threshold of your listing.
    function updatePricing(
        bytes32 modelId,
        uint256 basePrice,
        uint256 discountPrice,
        uint256 minimumBulkSize
    ) external {
        Listing storage l = _ownedListing(modelId);
        _checkPricing(basePrice, discountPrice, minimumBulkSize);
        emit PriceUpdated(
            modelId, l.basePrice, basePrice, l.discountPrice, discountPrice, minimumBulkSize
        );
        l.basePrice = basePrice;
        l.discountPrice = discountPrice;
        l.minimumBulkSize = minimumBulkSize;
    }

    /// @notice Move your listing to another category.
    function updateCategory(bytes32 modelId, uint8 category) external {
        Listing storage l = _ownedListing(modelId);
        _checkCategory(category);
        uint8 old = l.category;
        if (old != category) {
            _indexRemove(_byCategory[old], _categoryPos, modelId);
            _indexAdd(_byCategory[category], _categoryPos, modelId);
            l.category = category;
        }
        emit CategoryUpdated(modelId, old, category);
    }

    /// @notice Change the metadata URI of your listing.
    function updateMetadataURI(bytes32 modelId, string calldata metadataURI) external {
        Listing storage l = _ownedListing(modelId);
        _checkURI(metadataURI);
        l.metadataURI = metadataURI;
        emit MetadataURIUpdated(modelId, metadataURI);
    }

    /// @notice Pause sales of your listing.
    function deactivateListing(bytes32 modelId) external {
        _setActive(_ownedListing(modelId), false);
        emit ListingDeactivated(modelId);
    }

    /// @notice Resume sales of your listing.
    function activateListing(bytes32 modelId) external {
        _setActive(_ownedListing(modelId), true);
        emit ListingActivated(modelId);
    }

    /// @notice Feature a listing: only its model owner (paying exactly `featuredFee`, credited to
    /// the treasury) or the admin (for free; send no value) may feature it.
    function featureModel(bytes32 modelId) external payable nonReentrant {
        Listing storage l = _listing(modelId);
        bool isAdmin = hasRole(DEFAULT_ADMIN_ROLE, msg.sender);
        if (!isAdmin && registry.modelOwner(modelId) != msg.sender) {
            revert NotOwnerOrAdmin(modelId, msg.sender);
        }
        uint256 required = isAdmin ? 0 : featuredFee;
        if (msg.value != required) revert WrongFee(required, msg.value);
        if (l.featured) revert AlreadyFeatured(modelId);
        l.featured = true;
        _indexAdd(_featured, _featuredPos, modelId);
        emit ModelFeatured(modelId, msg.sender, msg.value);
        _credit(treasury, msg.value);
    }

    /// @notice Stop featuring a listing (its owner or the admin; no refund).
    function unfeatureModel(bytes32 modelId) external {
        Listing storage l = _listing(modelId);
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && registry.modelOwner(modelId) != msg.sender)
        {
            revert NotOwnerOrAdmin(modelId, msg.sender);
        }
        if (!l.featured) revert NotFeatured(modelId);
        l.featured = false;
        _indexRemove(_featured, _featuredPos, modelId);
        emit ModelUnfeatured(modelId, msg.sender);
    }

    // ---------------------------------------------------------------- buyers

    /// @notice The price of `quantity` units of `modelId`: (unit price, total, bulk discount used).
    function quote(bytes32 modelId, uint256 quantity)
        public
        view
        returns (uint256 unitPrice, uint256 total, bool bulkDiscount)
    {
        Listing storage l = _listing(modelId);
        if (quantity == 0) revert ZeroValue("quantity");
        if (quantity > MAX_QUANTITY) revert ValueTooLarge("quantity", quantity, MAX_QUANTITY);
        bulkDiscount = quantity >= l.minimumBulkSize && l.discountPrice < l.basePrice;
        unitPrice = bulkDiscount ? l.discountPrice : l.basePrice;
        total = unitPrice * quantity;
    }

    /// @notice Buy `quantity` units of access to `modelId` at the price current when this
    /// executes; 2.5 % goes to the treasury, the rest to the owner, and any excess is refunded.
    /// `msg.value` is the most you agree to pay: send exactly the `quote` total you accepted,
    /// so a price raised before your transaction lands makes it revert (`Underpaid`) instead of
    /// charging you more.
    function purchaseAccess(bytes32 modelId, uint256 quantity) external payable nonReentrant {
        (uint256 unitPrice, uint256 total, bool bulkDiscount) = quote(modelId, quantity);
        Listing storage l = _listings[modelId];
        if (!l.active) revert ListingNotActive(modelId);
        if (!registry.isModelActive(modelId)) revert ModelNotActive(modelId);
        if (msg.value < total) revert Underpaid(total, msg.value);
        address seller = registry.modelOwner(modelId);
        uint256 fee = (total * MARKETPLACE_FEE_BPS) / BPS_DENOMINATOR;
        uint256 sellerShare = total - fee;

        l.totalSales += 1;
        l.totalUnits += quantity;
        l.totalRevenue += total;
        l.lastSaleAt = uint64(block.timestamp);
        _units[modelId][msg.sender] += quantity;
        _purchases[msg.sender].push(
            Purchase({
                modelId: modelId,
                buyer: msg.sender,
                timestamp: uint64(block.timestamp),
                bulkDiscount: bulkDiscount,
                quantity: quantity,
                unitPrice: unitPrice,
                total: total
            })
        );
        _stats.totalSales += 1;
        _stats.totalUnits += quantity;
        _stats.totalVolume += total;
        _stats.totalFees += fee;

        emit ModelPurchased(
            modelId, msg.sender, seller, quantity, unitPrice, total, fee, bulkDiscount
        );
        _credit(treasury, fee);
        _credit(seller, sellerShare);
        registry.recordUsage(modelId, quantity, sellerShare);
        _refundSender(msg.value - total);
    }

    /// @notice Rate a listed model 1–5 with a comment (≤ 500 bytes), once per address. A review
    /// is verified when the reviewer bought the model; only verified ratings count in averages.
    function addReview(bytes32 modelId, uint8 rating, string calldata comment) external {
        Listing storage l = _listing(modelId);
        if (rating < 1 || rating > 5) revert InvalidRating(rating);
        uint256 length = bytes(comment).length;
        if (length > MAX_COMMENT_LENGTH) {
            revert StringTooLong("comment", length, MAX_COMMENT_LENGTH);
        }
        if (registry.modelOwner(modelId) == msg.sender) revert OwnerCannotReview(modelId);
        if (_reviewed[modelId][msg.sender]) revert AlreadyReviewed(modelId, msg.sender);
        bool verified = _units[modelId][msg.sender] > 0;
        _reviewed[modelId][msg.sender] = true;
        _reviews[modelId].push(
            Review({
                reviewer: msg.sender,
                rating: rating,
                verified: verified,
                timestamp: uint64(block.timestamp),
                comment: comment
            })
        );
        if (verified) {
            l.totalRating += rating;
            l.reviewCount += 1;
        } else {
            l.unverifiedReviewCount += 1;
        }
        emit ReviewAdded(modelId, msg.sender, rating, verified);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Set the featuring fee in wei (admin only; at most `MAX_FEATURED_FEE`).
    function setFeaturedFee(uint256 newFee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFee > MAX_FEATURED_FEE) {
            revert ValueTooLarge("featuredFee", newFee, MAX_FEATURED_FEE);
        }
        emit FeaturedFeeChanged(featuredFee, newFee);
        featuredFee = newFee;
    }

    /// @notice Set the address credited with future fees (admin only; past credits stay).
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress("treasury");
        _checkPayee(newTreasury);
        emit TreasuryChanged(treasury, newTreasury);
        treasury = newTreasury;
    }

    // ---------------------------------------------------------------- views

    /// @notice True when `modelId` has a listing (active or not).
    function isListed(bytes32 modelId) public view returns (bool) {
        return _listings[modelId].listedAt != 0;
    }

    /// @notice A listing (reverts with `NotListed` for unlisted models).
    function getListing(bytes32 modelId) external view returns (Listing memory) {
        return _listing(modelId);
    }

    /// @notice Average verified rating of `modelId` times 100 (0 when it has no verified review).
    function averageRating(bytes32 modelId) public view returns (uint256) {
        Listing storage l = _listings[modelId];
        return l.reviewCount == 0 ? 0 : (l.totalRating * 100) / l.reviewCount;
    }

    /// @notice Units of `modelId` bought by `buyer` in total.
    function purchasedUnits(bytes32 modelId, address buyer) external view returns (uint256) {
        return _units[modelId][buyer];
    }

    /// @notice True when `reviewer` already reviewed `modelId`.
    function hasReviewed(bytes32 modelId, address reviewer) external view returns (bool) {
        return _reviewed[modelId][reviewer];
    }

    /// @notice Marketplace totals: listings, sales, units sold, volume and fees in wei.
    function getMarketplaceStats() external view returns (Stats memory) {
        return _stats;
    }

    /// @notice Number of listings ever created.
    function listingCount() external view returns (uint256) {
        return _listingIds.length;
    }

    /// @notice Number of listings in `category`.
    function categoryCount(uint8 category) external view returns (uint256) {
        return _byCategory[category].length;
    }

    /// @notice Number of featured listings.
    function featuredCount() external view returns (uint256) {
        return _featured.length;
    }

    /// @notice Number of purchases made by `buyer`.
    function purchaseCount(address buyer) external view returns (uint256) {
        return _purchases[buyer].length;
    }

    /// @notice Number of reviews of `modelId`.
    function reviewCount(bytes32 modelId) external view returns (uint256) {
        return _reviews[modelId].length;
    }

    /// @notice Listings in creation order, `limit` (≤ 100) from `offset`.
    function getListings(uint256 offset, uint256 limit) external view returns (Listing[] memory) {
        return _listingsOf(_listingIds, offset, limit);
    }

    /// @notice Listings in `category`, `limit` (≤ 100) from `offset`.
    function getModelsByCategory(uint8 category, uint256 offset, uint256 limit)
        external
        view
        returns (Listing[] memory)
    {
        return _listingsOf(_byCategory[category], offset, limit);
    }

    /// @notice Listings created by `seller`, `limit` (≤ 100) from `offset`.
    function getModelsByOwner(address seller, uint256 offset, uint256 limit)
        external
        view
        returns (Listing[] memory)
    {
        return _listingsOf(_bySeller[seller], offset, limit);
    }

    /// @notice Featured listings, `limit` (≤ 100) from `offset`.
    function getFeaturedModels(uint256 offset, uint256 limit)
        external
        view
        returns (Listing[] memory)
    {
        return _listingsOf(_featured, offset, limit);
    }

    /// @notice The active listings among listings [`offset`, `offset + limit`) (limit ≤ 100)
    /// with at least `minReviews` verified reviews, best average first (ties: more reviews
    /// first, then listing order). Sorts only this page: merge pages for a global ranking.
    function getTopRatedModels(uint256 offset, uint256 limit, uint256 minReviews)
        external
        view
        returns (Rating[] memory out)
    {
        bytes32[] memory ids = _page(_listingIds, offset, limit);
        out = new Rating[](ids.length);
        uint256 n = 0;
        for (uint256 i = 0; i < ids.length; ++i) {
            Listing storage l = _listings[ids[i]];
            if (!l.active || l.reviewCount == 0 || l.reviewCount < minReviews) continue;
            Rating memory r = Rating(ids[i], averageRating(ids[i]), l.reviewCount);
            // Insertion sort of at most MAX_PAGE_SIZE entries.
            uint256 j = n;
            while (j > 0 && _better(r, out[j - 1])) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = r;
            ++n;
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    /// @notice Purchases made by `buyer`, oldest first, `limit` (≤ 100) from `offset`.
    function getPurchaseHistory(address buyer, uint256 offset, uint256 limit)
        external
        view
        returns (Purchase[] memory out)
    {
        Purchase[] storage all = _purchases[buyer];
        (uint256 start, uint256 end) = _bounds(all.length, offset, limit);
        out = new Purchase[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = all[i];
        }
    }

    /// @notice Reviews of `modelId`, oldest first, `limit` (≤ 100) from `offset`.
    function getModelReviews(bytes32 modelId, uint256 offset, uint256 limit)
        external
        view
        returns (Review[] memory out)
    {
        Review[] storage all = _reviews[modelId];
        (uint256 start, uint256 end) = _bounds(all.length, offset, limit);
        out = new Review[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = all[i];
        }
    }

    // ---------------------------------------------------------------- internals

    function _listing(bytes32 modelId) private view returns (Listing storage l) {
        l = _listings[modelId];
        if (l.listedAt == 0) revert NotListed(modelId);
    }

    function _ownedListing(bytes32 modelId) private view returns (Listing storage l) {
        l = _listing(modelId);
        _requireModelOwner(modelId);
    }

    function _requireModelOwner(bytes32 modelId) private view {
        if (!registry.modelExists(modelId)) revert UnknownModel(modelId);
        if (registry.modelOwner(modelId) != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _setActive(Listing storage l, bool active) private {
        if (l.active == active) revert ListingStateUnchanged(l.modelId, active);
        l.active = active;
    }

    function _checkPricing(uint256 basePrice, uint256 discountPrice, uint256 minimumBulkSize)
        private
        pure
    {
        if (basePrice == 0) revert ZeroValue("basePrice");
        if (basePrice > MAX_PRICE) revert ValueTooLarge("basePrice", basePrice, MAX_PRICE);
        if (discountPrice == 0) revert ZeroValue("discountPrice");
        if (discountPrice > basePrice) revert DiscountAboveBase(discountPrice, basePrice);
        if (minimumBulkSize == 0) revert ZeroValue("minimumBulkSize");
        if (minimumBulkSize > MAX_QUANTITY) {
            revert ValueTooLarge("minimumBulkSize", minimumBulkSize, MAX_QUANTITY);
        }
    }

    function _checkCategory(uint8 category) private pure {
        if (category > MAX_CATEGORY) revert InvalidCategory(category, MAX_CATEGORY);
    }

    function _checkURI(string calldata uri) private pure {
        uint256 length = bytes(uri).length;
        if (length == 0) revert EmptyField("metadataURI");
        if (length > MAX_URI_LENGTH) revert StringTooLong("metadataURI", length, MAX_URI_LENGTH);
    }

    function _better(Rating memory a, Rating memory b) private pure returns (bool) {
        if (a.averageRatingX100 != b.averageRatingX100) {
            return a.averageRatingX100 > b.averageRatingX100;
        }
        return a.reviewCount > b.reviewCount;
    }

    function _indexAdd(
        bytes32[] storage list,
        mapping(bytes32 => uint256) storage pos,
        bytes32 modelId
    ) private {
        list.push(modelId);
        pos[modelId] = list.length;
    }

    function _indexRemove(
        bytes32[] storage list,
        mapping(bytes32 => uint256) storage pos,
        bytes32 modelId
    ) private {
        uint256 i = pos[modelId] - 1;
        bytes32 last = list[list.length - 1];
        list[i] = last;
        pos[last] = i + 1;
        list.pop();
        delete pos[modelId];
    }

    function _bounds(uint256 n, uint256 offset, uint256 limit)
        private
        pure
        returns (uint256 start, uint256 end)
    {
        if (offset >= n) return (n, n);
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        start = offset;
        end = n - offset < limit ? n : offset + limit;
    }

    function _page(bytes32[] storage all, uint256 offset, uint256 limit)
        private
        view
        returns (bytes32[] memory out)
    {
        (uint256 start, uint256 end) = _bounds(all.length, offset, limit);
        out = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = all[i];
        }
    }

    function _listingsOf(bytes32[] storage ids, uint256 offset, uint256 limit)
        private
        view
        returns (Listing[] memory out)
    {
        bytes32[] memory page = _page(ids, offset, limit);
        out = new Listing[](page.length);
        for (uint256 i = 0; i < page.length; ++i) {
            out[i] = _listings[page[i]];
        }
    }
}
