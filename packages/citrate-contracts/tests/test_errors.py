"""Revert data decoded into readable messages, and the rules every shipped contract keeps."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from citrate_contracts.artifacts import artifact_names, load_artifact
from citrate_contracts.errors import ErrorCatalog, decode_revert
from citrate_contracts.system import SYSTEM_CONTRACTS

from .harness import compile_cached

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Shop {
    /// @notice The fee sent is wrong; send exactly `required` wei (sent `sent`).
    error WrongFee(uint256 required, uint256 sent);
    /// @notice Only `owner` may do this.
    error NotOwner(address owner, address caller);
    error Bare(bytes32 id);
    function f() external pure {}
}
"""


def _catalog() -> ErrorCatalog:
    shop = compile_cached(SOURCE).get("Shop")
    catalog = ErrorCatalog()
    catalog.add("Shop", shop.abi, shop.userdoc)
    return catalog


def _data(signature: str, types: list[str], values: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_custom_error_with_notice_renders_its_arguments() -> None:
    data = _data("WrongFee(uint256,uint256)", ["uint256", "uint256"], [10**17, 5])
    decoded = decode_revert("0x" + data.hex(), _catalog())
    assert decoded.name == "WrongFee"
    assert decoded.args == {"required": 10**17, "sent": 5}
    assert decoded.contracts == ("Shop",)
    assert decoded.message == (
        "WrongFee: The fee sent is wrong; send exactly 100000000000000000 wei (sent 5)."
    )


def test_addresses_are_checksummed_and_errors_without_notice_list_arguments() -> None:
    owner = "0x" + "ab" * 20
    data = _data("NotOwner(address,address)", ["address", "address"], [owner, owner])
    decoded = decode_revert(data, _catalog())
    assert decoded.message == f"NotOwner: Only {to_checksum_address(owner)} may do this."
    bare = decode_revert(_data("Bare(bytes32)", ["bytes32"], [b"\x01" * 32]), _catalog())
    assert bare.message == "Bare: id=0x" + "01" * 32


def test_error_string_panic_empty_and_unknown() -> None:
    reason = _data("Error(string)", ["string"], ["not enough"])
    assert decode_revert(reason, _catalog()).message == "reverted: not enough"
    panic = decode_revert(_data("Panic(uint256)", ["uint256"], [0x11]), _catalog())
    assert (panic.name, panic.message) == ("Panic", "panic 0x11: arithmetic overflow or underflow")
    assert decode_revert(b"", _catalog()).name == "empty"
    unknown = decode_revert("0xdeadbeef", _catalog())
    assert unknown.name == "unknown"
    assert "0xdeadbeef" in unknown.message and "ABI" in unknown.message
    # Truncated arguments do not crash the decoder.
    assert (
        decode_revert(_data("WrongFee(uint256,uint256)", [], [])[:10], _catalog()).name == "unknown"
    )
    with pytest.raises(ValueError, match="not hex"):
        decode_revert("0xzz", _catalog())


def test_every_system_contract_ships() -> None:
    assert set(SYSTEM_CONTRACTS) <= set(artifact_names())


@pytest.mark.parametrize("name", SYSTEM_CONTRACTS)
def test_every_custom_error_has_a_notice(name: str) -> None:
    art = load_artifact(name)
    notices = art.userdoc.get("errors", {})
    for item in art.abi:
        if item["type"] != "error":
            continue
        signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        if signature.startswith(("AccessControl", "ERC721", "ReentrancyGuard", "Strings")):
            continue  # OpenZeppelin's own errors: decoded by name and arguments
        assert notices.get(signature, [{}])[0].get("notice"), f"{name}.{signature} has no @notice"


@pytest.mark.parametrize("name", SYSTEM_CONTRACTS)
def test_runtime_code_fits_eip170(name: str) -> None:
    size = len(bytes.fromhex(load_artifact(name).deployed_bytecode.removeprefix("0x")))
    assert 0 < size <= 24_576, f"{name} runtime code is {size} bytes"


def test_the_called_contracts_definition_wins_a_selector_clash() -> None:
    other = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Other {
    /// @notice Other's wording for `required`.
    error WrongFee(uint256 required, uint256 sent);
    function g() external pure {}
}
"""
    catalog = _catalog()
    compiled = compile_cached(other).get("Other")
    catalog.add("Other", compiled.abi, compiled.userdoc)
    data = _data("WrongFee(uint256,uint256)", ["uint256", "uint256"], [7, 1])
    assert decode_revert(data, catalog, contract="Other").message == (
        "WrongFee: Other's wording for 7."
    )
    assert decode_revert(data, catalog, contract="Shop").message.startswith(
        "WrongFee: The fee sent is wrong"
    )
    assert set(decode_revert(data, catalog).contracts) == {"Shop", "Other"}


def test_address_arguments_are_checksummed() -> None:
    owner = "0x" + "ab" * 20
    data = _data("NotOwner(address,address)", ["address", "address"], [owner, owner])
    assert decode_revert(data, _catalog()).args["owner"] == to_checksum_address(owner)
