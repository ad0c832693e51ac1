"""Marketplace tools: search and browse model listings, read one, and buy access.

Listings live in the ModelMarketplace system contract, keyed by the ModelRegistry's model id:
the owner of an active registered model lists it with a unit price, an optional bulk price
from a minimum quantity, a category (0-10) and a metadata URI. Buying `quantity` units charges
`quote(modelId, quantity)`; 2.5 % goes to the treasury and the rest to the owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citrate_agent._contracts import CATEGORIES, category_name, listing_json
from citrate_agent.actions import PreparedAction, TxPlan
from citrate_agent.actions import prepare as prepare_action
from citrate_agent.errors import AgentError, ToolArgumentError, TransactionRevertedError
from citrate_agent.schema import AMOUNT, object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_agent.tools.models import (
    MARKETPLACE,
    PAGE_SIZE,
    all_models,
    get_chain_model,
    marketplace,
    model_json,
    registry,
)
from citrate_agent.units import parse_amount, salt

#: Category numbers as the contract defines them (`MAX_CATEGORY` = 10).
#: Most listings a search reads.
MAX_LISTINGS = 2000
RECENT_REVIEWS = 5


def category_number(tool: str, value: str | int) -> int:
    """A category given by number or name ("vision", "image generation") as its number."""
    if isinstance(value, int):
        if 0 <= value < len(CATEGORIES):
            return value
    else:
        text = value.strip().lower().replace("_", "-").replace(" ", "-")
        if text.isdigit() and int(text) < len(CATEGORIES):
            return int(text)
        if text in CATEGORIES:
            return CATEGORIES.index(text)
    listed = ", ".join(f"{i} {name}" for i, name in enumerate(CATEGORIES))
    raise ToolArgumentError(tool, [f"category: `{value}` is not a category; use one of {listed}"])


def _summary(listing: Mapping[str, Any], model: Mapping[str, Any] | None) -> dict[str, Any]:
    out = listing_json(listing)
    if model is not None:
        out.update(
            {
                "name": model["name"],
                "version": model["version"],
                "framework": model["framework"],
                "model_active": bool(model["active"]),
                "description": model["metadata"]["description"],
                "tags": list(model["metadata"]["tags"]),
                "inference_price_salt": salt(int(model["inferencePrice"])),
            }
        )
    return out


def _all_listings(ctx: ToolContext) -> tuple[list[dict[str, Any]], int]:
    market = marketplace(ctx)
    total = int(market.call(ctx, "listingCount"))
    listings: list[dict[str, Any]] = []
    while len(listings) < min(total, MAX_LISTINGS):
        page = market.call(ctx, "getListings", len(listings), PAGE_SIZE)
        if not page:
            break
        listings.extend(page)
    return listings, total


def _matches(terms: list[str], model: Mapping[str, Any] | None) -> bool:
    if not terms:
        return True
    if model is None:
        return False
    meta = model["metadata"]
    haystack = " ".join([model["name"], meta["description"], *meta["tags"]]).lower()
    return all(term in haystack for term in terms)


def search_marketplace(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Listings whose model matches every query word, filtered by category, price, state."""
    query = str(args.get("query", "")).strip()
    terms = [t.lower() for t in query.split()]
    category = (
        category_number("search_marketplace", args["category"]) if "category" in args else None
    )
    max_price = parse_amount(args["max_price"]) if "max_price" in args else None
    only_active = bool(args.get("only_active", True))
    limit = int(args.get("limit", 20))
    listings, total = _all_listings(ctx)
    models = {m["modelId"]: m for m in all_models(ctx)[0]}
    results = []
    for listing in listings:
        model = models.get(listing["modelId"])
        if category is not None and int(listing["category"]) != category:
            continue
        if max_price is not None and int(listing["basePrice"]) > max_price:
            continue
        if only_active and not (listing["active"] and model is not None and model["active"]):
            continue
        if not _matches(terms, model):
            continue
        results.append(_summary(listing, model))
    # Best rated first, then most sold: what a buyer looks at first.
    results.sort(key=lambda r: (r["average_rating"] or 0, int(r["total_sales"])), reverse=True)
    return {
        "query": query,
        "category": category_name(category) if category is not None else None,
        "max_price_salt": salt(max_price) if max_price is not None else None,
        "only_active": only_active,
        "count": min(len(results), limit),
        "matches": len(results),
        "results": results[:limit],
        "total_listings": total,
    }


