"""ColorCirclesNFT: minting, supply cap, on-chain SVG and base64 JSON metadata, receiver hooks."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET

import pytest
from eth_utils import keccak
from web3.contract import Contract

from .harness import ZERO_ADDRESS, ChainUnderTest, Reverted

MAX_SUPPLY = 256
SVG_NS = "{http://www.w3.org/2000/svg}"

RECEIVER = """
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface ICircles {
    function mint() external returns (uint256);
    function mintBatch(uint256 count) external returns (uint256);
}

/// Receives tokens; on each receipt it may mint again from inside the hook (re-entering the
/// collection) or refuse the token.
contract Receiver {
    ICircles public immutable nft;
    uint256 public reentries;
    uint256 public maxReentries;
    bool public refuse;
    uint256[] public received;

    constructor(address nft_) { nft = ICircles(nft_); }

    function configure(uint256 maxReentries_, bool refuse_) external {
        maxReentries = maxReentries_;
        refuse = refuse_;
    }

    function mint() external returns (uint256) { return nft.mint(); }

    function mintBatch(uint256 n) external returns (uint256) { return nft.mintBatch(n); }

    function receivedCount() external view returns (uint256) { return received.length; }

    function onERC721Received(address, address, uint256 tokenId, bytes calldata)
        external returns (bytes4)
    {
        if (refuse) return 0xdeadbeef;
        received.push(tokenId);
        if (reentries < maxReentries) {
            reentries += 1;
            nft.mint();
        }
        return this.onERC721Received.selector;
    }
}
"""


def deploy_receiver(chain: ChainUnderTest, nft: Contract) -> Contract:
    return chain.deploy_source(RECEIVER, "Receiver", chain.users[3], nft.address)


def seed(token_id: int) -> int:
    return int.from_bytes(keccak(b"Color Circles" + token_id.to_bytes(32, "big")), "big")


def color(token_id: int) -> str:
    return f"#{seed(token_id) & 0xFFFFFF:06x}"


def radius(token_id: int) -> int:
    return 20 + (seed(token_id) >> 24) % 26


@pytest.fixture
def nft(chain: ChainUnderTest) -> Contract:
    return chain.contract("ColorCirclesNFT")


def mint_all(chain: ChainUnderTest, nft: Contract, until: int = MAX_SUPPLY) -> None:
    minted = nft.functions.totalSupply().call()
    while minted < until:
        n = min(10, until - minted)
        chain.send(nft.functions.mintBatch(n), chain.users[minted % 5])
        minted += n


# --------------------------------------------------------------------------- collection


def test_collection(chain: ChainUnderTest, nft: Contract) -> None:
    assert nft.functions.name().call() == "Color Circles"
    assert nft.functions.symbol().call() == "CIRCLES"
    assert nft.functions.MAX_SUPPLY().call() == MAX_SUPPLY
    assert nft.functions.MAX_BATCH().call() == 10
    assert nft.functions.totalSupply().call() == 0
    for interface, expected in (
        ("0x01ffc9a7", True),  # ERC-165
        ("0x80ac58cd", True),  # ERC-721
        ("0x5b5e139f", True),  # ERC-721 metadata
        ("0x780e9d63", False),  # ERC-721 enumerable (not implemented)
    ):
        assert nft.functions.supportsInterface(bytes.fromhex(interface[2:])).call() is expected
    assert chain.balance(nft.address) == 0


def test_mint(chain: ChainUnderTest, nft: Contract) -> None:
    u = chain.users[0]
    assert nft.functions.mint().call({"from": u.address}) == 1
    receipt = chain.send(nft.functions.mint(), u)
    assert chain.events(receipt, nft, "Transfer") == [
        {"from": ZERO_ADDRESS, "to": u.address, "tokenId": 1}
    ]
    assert nft.functions.ownerOf(1).call() == u.address
    assert nft.functions.balanceOf(u.address).call() == 1
    assert nft.functions.totalSupply().call() == 1
    receipt = chain.send(nft.functions.mint(), chain.users[1])
    assert chain.events(receipt, nft, "Transfer")[0]["tokenId"] == 2


def test_mint_is_free_and_takes_no_value(chain: ChainUnderTest, nft: Contract) -> None:
    err = chain.revert_of(nft.functions.mint(), chain.users[0], value=1)
    assert err.name == "empty"  # non-payable: the call is refused before any code runs


def test_mint_batch(chain: ChainUnderTest, nft: Contract) -> None:
    u = chain.users[0]
    chain.send(nft.functions.mint(), chain.users[1])
    assert nft.functions.mintBatch(3).call({"from": u.address}) == 2
    receipt = chain.send(nft.functions.mintBatch(3), u)
    assert chain.events(receipt, nft, "Transfer") == [
        {"from": ZERO_ADDRESS, "to": u.address, "tokenId": i} for i in (2, 3, 4)
    ]
    assert nft.functions.balanceOf(u.address).call() == 3
    assert nft.functions.totalSupply().call() == 4
    chain.send(nft.functions.mintBatch(10), u)
    assert nft.functions.totalSupply().call() == 14
    for bad in (0, 11, 2**256 - 1):
        err = chain.revert_of(nft.functions.mintBatch(bad), u)
        assert (err.name, err.args) == ("InvalidBatchSize", {"count": bad, "max": 10})


def test_supply_is_capped_at_256(chain: ChainUnderTest, nft: Contract) -> None:
    mint_all(chain, nft, MAX_SUPPLY - 1)
    err = chain.revert_of(nft.functions.mintBatch(2), chain.users[0])
    assert (err.name, err.args) == ("SoldOut", {"requested": 2, "remaining": 1})
    receipt = chain.send(nft.functions.mint(), chain.users[0])
    assert chain.events(receipt, nft, "Transfer")[0]["tokenId"] == MAX_SUPPLY
    assert nft.functions.totalSupply().call() == MAX_SUPPLY
    err = chain.revert_of(nft.functions.mint(), chain.users[0])
    assert (err.name, err.args) == ("SoldOut", {"requested": 1, "remaining": 0})
    assert err.message == (
        "SoldOut: Only 0 of the 256 tokens are left, fewer than the 1; mint at most what is left."
    )
    err = chain.revert_of(nft.functions.mintBatch(1), chain.users[0])
    assert (err.name, err.args) == ("SoldOut", {"requested": 1, "remaining": 0})
    # Every id from 1 to 256 exists exactly once.
    assert len({nft.functions.getColor(i).call() for i in (1, 128, 256)}) == 3
    err = chain.revert_of(nft.functions.ownerOf(257), chain.users[0])
    assert err.name == "ERC721NonexistentToken"


# --------------------------------------------------------------------------- art and metadata


def test_color_radius_and_svg(chain: ChainUnderTest, nft: Contract) -> None:
    chain.send(nft.functions.mintBatch(10), chain.users[0])
    for token_id in range(1, 11):
        c = nft.functions.getColor(token_id).call()
        assert re.fullmatch(r"#[0-9a-f]{6}", c)
        assert c == color(token_id)
        r = nft.functions.getRadius(token_id).call()
        assert r == radius(token_id) and 20 <= r <= 45
        svg = nft.functions.generateSVG(token_id).call()
        root = ET.fromstring(svg)  # noqa: S314 (our own contract's output)
        assert root.tag == f"{SVG_NS}svg" and root.attrib["viewBox"] == "0 0 100 100"
        rect, circle = list(root)
        assert rect.tag == f"{SVG_NS}rect" and rect.attrib["fill"] == "#ffffff"
        assert circle.tag == f"{SVG_NS}circle"
        assert circle.attrib == {"cx": "50", "cy": "50", "r": str(r), "fill": c}


def test_token_uri_is_base64_json_with_base64_svg(chain: ChainUnderTest, nft: Contract) -> None:
    chain.send(nft.functions.mintBatch(2), chain.users[0])
    for token_id in (1, 2):
        uri = nft.functions.tokenURI(token_id).call()
        prefix = "data:application/json;base64,"
        assert uri.startswith(prefix)
        meta = json.loads(base64.b64decode(uri[len(prefix) :], validate=True))
        assert meta["name"] == f"Color Circle #{token_id}"
        assert meta["description"] == "One of 256 Color Circles, drawn entirely on-chain."
        image_prefix = "data:image/svg+xml;base64,"
        assert meta["image"].startswith(image_prefix)
        svg = base64.b64decode(meta["image"][len(image_prefix) :], validate=True).decode()
        assert svg == nft.functions.generateSVG(token_id).call()
        circle = ET.fromstring(svg).find(f"{SVG_NS}circle")  # noqa: S314 (our own output)
        assert circle is not None and circle.attrib["fill"] == color(token_id)
        assert meta["attributes"] == [
            {"trait_type": "Color", "value": color(token_id)},
            {"trait_type": "Radius", "value": radius(token_id)},
        ]
        assert set(meta) == {"name", "description", "image", "attributes"}


@pytest.mark.parametrize("view", ["getColor", "getRadius", "generateSVG", "tokenURI", "ownerOf"])
def test_views_reject_nonexistent_tokens(chain: ChainUnderTest, nft: Contract, view: str) -> None:
    chain.send(nft.functions.mint(), chain.users[0])
    for token_id in (0, 2, 2**256 - 1):
        err = chain.revert_of(getattr(nft.functions, view)(token_id), chain.users[0])
        assert (err.name, err.args) == ("ERC721NonexistentToken", {"tokenId": token_id})


def test_transfer(chain: ChainUnderTest, nft: Contract) -> None:
    a, b = chain.users[0], chain.users[1]
    chain.send(nft.functions.mint(), a)
    err = chain.revert_of(nft.functions.transferFrom(a.address, b.address, 1), b)
    assert err.name == "ERC721InsufficientApproval"
    assert err.args == {"operator": b.address, "tokenId": 1}
    receipt = chain.send(nft.functions.transferFrom(a.address, b.address, 1), a)
    assert chain.events(receipt, nft, "Transfer") == [
        {"from": a.address, "to": b.address, "tokenId": 1}
    ]
    assert nft.functions.ownerOf(1).call() == b.address
    assert nft.functions.getColor(1).call() == color(1)  # the art follows the id, not the owner


# --------------------------------------------------------------------------- receiver hooks


def test_receiver_minting_from_its_hook_cannot_reuse_ids(
    chain: ChainUnderTest, nft: Contract
) -> None:
    rec = deploy_receiver(chain, nft)
    chain.send(rec.functions.configure(3, False), chain.users[3])
    chain.send(rec.functions.mintBatch(2), chain.users[3])
    # Two batch tokens plus three minted from inside the first hooks: ids 1..5, each once.
    assert nft.functions.totalSupply().call() == 5
    assert nft.functions.balanceOf(rec.address).call() == 5
    got = [rec.functions.received(i).call() for i in range(rec.functions.receivedCount().call())]
    assert sorted(got) == [1, 2, 3, 4, 5]
    for token_id in range(1, 6):
        assert nft.functions.ownerOf(token_id).call() == rec.address


def test_receiver_cannot_exceed_the_supply_from_its_hook(
    chain: ChainUnderTest, nft: Contract
) -> None:
    mint_all(chain, nft, MAX_SUPPLY - 2)
    rec = deploy_receiver(chain, nft)
    chain.send(rec.functions.configure(1, False), chain.users[3])
    # The batch checks that 2 fit, but the hook of token 255 mints 256 first: the batch's second
    # token would be 257, so the whole call reverts.
    with pytest.raises(Reverted) as info:
        chain.send(rec.functions.mintBatch(2), chain.users[3])
    assert info.value.error.name == "SoldOut"
    assert nft.functions.totalSupply().call() == MAX_SUPPLY - 2
    chain.send(rec.functions.configure(0, False), chain.users[3])
    chain.send(rec.functions.mintBatch(2), chain.users[3])
    assert nft.functions.totalSupply().call() == MAX_SUPPLY


def test_receiver_that_refuses_gets_nothing(chain: ChainUnderTest, nft: Contract) -> None:
    rec = deploy_receiver(chain, nft)
    chain.send(rec.functions.configure(0, True), chain.users[3])
    with pytest.raises(Reverted) as info:
        chain.send(rec.functions.mint(), chain.users[3])
    assert info.value.error.name == "ERC721InvalidReceiver"
    assert info.value.error.args == {"receiver": rec.address}
    assert nft.functions.totalSupply().call() == 0
