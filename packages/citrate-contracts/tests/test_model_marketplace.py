"""ModelMarketplace: listings, purchases with the exact 2.5 % split and refunds, reviews,
featuring, paged views, admin settings, re-entering buyers and sellers, and the balance invariant.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from .attackers import Reentrant
from .harness import ADMIN_ROLE, ETHER, ZERO_ADDRESS, ChainUnderTest, Reverted
from .models import platform_fee, register_model

FEATURED_FEE = ETHER
URI = "ipfs://bafylisting/metadata.json"


def listing_input(
    mid: bytes,
    base: int = 100,
    discount: int = 80,
    bulk: int = 10,
    category: int = 0,
    uri: str = URI,
) -> tuple[Any, ...]:
    return (mid, base, discount, bulk, category, uri)


def list_model(
    chain: ChainUnderTest,
    owner: LocalAccount,
    name: str = "tiny-llama",
    **kwargs: Any,
) -> bytes:
    """Register a model from ``owner`` and list it; return its id."""
    mid = register_model(chain, owner, name)
    market = chain.contract("ModelMarketplace")
    chain.send(market.functions.listModel(listing_input(mid, **kwargs)), owner)
    return mid


@pytest.fixture
def market(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelMarketplace")


@pytest.fixture
def tmarket(chain: ChainUnderTest) -> Contract:
    return chain.contract("ModelMarketplace", decode_tuples=True)


@pytest.fixture
def seller(chain: ChainUnderTest) -> LocalAccount:
    return chain.users[0]


@pytest.fixture
def listed(chain: ChainUnderTest, seller: LocalAccount) -> bytes:
    return list_model(chain, seller)


# ------------------------------------------------------------------------------- deployment


def test_deployment_state(chain: ChainUnderTest, market: Contract, tmarket: Contract) -> None:
    f = market.functions
    assert f.registry().call() == chain.addresses["ModelRegistry"]
    assert f.treasury().call() == chain.treasury.address
    assert f.featuredFee().call() == FEATURED_FEE
    assert (f.MARKETPLACE_FEE_BPS().call(), f.BPS_DENOMINATOR().call()) == (250, 10_000)
    assert (f.MAX_CATEGORY().call(), f.MAX_PAGE_SIZE().call()) == (10, 100)
    assert f.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert tuple(tmarket.functions.getMarketplaceStats().call()) == (0, 0, 0, 0, 0)
    assert f.listingCount().call() == 0 and f.totalCredits().call() == 0


@pytest.mark.parametrize("which", ["admin", "registry", "treasury"])
def test_constructor_rejects_zero_addresses(chain: ChainUnderTest, which: str) -> None:
    args = {name: "0x" + "11" * 20 for name in ("admin", "registry", "treasury")}
    args[which] = ZERO_ADDRESS
    err = chain.deploy_revert("ModelMarketplace", chain.users[0], *args.values())
    assert (err.name, err.args) == ("ZeroAddress", {"what": which})


# ------------------------------------------------------------------------------- listing


def test_list_model(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount
) -> None:
    mid = register_model(chain, seller)
    receipt = chain.send(market.functions.listModel(listing_input(mid, category=3)), seller)
    assert chain.events(receipt, market, "ModelListed") == [
        {
            "modelId": mid,
            "seller": seller.address,
            "basePrice": 100,
            "discountPrice": 80,
            "minimumBulkSize": 10,
            "category": 3,
            "metadataURI": URI,
        }
    ]
    listing = tmarket.functions.getListing(mid).call()
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert (listing.modelId, listing.seller, listing.category, listing.featured) == (
        mid,
        seller.address,
        3,
        False,
    )
    assert (listing.active, listing.listedAt, listing.lastSaleAt) == (True, ts, 0)
    assert (listing.basePrice, listing.discountPrice, listing.minimumBulkSize) == (100, 80, 10)
    assert (listing.totalSales, listing.totalRevenue, listing.reviewCount) == (0, 0, 0)
    assert listing.metadataURI == URI
    f = market.functions
    assert f.isListed(mid).call() and f.listingCount().call() == 1
    assert f.categoryCount(3).call() == 1 and f.categoryCount(0).call() == 0
    assert [x.modelId for x in tmarket.functions.getModelsByCategory(3, 0, 10).call()] == [mid]
    assert [
        x.modelId for x in tmarket.functions.getModelsByOwner(seller.address, 0, 10).call()
    ] == [mid]
    assert tmarket.functions.getMarketplaceStats().call().totalListings == 1
    err = chain.revert_of(f.listModel(listing_input(mid)), seller)
    assert (err.name, err.args) == ("AlreadyListed", {"modelId": mid})


def test_list_model_requires_the_active_owned_model(
    chain: ChainUnderTest, market: Contract, seller: LocalAccount
) -> None:
    mid = register_model(chain, seller)
    f = market.functions
    err = chain.revert_of(f.listModel(listing_input(mid)), chain.users[1])
    assert (err.name, err.args) == (
        "NotModelOwner",
        {"modelId": mid, "caller": chain.users[1].address},
    )
    unknown = b"\x07" * 32
    err = chain.revert_of(f.listModel(listing_input(unknown)), seller)
    assert (err.name, err.args) == ("UnknownModel", {"modelId": unknown})
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(mid), seller)
    err = chain.revert_of(f.listModel(listing_input(mid)), seller)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": mid})


_MAXP = 10**24


@pytest.mark.parametrize(
    ("kwargs", "name", "args"),
    [
        ({"base": 0, "discount": 0}, "ZeroValue", {"field": "basePrice"}),
        (
            {"base": _MAXP + 1},
            "ValueTooLarge",
            {"field": "basePrice", "value": _MAXP + 1, "max": _MAXP},
        ),
        ({"discount": 0}, "ZeroValue", {"field": "discountPrice"}),
        ({"discount": 101}, "DiscountAboveBase", {"discountPrice": 101, "basePrice": 100}),
        ({"bulk": 0}, "ZeroValue", {"field": "minimumBulkSize"}),
        (
            {"bulk": 10**6 + 1},
            "ValueTooLarge",
            {"field": "minimumBulkSize", "value": 10**6 + 1, "max": 10**6},
        ),
        ({"category": 11}, "InvalidCategory", {"category": 11, "maxCategory": 10}),
        ({"uri": ""}, "EmptyField", {"field": "metadataURI"}),
        (
            {"uri": "u" * 257},
            "StringTooLong",
            {"field": "metadataURI", "length": 257, "maxLength": 256},
        ),
    ],
)
def test_list_model_validates(
    chain: ChainUnderTest,
    market: Contract,
    seller: LocalAccount,
    kwargs: dict[str, Any],
    name: str,
    args: dict[str, Any],
) -> None:
    mid = register_model(chain, seller)
    err = chain.revert_of(market.functions.listModel(listing_input(mid, **kwargs)), seller)
    assert (err.name, err.args) == (name, args)
    assert err.message.startswith(f"{name}: ")


def test_list_model_accepts_the_bounds(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount
) -> None:
    mid = register_model(chain, seller)
    inp = listing_input(mid, base=_MAXP, discount=_MAXP, bulk=10**6, category=10, uri="u" * 256)
    chain.send(market.functions.listModel(inp), seller)
    listing = tmarket.functions.getListing(mid).call()
    assert (listing.basePrice, listing.category, len(listing.metadataURI)) == (_MAXP, 10, 256)


# ------------------------------------------------------------------------------- purchases


@pytest.mark.parametrize(
    ("unit", "quantity"),
    [(1, 1), (39, 1), (ETHER + 7, 1), (39, 3), (ETHER + 7, 5), (123_456_789, 7)],
)
def test_purchase_splits_exactly_and_refunds_the_excess(
    chain: ChainUnderTest,
    market: Contract,
    tmarket: Contract,
    seller: LocalAccount,
    unit: int,
    quantity: int,
) -> None:
    mid = list_model(chain, seller, base=unit, discount=unit, bulk=1)
    buyer = chain.users[1]
    total = unit * quantity
    fee = platform_fee(total)
    excess = 12_345
    registry = chain.contract("ModelRegistry", decode_tuples=True)
    credits_before = market.functions.totalCredits().call()
    before = (chain.balance(buyer.address), chain.balance(market.address))
    receipt = chain.send(market.functions.purchaseAccess(mid, quantity), buyer, total + excess)
    # The buyer paid exactly the total (plus gas); the excess came back.
    assert before[0] - chain.balance(buyer.address) == total + chain.gas_cost(receipt)
    assert chain.balance(market.address) - before[1] == total
    assert chain.events(receipt, market, "ModelPurchased") == [
        {
            "modelId": mid,
            "buyer": buyer.address,
            "seller": seller.address,
            "quantity": quantity,
            "unitPrice": unit,
            "total": total,
            "fee": fee,
            "bulkDiscount": False,
        }
    ]
    credited = [(e["payee"], e["amount"]) for e in chain.events(receipt, market, "PaymentCredited")]
    assert credited == [
        (p, a) for p, a in [(chain.treasury.address, fee), (seller.address, total - fee)] if a
    ]
    f = market.functions
    assert f.creditOf(chain.treasury.address).call() == fee
    assert f.creditOf(seller.address).call() == total - fee
    assert f.creditOf(chain.treasury.address).call() + f.creditOf(seller.address).call() == total
    assert f.totalCredits().call() - credits_before == total
    assert chain.events(receipt, registry, "UsageRecorded") == [
        {
            "modelId": mid,
            "reporter": market.address,
            "inferences": quantity,
            "revenue": total - fee,
        }
    ]
    m = registry.functions.getModel(mid).call()
    assert (m.totalInferences, m.revenue) == (quantity, total - fee)
    assert f.purchasedUnits(mid, buyer.address).call() == quantity
    listing = tmarket.functions.getListing(mid).call()
    assert (listing.totalSales, listing.totalUnits, listing.totalRevenue) == (1, quantity, total)
    assert listing.lastSaleAt == chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    stats = tmarket.functions.getMarketplaceStats().call()
    assert tuple(stats) == (1, 1, quantity, total, fee)
    history = tmarket.functions.getPurchaseHistory(buyer.address, 0, 10).call()
    assert [
        (h.modelId, h.buyer, h.quantity, h.unitPrice, h.total, h.bulkDiscount) for h in history
    ] == [(mid, buyer.address, quantity, unit, total, False)]


def test_rounding_dust_goes_to_the_owner(
    chain: ChainUnderTest, market: Contract, seller: LocalAccount
) -> None:
    # 39 wei: 39 * 250 / 10000 = 0.975, rounded down to 0; the owner gets all 39.
    mid = list_model(chain, seller, base=39, discount=39, bulk=1)
    chain.send(market.functions.purchaseAccess(mid, 1), chain.users[1], 39)
    assert market.functions.creditOf(chain.treasury.address).call() == 0
    assert market.functions.creditOf(seller.address).call() == 39
    # 10**18 + 7: fee 25 * 10**15 exactly (the 7 wei * 2.5 % = 0.175 wei is the owner's).
    mid2 = list_model(chain, seller, "second", base=ETHER + 7, discount=ETHER + 7, bulk=1)
    chain.send(market.functions.purchaseAccess(mid2, 1), chain.users[1], ETHER + 7)
    assert market.functions.creditOf(chain.treasury.address).call() == 25 * 10**15
    assert market.functions.creditOf(seller.address).call() == 39 + ETHER + 7 - 25 * 10**15


def test_bulk_discount_applies_from_the_minimum_size(
    chain: ChainUnderTest, market: Contract, listed: bytes
) -> None:
    f = market.functions
    assert f.quote(listed, 9).call() == [100, 900, False]
    assert f.quote(listed, 10).call() == [80, 800, True]
    assert f.quote(listed, 11).call() == [80, 880, True]
    buyer = chain.users[1]
    receipt = chain.send(f.purchaseAccess(listed, 10), buyer, 800)
    event = chain.events(receipt, market, "ModelPurchased")[0]
    assert (event["unitPrice"], event["total"], event["fee"], event["bulkDiscount"]) == (
        80,
        800,
        20,
        True,
    )
    err = chain.revert_of(f.purchaseAccess(listed, 9), buyer, 899)
    assert (err.name, err.args) == ("Underpaid", {"required": 900, "sent": 899})
    assert (
        err.message
        == "Underpaid: The payment is too small; send at least 900 wei (the excess is refunded)."
    )


def test_purchase_reverts(
    chain: ChainUnderTest, market: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    buyer = chain.users[1]
    err = chain.revert_of(f.purchaseAccess(b"\x08" * 32, 1), buyer, 100)
    assert (err.name, err.args) == ("NotListed", {"modelId": b"\x08" * 32})
    err = chain.revert_of(f.purchaseAccess(listed, 0), buyer, 100)
    assert (err.name, err.args) == ("ZeroValue", {"field": "quantity"})
    err = chain.revert_of(f.purchaseAccess(listed, 10**6 + 1), buyer, 10**18)
    assert err.args == {"field": "quantity", "value": 10**6 + 1, "max": 10**6}
    err = chain.revert_of(f.purchaseAccess(listed, 1), buyer, 0)
    assert (err.name, err.args) == ("Underpaid", {"required": 100, "sent": 0})
    chain.send(f.deactivateListing(listed), seller)
    err = chain.revert_of(f.purchaseAccess(listed, 1), buyer, 100)
    assert (err.name, err.args) == ("ListingNotActive", {"modelId": listed})
    chain.send(f.activateListing(listed), seller)
    chain.send(chain.contract("ModelRegistry").functions.deactivateModel(listed), seller)
    err = chain.revert_of(f.purchaseAccess(listed, 1), buyer, 100)
    assert (err.name, err.args) == ("ModelNotActive", {"modelId": listed})


# ------------------------------------------------------------------------------- seller updates


def test_update_pricing(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    receipt = chain.send(f.updatePricing(listed, 200, 150, 5), seller)
    assert chain.events(receipt, market, "PriceUpdated") == [
        {
            "modelId": listed,
            "oldBasePrice": 100,
            "newBasePrice": 200,
            "oldDiscountPrice": 80,
            "newDiscountPrice": 150,
            "minimumBulkSize": 5,
        }
    ]
    listing = tmarket.functions.getListing(listed).call()
    assert (listing.basePrice, listing.discountPrice, listing.minimumBulkSize) == (200, 150, 5)
    assert f.quote(listed, 5).call() == [150, 750, True]
    err = chain.revert_of(f.updatePricing(listed, 1, 1, 1), chain.users[1])
    assert (err.name, err.args) == (
        "NotModelOwner",
        {"modelId": listed, "caller": chain.users[1].address},
    )
    err = chain.revert_of(f.updatePricing(listed, 10, 11, 1), seller)
    assert (err.name, err.args) == ("DiscountAboveBase", {"discountPrice": 11, "basePrice": 10})
    err = chain.revert_of(f.updatePricing(b"\x09" * 32, 1, 1, 1), seller)
    assert (err.name, err.args) == ("NotListed", {"modelId": b"\x09" * 32})


def test_update_category_moves_the_index(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount
) -> None:
    a = list_model(chain, seller, "a", category=1)
    b = list_model(chain, seller, "b", category=1)
    c = list_model(chain, seller, "c", category=1)
    f = market.functions
    receipt = chain.send(f.updateCategory(a, 4), seller)
    assert chain.events(receipt, market, "CategoryUpdated") == [
        {"modelId": a, "oldCategory": 1, "newCategory": 4}
    ]
    in1 = [x.modelId for x in tmarket.functions.getModelsByCategory(1, 0, 10).call()]
    assert sorted(in1) == sorted([b, c]) and in1 == [c, b]  # swap-and-pop
    assert [x.modelId for x in tmarket.functions.getModelsByCategory(4, 0, 10).call()] == [a]
    assert tmarket.functions.getListing(a).call().category == 4
    chain.send(f.updateCategory(c, 4), seller)  # remove the last entry
    assert [x.modelId for x in tmarket.functions.getModelsByCategory(1, 0, 10).call()] == [b]
    receipt = chain.send(f.updateCategory(b, 1), seller)  # unchanged: still reported
    assert chain.events(receipt, market, "CategoryUpdated")[0]["newCategory"] == 1
    assert f.categoryCount(1).call() == 1 and f.categoryCount(4).call() == 2
    err = chain.revert_of(f.updateCategory(a, 11), seller)
    assert (err.name, err.args) == ("InvalidCategory", {"category": 11, "maxCategory": 10})
    assert chain.revert_of(f.updateCategory(a, 2), chain.users[1]).name == "NotModelOwner"


def test_update_metadata_uri(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    receipt = chain.send(f.updateMetadataURI(listed, "ipfs://new"), seller)
    assert chain.events(receipt, market, "MetadataURIUpdated") == [
        {"modelId": listed, "metadataURI": "ipfs://new"}
    ]
    assert tmarket.functions.getListing(listed).call().metadataURI == "ipfs://new"
    assert chain.revert_of(f.updateMetadataURI(listed, ""), seller).args == {"field": "metadataURI"}
    assert chain.revert_of(f.updateMetadataURI(listed, "x"), chain.users[1]).name == (
        "NotModelOwner"
    )


def test_activate_and_deactivate_listing(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    err = chain.revert_of(f.activateListing(listed), seller)
    assert (err.name, err.args) == (
        "ListingStateUnchanged",
        {"modelId": listed, "active": True},
    )
    assert chain.revert_of(f.deactivateListing(listed), chain.users[1]).name == "NotModelOwner"
    receipt = chain.send(f.deactivateListing(listed), seller)
    assert chain.events(receipt, market, "ListingDeactivated") == [{"modelId": listed}]
    assert not tmarket.functions.getListing(listed).call().active
    err = chain.revert_of(f.deactivateListing(listed), seller)
    assert err.args == {"modelId": listed, "active": False}
    assert chain.revert_of(f.activateListing(listed), chain.users[1]).name == "NotModelOwner"
    receipt = chain.send(f.activateListing(listed), seller)
    assert chain.events(receipt, market, "ListingActivated") == [{"modelId": listed}]
    assert tmarket.functions.getListing(listed).call().active


# ------------------------------------------------------------------------------- featuring


def test_feature_by_owner_pays_the_treasury(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    for sent in (0, FEATURED_FEE - 1, FEATURED_FEE + 1):
        err = chain.revert_of(f.featureModel(listed), seller, sent)
        assert (err.name, err.args) == ("WrongFee", {"required": FEATURED_FEE, "sent": sent})
    err = chain.revert_of(f.featureModel(listed), chain.users[1], FEATURED_FEE)
    assert (err.name, err.args) == (
        "NotOwnerOrAdmin",
        {"modelId": listed, "caller": chain.users[1].address},
    )
    receipt = chain.send(f.featureModel(listed), seller, FEATURED_FEE)
    assert chain.events(receipt, market, "ModelFeatured") == [
        {"modelId": listed, "by": seller.address, "fee": FEATURED_FEE}
    ]
    assert f.creditOf(chain.treasury.address).call() == FEATURED_FEE
    assert tmarket.functions.getListing(listed).call().featured
    assert [x.modelId for x in tmarket.functions.getFeaturedModels(0, 10).call()] == [listed]
    err = chain.revert_of(f.featureModel(listed), seller, FEATURED_FEE)
    assert (err.name, err.args) == ("AlreadyFeatured", {"modelId": listed})
    err = chain.revert_of(f.unfeatureModel(listed), chain.users[1])
    assert (err.name, err.args) == (
        "NotOwnerOrAdmin",
        {"modelId": listed, "caller": chain.users[1].address},
    )
    receipt = chain.send(f.unfeatureModel(listed), seller)
    assert chain.events(receipt, market, "ModelUnfeatured") == [
        {"modelId": listed, "by": seller.address}
    ]
    assert f.featuredCount().call() == 0
    assert not tmarket.functions.getListing(listed).call().featured
    err = chain.revert_of(f.unfeatureModel(listed), seller)
    assert (err.name, err.args) == ("NotFeatured", {"modelId": listed})
    assert chain.revert_of(f.featureModel(b"\x0a" * 32), seller, FEATURED_FEE).name == "NotListed"


def test_admin_features_for_free(
    chain: ChainUnderTest, market: Contract, seller: LocalAccount
) -> None:
    a = list_model(chain, seller, "a")
    b = list_model(chain, seller, "b")
    f = market.functions
    err = chain.revert_of(f.featureModel(a), chain.admin, 1)
    assert (err.name, err.args) == ("WrongFee", {"required": 0, "sent": 1})
    receipt = chain.send(f.featureModel(a), chain.admin)
    assert chain.events(receipt, market, "ModelFeatured") == [
        {"modelId": a, "by": chain.admin.address, "fee": 0}
    ]
    assert chain.events(receipt, market, "PaymentCredited") == []
    chain.send(f.featureModel(b), chain.admin)
    chain.send(f.unfeatureModel(a), chain.admin)
    assert f.featuredCount().call() == 1
    assert [x[0] for x in f.getFeaturedModels(0, 10).call()] == [b]


def test_set_featured_fee(chain: ChainUnderTest, market: Contract, listed: bytes) -> None:
    f = market.functions
    receipt = chain.send(f.setFeaturedFee(5), chain.admin)
    assert chain.events(receipt, market, "FeaturedFeeChanged") == [
        {"oldFee": FEATURED_FEE, "newFee": 5}
    ]
    chain.send(f.featureModel(listed), chain.users[0], 5)
    err = chain.revert_of(f.setFeaturedFee(100 * ETHER + 1), chain.admin)
    assert err.args == {"field": "featuredFee", "value": 100 * ETHER + 1, "max": 100 * ETHER}
    chain.assert_needs_role(f.setFeaturedFee(1), ADMIN_ROLE, chain.users[0])


def test_set_treasury(chain: ChainUnderTest, market: Contract, listed: bytes) -> None:
    f = market.functions
    new = chain.users[8].address
    receipt = chain.send(f.setTreasury(new), chain.admin)
    assert chain.events(receipt, market, "TreasuryChanged") == [
        {"oldTreasury": chain.treasury.address, "newTreasury": new}
    ]
    chain.send(f.purchaseAccess(listed, 1), chain.users[1], 1000)
    assert f.creditOf(new).call() == 2 and f.creditOf(chain.treasury.address).call() == 0
    assert chain.revert_of(f.setTreasury(ZERO_ADDRESS), chain.admin).args == {"what": "treasury"}
    err = chain.revert_of(f.setTreasury(market.address), chain.admin)
    assert err.name == "PayeeIsThisContract"
    chain.assert_needs_role(f.setTreasury(new), ADMIN_ROLE, chain.users[0])


# ------------------------------------------------------------------------------- reviews


def test_reviews_are_verified_for_buyers_only(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    buyer, stranger = chain.users[1], chain.users[2]
    receipt = chain.send(f.addReview(listed, 2, "not bought"), stranger)
    assert chain.events(receipt, market, "ReviewAdded") == [
        {"modelId": listed, "reviewer": stranger.address, "rating": 2, "verified": False}
    ]
    assert f.averageRating(listed).call() == 0  # unverified ratings do not count
    chain.send(f.purchaseAccess(listed, 1), buyer, 100)
    receipt = chain.send(f.addReview(listed, 5, "great"), buyer)
    assert chain.events(receipt, market, "ReviewAdded")[0]["verified"] is True
    chain.send(f.purchaseAccess(listed, 1), chain.users[3], 100)
    chain.send(f.addReview(listed, 4, ""), chain.users[3])
    assert f.averageRating(listed).call() == 450
    listing = tmarket.functions.getListing(listed).call()
    assert (listing.totalRating, listing.reviewCount, listing.unverifiedReviewCount) == (9, 2, 1)
    reviews = tmarket.functions.getModelReviews(listed, 0, 10).call()
    assert [(r.reviewer, r.rating, r.verified, r.comment) for r in reviews] == [
        (stranger.address, 2, False, "not bought"),
        (buyer.address, 5, True, "great"),
        (chain.users[3].address, 4, True, ""),
    ]
    assert [r.rating for r in tmarket.functions.getModelReviews(listed, 1, 1).call()] == [5]
    assert f.reviewCount(listed).call() == 3 and f.hasReviewed(listed, buyer.address).call()
    err = chain.revert_of(f.addReview(listed, 3, "again"), buyer)
    assert (err.name, err.args) == (
        "AlreadyReviewed",
        {"modelId": listed, "reviewer": buyer.address},
    )


@pytest.mark.parametrize("rating", [0, 6, 255])
def test_review_rating_range(
    chain: ChainUnderTest, market: Contract, listed: bytes, rating: int
) -> None:
    err = chain.revert_of(market.functions.addReview(listed, rating, ""), chain.users[1])
    assert (err.name, err.args) == ("InvalidRating", {"rating": rating})


def test_review_reverts(
    chain: ChainUnderTest, market: Contract, seller: LocalAccount, listed: bytes
) -> None:
    f = market.functions
    err = chain.revert_of(f.addReview(listed, 5, "mine"), seller)
    assert (err.name, err.args) == ("OwnerCannotReview", {"modelId": listed})
    err = chain.revert_of(f.addReview(listed, 5, "c" * 501), chain.users[1])
    assert err.args == {"field": "comment", "length": 501, "maxLength": 500}
    chain.send(f.addReview(listed, 5, "c" * 500), chain.users[1])
    err = chain.revert_of(f.addReview(b"\x0b" * 32, 5, ""), chain.users[1])
    assert (err.name, err.args) == ("NotListed", {"modelId": b"\x0b" * 32})


def test_top_rated_sorts_one_page(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount
) -> None:
    ids = [list_model(chain, seller, f"m{i}", base=1, discount=1, bulk=1) for i in range(4)]
    f = market.functions
    ratings = {0: [3, 4], 1: [5], 2: [5, 5], 3: []}  # m3 has no verified review
    reviewer = 1
    for i, rs in ratings.items():
        for r in rs:
            user = chain.users[reviewer]
            reviewer += 1
            chain.send(f.purchaseAccess(ids[i], 1), user, 1)
            chain.send(f.addReview(ids[i], r, ""), user)
    top = tmarket.functions.getTopRatedModels(0, 10, 1).call()
    assert [(t.modelId, t.averageRatingX100, t.reviewCount) for t in top] == [
        (ids[2], 500, 2),
        (ids[1], 500, 1),
        (ids[0], 350, 2),
    ]
    assert [t.modelId for t in tmarket.functions.getTopRatedModels(0, 10, 2).call()] == [
        ids[2],
        ids[0],
    ]
    # Only the page [1, 3) is considered.
    assert [t.modelId for t in tmarket.functions.getTopRatedModels(1, 2, 0).call()] == [
        ids[2],
        ids[1],
    ]
    chain.send(f.deactivateListing(ids[2]), seller)
    assert [t.modelId for t in tmarket.functions.getTopRatedModels(0, 100, 1).call()] == [
        ids[1],
        ids[0],
    ]
    assert tmarket.functions.getTopRatedModels(4, 10, 0).call() == []


def test_paged_views(
    chain: ChainUnderTest, market: Contract, tmarket: Contract, seller: LocalAccount
) -> None:
    other = chain.users[1]
    a = list_model(chain, seller, "a", category=2)
    b = list_model(chain, other, "b", category=2)
    c = list_model(chain, seller, "c", category=5)
    t = tmarket.functions
    assert [x.modelId for x in t.getListings(0, 10).call()] == [a, b, c]
    assert [x.modelId for x in t.getListings(1, 1).call()] == [b]
    assert t.getListings(3, 10).call() == [] and t.getListings(2**256 - 1, 2**256 - 1).call() == []
    assert [x.modelId for x in t.getListings(1, 10**40).call()] == [b, c]
    assert [x.modelId for x in t.getModelsByCategory(2, 0, 10).call()] == [a, b]
    assert [x.modelId for x in t.getModelsByCategory(2, 1, 10).call()] == [b]
    assert t.getModelsByCategory(7, 0, 10).call() == []
    assert [x.modelId for x in t.getModelsByOwner(seller.address, 0, 10).call()] == [a, c]
    assert [x.modelId for x in t.getModelsByOwner(other.address, 0, 10).call()] == [b]
    chain.send(market.functions.purchaseAccess(a, 1), other, 100)
    chain.send(market.functions.purchaseAccess(c, 2), other, 200)
    assert market.functions.purchaseCount(other.address).call() == 2
    assert [p.modelId for p in t.getPurchaseHistory(other.address, 1, 5).call()] == [c]
    assert t.getPurchaseHistory(seller.address, 0, 5).call() == []
    assert chain.revert_of(market.functions.getListing(b"\x0c" * 32), other).name == "NotListed"


# ------------------------------------------------------------------------------- re-entrancy


def test_reentrant_buyer_gets_one_refund(
    chain: ChainUnderTest, market: Contract, listed: bytes
) -> None:
    attacker = Reentrant.deploy(chain, chain.users[9])
    buy = market.functions.purchaseAccess(listed, 1)
    # On the refund, try to buy again (and, separately, to withdraw): both are nonReentrant.
    attacker.arm(buy)
    before = chain.balance(market.address)
    attacker.act(buy, 1_000)
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, attacker.received_total) == (1, 900)
    assert chain.balance(attacker.address) == 900
    assert chain.balance(market.address) - before == 100
    assert market.functions.purchasedUnits(listed, attacker.address).call() == 1
    assert chain.balance(market.address) == market.functions.totalCredits().call()
    # A buyer that bubbles the failed re-entry makes its own purchase revert, nothing changes.
    attacker.arm(buy, bubble=True)
    with pytest.raises(Reverted) as info:
        attacker.act(buy, 1_000)
    assert info.value.error.name == "PaymentFailed"
    assert info.value.error.args == {"payee": attacker.address, "amount": 900}
    assert market.functions.purchasedUnits(listed, attacker.address).call() == 1


def test_reentrant_seller_cannot_withdraw_twice(chain: ChainUnderTest, market: Contract) -> None:
    attacker = Reentrant.deploy(chain, chain.users[9])
    mid = register_model(chain, attacker, "evil")
    attacker.act(
        market.functions.listModel(listing_input(mid, base=ETHER + 7, discount=ETHER + 7, bulk=1))
    )
    for user in chain.users[1:3]:
        chain.send(market.functions.purchaseAccess(mid, 1), user, ETHER + 7)
    share = 2 * (ETHER + 7 - platform_fee(ETHER + 7))
    assert market.functions.creditOf(attacker.address).call() == share
    attacker.arm(market.functions.withdraw(attacker.address))
    chain.withdraw_exactly(market, attacker.address, share, by=chain.users[4])
    attacker.assert_reentry_blocked()
    assert (attacker.received_count, chain.balance(attacker.address)) == (1, share)
    assert market.functions.creditOf(attacker.address).call() == 0
    assert chain.balance(market.address) == market.functions.totalCredits().call()
    assert market.functions.totalCredits().call() == 2 * platform_fee(ETHER + 7)


# ------------------------------------------------------------------------------- invariant

_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("buy"),
            st.integers(1, 5),  # buyer
            st.integers(0, 2),  # listing
            st.integers(1, 12),  # quantity
            st.sampled_from([0, 1, 39, 10**18 + 7]),  # excess
        ),
        st.tuples(st.just("withdraw"), st.integers(0, 6), st.just(0), st.just(0), st.just(0)),
    ),
    min_size=3,
    max_size=8,
)
_PRICES = [(1, 1, 1), (39, 17, 3), (10**18 + 7, 10**18 - 3, 10)]
_SELLER_INDEX = [0, 6, 0]


@pytest.fixture
def three_listings(chain: ChainUnderTest) -> list[tuple[bytes, str]]:
    """Three (model id, seller) listings, set up once for all hypothesis examples of a test."""
    return [
        (
            list_model(chain, chain.users[i], f"m{n}", base=b, discount=d, bulk=k),
            chain.users[i].address,
        )
        for n, (i, (b, d, k)) in enumerate(zip(_SELLER_INDEX, _PRICES, strict=True))
    ]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=_STEPS)
def test_balance_always_equals_total_credits(
    chain: ChainUnderTest,
    three_listings: list[tuple[bytes, str]],
    steps: list[tuple[str, int, int, int, int]],
) -> None:
    market = chain.contract("ModelMarketplace")
    f = market.functions
    snapshot = chain.snapshot()  # each example starts from the same three listings
    try:
        owed: dict[str, int] = {}
        for action, who, which, quantity, excess in steps:
            if action == "buy":
                base, discount, bulk = _PRICES[which]
                total = (discount if quantity >= bulk else base) * quantity
                fee = platform_fee(total)
                model, seller = three_listings[which]
                chain.send(f.purchaseAccess(model, quantity), chain.users[who], total + excess)
                owed[chain.treasury.address] = owed.get(chain.treasury.address, 0) + fee
                owed[seller] = owed.get(seller, 0) + total - fee
            else:
                payee = chain.treasury.address if who == 0 else chain.users[who].address
                if f.creditOf(payee).call():
                    chain.send(f.withdraw(payee), chain.users[who])
                    owed[payee] = 0
            for payee, amount in owed.items():
                assert f.creditOf(payee).call() == amount
            assert chain.balance(market.address) == f.totalCredits().call() == sum(owed.values())
    finally:
        chain.revert_to(snapshot)