def _listed(ctx: ToolContext, model_id: str, name: str) -> dict[str, Any]:
    market = marketplace(ctx)
    if not market.call(ctx, "isListed", model_id):
        raise AgentError(
            f"model `{name}` ({model_id}) is not listed on the marketplace",
            hint="`search_marketplace` lists what is for sale; only the model's owner can list it",
        )
    listing: dict[str, Any] = market.call(ctx, "getListing", model_id)
    return listing


def get_listing(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """One listing with its quote, rating, recent reviews and the registry record."""
    model = get_chain_model(ctx, str(args["model"]))
    model_id = model["modelId"]
    quantity = int(args.get("quantity", 1))
    listing = _listed(ctx, model_id, model["name"])
    market = marketplace(ctx)
    quote = market.call(ctx, "quote", model_id, quantity)
    review_total = int(market.call(ctx, "reviewCount", model_id))
    start = max(0, review_total - RECENT_REVIEWS)
    reviews = market.call(ctx, "getModelReviews", model_id, start, RECENT_REVIEWS)
    out = listing_json(listing)
    out["average_rating"] = (
        round(int(market.call(ctx, "averageRating", model_id)) / 100, 2)
        if int(listing["reviewCount"])
        else None
    )
    wallet = ctx.wallet.address if ctx.wallet is not None else None
    out.update(
        {
            "name": model["name"],
            "version": model["version"],
            "quote": {
                "quantity": quantity,
                "unit_price_wei": str(quote["unitPrice"]),
                "unit_price_salt": salt(int(quote["unitPrice"])),
                "total_wei": str(quote["total"]),
                "total_salt": salt(int(quote["total"])),
                "bulk_discount": bool(quote["bulkDiscount"]),
            },
            "recent_reviews": [
                {
                    "reviewer": r["reviewer"],
                    "rating": int(r["rating"]),
                    "verified": bool(r["verified"]),
                    "timestamp": int(r["timestamp"]),
                    "comment": r["comment"],
                }
                for r in reversed(reviews)
            ],
            "wallet_units_purchased": (
                str(market.call(ctx, "purchasedUnits", model_id, wallet)) if wallet else None
            ),
            "model": model_json(model, full=True),
        }
    )
    return out


def browse_category(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """One page of the listings in a category, with each model's name."""
    category = category_number("browse_category", args["category"])
    offset = int(args.get("offset", 0))
    limit = int(args.get("limit", 20))
    market = marketplace(ctx)
    reg = registry(ctx)
    total = int(market.call(ctx, "categoryCount", category))
    page = market.call(ctx, "getModelsByCategory", category, offset, limit)
    listings = [
        _summary(listing, reg.call(ctx, "getModel", listing["modelId"])) for listing in page
    ]
    return {
        "category": category,
        "category_name": category_name(category),
        "offset": offset,
        "limit": limit,
        "total": total,
        "next_offset": offset + len(listings) if offset + len(listings) < total else None,
        "listings": listings,
    }


def purchase_access(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare buying `quantity` units of a listed model for exactly the quoted total."""
    model = get_chain_model(ctx, str(args["model"]))
    model_id = model["modelId"]
    quantity = int(args.get("quantity", 1))
    listing = _listed(ctx, model_id, model["name"])
    market = marketplace(ctx)
    try:
        quote = market.call(ctx, "quote", model_id, quantity)
    except TransactionRevertedError as exc:
        raise AgentError(
            f"no price for {quantity} units of `{model['name']}`: {exc.reason}",
            hint="buy between 1 and 1,000,000 units",
        ) from None
    total = int(quote["total"])
    buyer = ctx.require_address()
    before = int(market.call(ctx, "purchasedUnits", model_id, buyer))
    tx = TxPlan(
        to=market.address,
        data=market.encode("purchaseAccess", model_id, quantity),
        # The contract charges the price current when it runs and treats the value as the
        # buyer's ceiling: sending exactly the quote shown means it can never charge more.
        value=total,
        description=f"buy {quantity} unit(s) of access to `{model['name']}` for {salt(total)} SALT",
        abis=market.abis,
        contract=MARKETPLACE,
    )

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        events = market.events(receipt, "ModelPurchased")
        bought = events[0] if events else None
        units = int(market.call(ctx, "purchasedUnits", model_id, buyer))
        return {
            "model_id": model_id,
            "name": model["name"],
            "quantity": quantity,
            "unit_price_salt": salt(int(bought["unitPrice"])) if bought else None,
            "total_paid_wei": str(bought["total"]) if bought else str(total),
            "total_paid_salt": salt(int(bought["total"]) if bought else total),
            "marketplace_fee_salt": salt(int(bought["fee"])) if bought else None,
            "bulk_discount": bool(bought["bulkDiscount"]) if bought else None,
            "seller": bought["seller"] if bought else listing["seller"],
            "units_owned": str(units),
            "tx_hash": receipt["transactionHash"],
            "block_number": int(receipt["blockNumber"], 16),
        }

    return prepare_action(
        ctx,
        tool="purchase_access",
        kind="purchase",
        title=f"Buy {quantity} unit(s) of access to `{model['name']}` for {salt(total)} SALT",
        details={
            "model_id": model_id,
            "name": model["name"],
            "version": model["version"],
            "seller": listing["seller"],
            "quantity": quantity,
            "unit_price_wei": str(quote["unitPrice"]),
            "unit_price_salt": salt(int(quote["unitPrice"])),
            "total_wei": str(total),
            "total_salt": salt(total),
            "bulk_discount": bool(quote["bulkDiscount"]),
            "units_owned_before": str(before),
            "note": "2.5 % of the total goes to the marketplace treasury, the rest to the "
            "model's owner; units are recorded on chain for serving services to honour",
        },
        txs=[tx],
        finish=finish,
    )


# ------------------------------------------------------------------------------ schemas

_MODEL = {
    "type": "string",
    "minLength": 1,
    "maxLength": 300,
    "description": "The model: its 0x id (bytes32), its registered name or `name@version`.",
}
_CATEGORY = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": len(CATEGORIES) - 1},
        {"type": "string", "minLength": 1},
    ],
    "description": "A category number or name: "
    + ", ".join(f"{i} {name}" for i, name in enumerate(CATEGORIES))
    + ".",
}
_QUANTITY = {
    "type": "integer",
    "minimum": 1,
    "maximum": 1_000_000,
    "description": "Units of access (default 1); the bulk price applies from the listing's "
    "minimum quantity.",
}

TOOLS: list[Tool] = [
    Tool(
        name="search_marketplace",
        category="marketplace",
        description="Search model listings on the marketplace by words in the model's name, "
        "description or tags, optionally by category and maximum price; returns each "
        "listing's price, rating and sales, best rated first.",
        parameters=object_schema(
            {
                "query": {
                    "type": "string",
                    "maxLength": 200,
                    "description": "Words that must all appear (default: match everything).",
                },
                "category": _CATEGORY,
                "max_price": {**AMOUNT, "description": "Highest unit price in SALT."},
                "only_active": {
                    "type": "boolean",
                    "description": "Only listings on sale for active models (default true).",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "Most results (default 20).",
                },
            }
        ),
        run=search_marketplace,
    ),
    Tool(
        name="get_listing",
        category="marketplace",
        description="Show one model's marketplace listing: price, bulk price, the quote for a "
        "quantity, average rating, recent reviews and the model's registry record.",
        parameters=object_schema({"model": _MODEL, "quantity": _QUANTITY}, required=("model",)),
        run=get_listing,
    ),
    Tool(
        name="browse_category",
        category="marketplace",
        description="List the marketplace listings in one category, a page at a time, with "
        "each model's name, price and rating.",
        parameters=object_schema(
            {
                "category": _CATEGORY,
                "offset": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Listings to skip (default 0).",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "Listings per page (default 20).",
                },
            },
            required=("category",),
        ),
        run=browse_category,
    ),
    Tool(
        name="purchase_access",
        category="marketplace",
        description="Buy units of access to a listed model for exactly the quoted total "
        "(after approval); returns what was paid and the units now owned.",
        parameters=object_schema({"model": _MODEL, "quantity": _QUANTITY}, required=("model",)),
        prepare=purchase_access,
    ),
]

__all__ = [
    "CATEGORIES",
    "TOOLS",
    "browse_category",
    "category_name",
    "category_number",
    "get_listing",
    "listing_json",
    "purchase_access",
    "search_marketplace",
]
