// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @title ColorCirclesNFT: an example ERC-721 whose art lives entirely on-chain
/// @notice 256 tokens, free to mint (one at a time or up to `MAX_BATCH` per call). Each token is
/// a circle whose colour and radius derive from its id; `tokenURI` returns base64 JSON metadata
/// embedding a base64 SVG image, so no server or IPFS is needed.
/// @dev Token ids run from 1 to `MAX_SUPPLY`. Minting uses `_safeMint`: the id is taken before the
/// receiver hook runs, and the supply is checked per token, so a receiver that mints again from its
/// hook cannot exceed the supply or reuse an id. The contract holds no funds.
contract ColorCirclesNFT is ERC721 {
    using Strings for uint256;

    /// @notice Number of tokens that can ever exist.
    uint256 public constant MAX_SUPPLY = 256;
    /// @notice Most tokens one `mintBatch` call may mint.
    uint256 public constant MAX_BATCH = 10;

    bytes16 private constant _HEX = "0123456789abcdef";

    uint256 private _minted;

    /// @notice Only `remaining` of the 256 tokens are left, fewer than the `requested`; mint at most what is left.
    error SoldOut(uint256 requested, uint256 remaining);
    /// @notice A batch mints 1 to `max` tokens.
    error InvalidBatchSize(uint256 count, uint256 max);

    /// @notice Deploy the "Color Circles" (CIRCLES) collection.
    constructor() ERC721("Color Circles", "CIRCLES") {}

    /// @notice Mint the next token to yourself (free); returns its id.
    function mint() external returns (uint256 tokenId) {
        if (_minted >= MAX_SUPPLY) revert SoldOut(1, 0);
        tokenId = _mintNext(msg.sender);
    }

    /// @notice Mint the next `count` tokens (1 to `MAX_BATCH`) to yourself (free); returns the first id.
    function mintBatch(uint256 count) external returns (uint256 firstId) {
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        if (_minted + count > MAX_SUPPLY) revert SoldOut(count, MAX_SUPPLY - _minted);
        firstId = _minted + 1;
        for (uint256 i; i < count; ++i) {
            _mintNext(msg.sender);
        }
    }

    /// @notice Number of tokens minted so far.
    function totalSupply() external view returns (uint256) {
        return _minted;
    }

    /// @notice The colour of `tokenId` as "#rrggbb".
    function getColor(uint256 tokenId) public view returns (string memory) {
        _requireOwned(tokenId);
        return _color(tokenId);
    }

    /// @notice The radius (20 to 45) of `tokenId`'s circle in a 100 × 100 view box.
    function getRadius(uint256 tokenId) public view returns (uint256) {
        _requireOwned(tokenId);
        return _radius(tokenId);
    }

    /// @notice The SVG image of `tokenId`.
    function generateSVG(uint256 tokenId) public view returns (string memory) {
        _requireOwned(tokenId);
        return _svg(tokenId);
    }

    /// @notice Metadata of `tokenId`: `data:application/json;base64,` JSON with name, description,
    /// a base64 SVG image and Color/Radius attributes.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        string memory color = _color(tokenId);
        string memory id = tokenId.toString();
        bytes memory json = abi.encodePacked(
            '{"name":"Color Circle #',
            id,
            '","description":"One of 256 Color Circles, drawn entirely on-chain.","image":"data:image/svg+xml;base64,',
            Base64.encode(bytes(_svg(tokenId))),
            '","attributes":[{"trait_type":"Color","value":"',
            color,
            '"},{"trait_type":"Radius","value":',
            _radius(tokenId).toString(),
            "}]}"
        );
        return string.concat("data:application/json;base64,", Base64.encode(json));
    }

    function _mintNext(address to) private returns (uint256 tokenId) {
        if (_minted >= MAX_SUPPLY) revert SoldOut(1, 0);
        tokenId = ++_minted;
        _safeMint(to, tokenId);
    }

    function _seed(uint256 tokenId) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked("Color Circles", tokenId)));
    }

    function _color(uint256 tokenId) private pure returns (string memory) {
        uint256 rgb = _seed(tokenId) & 0xffffff;
        bytes memory out = new bytes(7);
        out[0] = "#";
        for (uint256 i = 6; i > 0; --i) {
            out[i] = _HEX[rgb & 0xf];
            rgb >>= 4;
        }
        return string(out);
    }

    function _radius(uint256 tokenId) private pure returns (uint256) {
        return 20 + ((_seed(tokenId) >> 24) % 26);
    }

    function _svg(uint256 tokenId) private pure returns (string memory) {
        return string.concat(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">',
            '<rect width="100" height="100" fill="#ffffff"/>',
            '<circle cx="50" cy="50" r="',
            _radius(tokenId).toString(),
            '" fill="',
            _color(tokenId),
            '"/></svg>'
        );
    }
}
