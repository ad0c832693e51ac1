"""The marketplace tools against a real devnet.

Models are registered with `deploy_model` (small files with GGUF's magic bytes) and listed by a
`listModel` transaction built from the ABI and run through the same approval path the agent
uses. Chain state is checked independently with web3.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from citrate_agent.actions import TxPlan, execute, prepare
from citrate_agent.errors import AgentError, ToolArgumentError, TransactionRevertedError
from citrate_agent.tools.models import marketplace

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SALT = 10**18


@pytest.fixture
def market(system_contract_w3: Any) -> Any:
    """The ModelMarketplace, through web3."""
    return system_contract_w3("ModelMarketplace")


def _list(ctx: Any, model_id: str, *, price: int, bulk: int, bulk_size: int, category: int) -> None:
    contract = marketplace(ctx)
    data = contract.encode(
        "listModel",
        {
            "modelId": model_id,
            "basePrice": price,
            "discountPrice": bulk,
            "minimumBulkSize": bulk_size,
            "category": category,
            "metadataURI": "ipfs://listing-" + model_id[2:10],
        },
    )
    action = prepare(
        ctx,
        tool="test",
        kind="write",
        title="list a model",
        details={},
        txs=[TxPlan(contract.address, data, 0, "listModel", contract.abis, "ModelMarketplace")],
        finish=lambda ctx, receipts: {"status": receipts[0]["status"]},
    )
    assert execute(ctx, action.id) == {"status": "0x1"}


@pytest.fixture
def listed(agent_ctx: Any, deploy_model: Any) -> dict[str, Any]:
    """A registered vision model listed at 0.5 SALT a unit, 0.3 from 10 units."""
    word = "owl" + secrets.token_hex(3)
    model = deploy_model(
        name=f"visionary-{secrets.token_hex(4)}",
        description=f"detects {word} in photos",
        tags=["vision", "detector"],
    )
    _list(
        agent_ctx,
        model["model_id"],
        price=SALT // 2,
        bulk=3 * SALT // 10,
        bulk_size=10,
        category=1,
    )
    return {**model, "word": word}


def test_search_marketplace_finds_listings(run_tool: Any, listed: dict[str, Any]) -> None:
    found = run_tool("search_marketplace", query=listed["word"])
    assert found["count"] == 1
    [hit] = found["results"]
    assert hit["model_id"] == listed["model_id"] and hit["name"] == listed["name"]
    assert hit["price_salt"] == "0.5" and hit["bulk_price_salt"] == "0.3"
    assert hit["category_name"] == "vision" and hit["active"] is True
    assert hit["seller"] == DEV0
    # Every word must match: name, description and tags are searched.
    assert run_tool("search_marketplace", query=f"{listed['word']} detector")["count"] == 1
    assert run_tool("search_marketplace", query=f"{listed['word']} audio")["count"] == 0
    # Filters.
    assert run_tool("search_marketplace", query=listed["word"], category="audio")["count"] == 0
    assert run_tool("search_marketplace", query=listed["word"], category=1)["count"] == 1
    assert run_tool("search_marketplace", query=listed["word"], max_price="0.4")["count"] == 0
    assert run_tool("search_marketplace", query=listed["word"], max_price="0.5")["count"] == 1
    everything = run_tool("search_marketplace", limit=100)
    assert everything["total_listings"] >= 1
    assert everything["count"] == min(everything["matches"], 100)
    with pytest.raises(ToolArgumentError, match="not a category"):
        run_tool("search_marketplace", category="astrology")
    with pytest.raises(ToolArgumentError, match="category"):
        run_tool("search_marketplace", category=11)


def test_get_listing_quotes_and_reports(run_tool: Any, listed: dict[str, Any]) -> None:
    for ref in (listed["model_id"], listed["name"]):
        info = run_tool("get_listing", model=ref)
        assert info["model_id"] == listed["model_id"]
        assert info["quote"]["quantity"] == 1 and info["quote"]["total_salt"] == "0.5"
        assert info["quote"]["bulk_discount"] is False
        assert info["average_rating"] is None and info["review_count"] == 0
        assert info["recent_reviews"] == []
        assert info["model"]["cid"] == listed["cid"]
    bulk = run_tool("get_listing", model=listed["model_id"], quantity=10)
    assert bulk["quote"]["bulk_discount"] is True
    assert bulk["quote"]["unit_price_salt"] == "0.3" and bulk["quote"]["total_salt"] == "3"
    # get_model_info shows the listing too.
    info = run_tool("get_model_info", model=listed["model_id"])
    assert info["listing"]["price_salt"] == "0.5" and info["listing"]["category"] == 1


def test_browse_category_pages(run_tool: Any, listed: dict[str, Any], market: Any) -> None:
    total = market.functions.categoryCount(1).call()
    page = run_tool("browse_category", category="vision", limit=100)
    assert page["total"] == total and page["category"] == 1
    ids = [entry["model_id"] for entry in page["listings"]]
    assert listed["model_id"] in ids and len(ids) == min(total, 100)
    [entry] = [e for e in page["listings"] if e["model_id"] == listed["model_id"]]
    assert entry["name"] == listed["name"]
    last = run_tool("browse_category", category=1, offset=total - 1, limit=5)
    assert len(last["listings"]) == 1 and last["next_offset"] is None
    first = run_tool("browse_category", category=1, offset=0, limit=1)
    assert first["next_offset"] == (1 if total > 1 else None)
    empty = run_tool("browse_category", category="tabular", offset=10**6)
    assert empty["listings"] == []


def test_purchase_access_pays_exactly_the_quote(
    run_tool: Any, approve: Any, listed: dict[str, Any], w3: Any, market: Any
) -> None:
    model_id = bytes.fromhex(listed["model_id"][2:])
    units = market.functions.purchasedUnits(model_id, DEV0).call()
    nonce = w3.eth.get_transaction_count(DEV0)

    action = run_tool("purchase_access", model=listed["model_id"], quantity=10)
    assert action.kind == "purchase"
    assert action.value_wei == 3 * SALT  # bulk price 0.3 x 10: exactly the quote
    assert action.details["total_salt"] == "3" and action.details["bulk_discount"] is True
    assert w3.eth.get_transaction_count(DEV0) == nonce  # prepared only

    before = w3.eth.get_balance(DEV0)
    result = approve(action)
    receipt = w3.eth.get_transaction_receipt(result["tx_hash"])
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(DEV0) == before - 3 * SALT - gas
    assert result["total_paid_salt"] == "3" and result["quantity"] == 10
    assert result["marketplace_fee_salt"] == "0.075"  # 2.5 %
    assert int(result["units_owned"]) == units + 10
    assert market.functions.purchasedUnits(model_id, DEV0).call() == units + 10
    listing = run_tool("get_listing", model=listed["model_id"])
    assert listing["total_sales"] == "1" and listing["total_units"] == "10"


def test_marketplace_errors_send_nothing(
    run_tool: Any, agent_ctx: Any, w3: Any, deploy_model: Any
) -> None:
    nonce = w3.eth.get_transaction_count(DEV0)
    unknown = "0x" + secrets.token_hex(32)
    with pytest.raises(AgentError, match="no model with id"):
        run_tool("get_listing", model=unknown)
    with pytest.raises(AgentError, match="no model with id"):
        run_tool("purchase_access", model=unknown)
    with pytest.raises(ToolArgumentError, match="quantity"):
        run_tool("purchase_access", model=unknown, quantity=0)
    assert w3.eth.get_transaction_count(DEV0) == nonce

    unlisted = deploy_model(name=f"unlisted-{secrets.token_hex(4)}")
    nonce = w3.eth.get_transaction_count(DEV0)
    with pytest.raises(AgentError, match="not listed on the marketplace"):
        run_tool("get_listing", model=unlisted["model_id"])
    with pytest.raises(AgentError, match="not listed on the marketplace"):
        run_tool("purchase_access", model=unlisted["name"])
    # Listing it twice is refused by the contract, decoded.
    _list(agent_ctx, unlisted["model_id"], price=SALT, bulk=SALT, bulk_size=1, category=4)
    with pytest.raises(TransactionRevertedError, match="AlreadyListed"):
        _list(agent_ctx, unlisted["model_id"], price=SALT, bulk=SALT, bulk_size=1, category=4)
    assert w3.eth.get_transaction_count(DEV0) == nonce + 1
    # Above the session's spending limit (100 SALT): refused before anything is sent.
    with pytest.raises(AgentError, match="spending limit"):
        run_tool("purchase_access", model=unlisted["model_id"], quantity=200)
    assert w3.eth.get_transaction_count(DEV0) == nonce + 1
