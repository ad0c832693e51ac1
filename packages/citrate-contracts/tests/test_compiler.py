"""The compiler API: solc-js through `citrate_contracts.compiler`, as the agent uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from citrate_contracts.compiler import (
    SOLC_VERSION,
    CompilationError,
    Compiler,
    CompilerNotFound,
    compile_source,
)

TOKEN = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract Token is ERC20 {
    constructor(uint256 supply) ERC20("Token", "TOK") { _mint(msg.sender, supply); }
}

interface IThing { function thing() external; }

abstract contract Base { function f() external virtual; }
"""


def test_the_pinned_compiler_is_found() -> None:
    compiler = Compiler.find()
    assert compiler.short_version == SOLC_VERSION
    assert compiler.version.startswith(f"{SOLC_VERSION}+commit.")


def test_compiles_source_with_library_imports() -> None:
    result = compile_source(TOKEN, filename="Token.sol")
    token = result.get("Token")
    assert token.source_name == "Token.sol"
    assert token.is_deployable
    assert token.bytecode.startswith("0x6080")
    assert token.deployed_bytecode.startswith("0x6080")
    names = {e["name"] for e in token.abi if e["type"] == "function"}
    assert {"transfer", "balanceOf", "approve", "totalSupply"} <= names
    assert token.method_identifiers["transfer(address,uint256)"] == "a9059cbb"
    # Interfaces and abstract contracts compile but have no creation code.
    assert not result.get("IThing").is_deployable
    assert not result.get("Base").is_deployable
    # The qualified name works, and the imported ERC20 is in the result too.
    assert result.get("Token.sol:Token") == token
    assert result.get("ERC20") == result.get("@openzeppelin/contracts/token/ERC20/ERC20.sol:ERC20")
    with pytest.raises(KeyError, match=r"no contract named 'Tokn' .*Token"):
        result.get("Tokn")


def test_errors_carry_file_line_and_column() -> None:
    source = "pragma solidity ^0.8.24;\ncontract C {\n    function f() public { x = 1; }\n}\n"
    with pytest.raises(CompilationError) as info:
        compile_source(source, filename="Broken.sol")
    [error] = info.value.errors
    assert (error.file, error.line, error.column) == ("Broken.sol", 3, 27)
    assert error.type == "DeclarationError"
    assert "Undeclared identifier" in error.message
    assert "Broken.sol:3:27: DeclarationError: Undeclared identifier" in str(info.value)


def test_warnings_are_returned_not_raised() -> None:
    result = compile_source("pragma solidity ^0.8.24;\ncontract C { function f(uint a) public {} }")
    assert result.warnings
    assert all(w.severity == "warning" for w in result.warnings)


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd", "../package.json"])
def test_imports_cannot_read_files_outside_the_roots(path: str) -> None:
    with pytest.raises(CompilationError, match="not found"):
        compile_source(f'pragma solidity ^0.8.24;\nimport "{path}";\n')


@pytest.mark.parametrize("name", ["", "/abs.sol", "../up.sol", "a/../../b.sol"])
def test_bad_source_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        compile_source("contract C {}", filename=name)


def test_a_missing_compiler_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CITRATE_SOLC_JS_DIR", str(tmp_path))
    with pytest.raises(CompilerNotFound, match="npm install"):
        Compiler.find()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompilerNotFound, match=r"Node\.js"):
        Compiler.find()
