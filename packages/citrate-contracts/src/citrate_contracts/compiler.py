"""The Solidity compiler: solc-js (the official compiler, npm package ``solc``) run by Node.js.

No native ``solc`` is reachable on Citrate's build machines, so the official compiler's
WebAssembly build does the work. ``solc_driver.js`` (shipped beside this module) feeds it a
standard-JSON input on stdin and writes the output synchronously.

The compiler is found, in order:

1. ``CITRATE_SOLC_JS_DIR``: a folder from which ``require('solc')`` resolves (a folder whose
   ``node_modules`` holds ``solc``);
2. a ``tools/`` folder with ``node_modules/solc`` in the current directory or any parent, or
   beside this package's checkout (the repository's ``make node-tools`` installs it there).

The ``node_modules`` folder that holds ``solc`` is also where libraries are imported from
(``import "@openzeppelin/contracts/..."``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "EVM_VERSION",
    "OPTIMIZER_RUNS",
    "SOLC_VERSION",
    "CompilationError",
    "CompilationResult",
    "CompiledContract",
    "Compiler",
    "CompilerMessage",
    "CompilerNotFound",
    "compile_source",
    "default_settings",
]

#: The compiler version every artifact is built with (``tools/package.json`` pins it).
SOLC_VERSION = "0.8.37"
#: The hard fork Citrate's node runs (revm's Prague).
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200

_DRIVER = Path(__file__).with_name("solc_driver.js")
_TIMEOUT_S = 900
_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<column>\d+):")
_OUTPUT_SELECTION = [
    "abi",
    "evm.bytecode.object",
    "evm.bytecode.linkReferences",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.linkReferences",
    "evm.deployedBytecode.immutableReferences",
    "evm.methodIdentifiers",
    "storageLayout",
    "userdoc",
    "devdoc",
]


class CompilerNotFound(RuntimeError):
    """Node.js or the npm package ``solc`` is missing (the message says how to install it)."""


@dataclass(frozen=True, slots=True)
class CompilerMessage:
    """One error or warning from the compiler, located in its source file when it has one."""

    severity: str
    type: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    formatted: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file else ""
        return f"{where}{self.type}: {self.message}"


class CompilationError(Exception):
    """The source did not compile; ``errors`` lists every error with file, line and column."""

    def __init__(self, errors: Sequence[CompilerMessage]) -> None:
        self.errors = tuple(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"Solidity compilation failed with {len(self.errors)} error(s):\n{lines}")


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """ABI and bytecode of one compiled contract.

    ``bytecode`` (creation code) and ``deployed_bytecode`` are ``0x`` hex. They hold
    ``__$…$__`` placeholders when the contract uses an external library
    (``link_references`` says where); everything Citrate ships is fully linked.
    """

    name: str
    source_name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    method_identifiers: dict[str, str]
    storage_layout: dict[str, Any]
    userdoc: dict[str, Any]
    devdoc: dict[str, Any]
    link_references: dict[str, Any] = field(default_factory=dict)
    #: Where ``immutable`` values sit in the runtime code (filled in by the constructor, so
    #: zeros in ``deployed_bytecode``): ``{ast id: [{"start": byte, "length": 32}, ...]}``.
    immutable_references: dict[str, Any] = field(default_factory=dict)

    @property
    def is_deployable(self) -> bool:
        """False for interfaces and abstract contracts (no creation code)."""
        return self.bytecode not in ("", "0x")


@dataclass(frozen=True, slots=True)
class CompilationResult:
    """Every contract of a compilation by ``"source:Name"``, plus the compiler's warnings."""

    compiler_version: str
    contracts: dict[str, CompiledContract]
    warnings: tuple[CompilerMessage, ...]

    def get(self, name: str) -> CompiledContract:
        """A contract by its name (``Counter``) or qualified name (``src/Counter.sol:Counter``)."""
        if name in self.contracts:
            return self.contracts[name]
        matches = [c for c in self.contracts.values() if c.name == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(sorted(c.name for c in self.contracts.values())) or "none"
            raise KeyError(f"no contract named {name!r} in the compilation (have: {known})")
        raise KeyError(
            f"{len(matches)} contracts are named {name!r}; use the qualified name "
            f"({', '.join(sorted(k for k, c in self.contracts.items() if c.name == name))})"
        )


def default_settings(*, optimize: bool = True, runs: int = OPTIMIZER_RUNS) -> dict[str, Any]:
    """The standard-JSON ``settings`` Citrate compiles with."""
    return {
        "optimizer": {"enabled": optimize, "runs": runs},
        "evmVersion": EVM_VERSION,
        "outputSelection": {"*": {"*": list(_OUTPUT_SELECTION)}},
    }


def _search_tools_dir(start: Path) -> Path | None:
    for parent in (start, *start.parents):
        candidate = parent / "tools"
        if (candidate / "node_modules" / "solc" / "package.json").is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Compiler:
    """A located solc-js: ``node`` plus the folder ``require('solc')`` resolves from."""

    node: Path
    solc_dir: Path
    version: str

    @property
    def library_root(self) -> Path:
        """Where ``@openzeppelin/...``-style imports are found (``<solc_dir>/node_modules``)."""
        return self.solc_dir / "node_modules"

    @classmethod
    def find(cls) -> Compiler:
        """Locate Node.js and solc-js (see the module docs); raise `CompilerNotFound`."""
        node = shutil.which("node")
        if node is None:
            raise CompilerNotFound(
                "Node.js (`node`) is not on PATH; the Solidity compiler (solc-js) runs on it\n"
                "hint: install Node.js 18 or newer"
            )
        configured = os.environ.get("CITRATE_SOLC_JS_DIR")
        if configured:
            solc_dir = Path(configured).expanduser().resolve()
            if not (solc_dir / "node_modules" / "solc" / "package.json").is_file():
                raise CompilerNotFound(
                    f"CITRATE_SOLC_JS_DIR={configured} has no node_modules/solc\n"
                    f"hint: `npm install --prefix {configured} solc@{SOLC_VERSION}`"
                )
        else:
            found = _search_tools_dir(Path.cwd()) or _search_tools_dir(Path(__file__).parent)
            if found is None:
                raise CompilerNotFound(
                    "the Solidity compiler (npm package `solc`) was not found\n"
                    "hint: in the Citrate repository run `make node-tools`; elsewhere run "
                    f"`npm install --prefix DIR solc@{SOLC_VERSION}` and set "
                    "CITRATE_SOLC_JS_DIR=DIR"
                )
            solc_dir = found.resolve()
        version = _run_driver(Path(node), solc_dir, ["--version"], None).strip()
        return cls(node=Path(node), solc_dir=solc_dir, version=version)

    @property
    def short_version(self) -> str:
        """``0.8.37`` of ``0.8.37+commit.f401782d.Emscripten.clang``."""
        return self.version.split("+", 1)[0]

    def compile_standard(
        self, standard_input: Mapping[str, Any], *, roots: Sequence[Path] = ()
    ) -> dict[str, Any]:
        """Run a standard-JSON input; return the raw standard-JSON output.

        Imports resolve inside ``roots`` and the library root only.
        """
        args = []
        for root in (*roots, self.library_root):
            args += ["--root", str(Path(root).resolve())]
        out = _run_driver(self.node, self.solc_dir, args, json.dumps(standard_input))
        try:
            result: dict[str, Any] = json.loads(out)
        except json.JSONDecodeError as e:
            raise RuntimeError(f"solc-js returned output that is not JSON ({e})") from None
        return result

    def compile_sources(
        self,
        sources: Mapping[str, str],
        *,
        settings: Mapping[str, Any] | None = None,
        roots: Sequence[Path] = (),
    ) -> CompilationResult:
        """Compile ``{source name: Solidity text}``; raise `CompilationError` on any error."""
        for name in sources:
            _check_source_name(name)
        standard_input = {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in sources.items()},
            "settings": dict(settings) if settings is not None else default_settings(),
        }
        output = self.compile_standard(standard_input, roots=roots)
        return _result(self.version, output)


def _check_source_name(name: str) -> None:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ValueError(
            f"source name {name!r} must be a relative path without `..`, like `Token.sol`"
        )


def _run_driver(node: Path, solc_dir: Path, args: list[str], stdin: str | None) -> str:
    cmd = [str(node), str(_DRIVER), "--solc-dir", str(solc_dir), *args]
    try:
        proc = subprocess.run(
            cmd,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"solc-js did not finish within {_TIMEOUT_S} s") from None
    if proc.returncode == 3:
        raise CompilerNotFound(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"solc-js failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _message(raw: Mapping[str, Any]) -> CompilerMessage:
    formatted = str(raw.get("formattedMessage", ""))
    file = line = column = None
    match = _LOCATION.search(formatted)
    if match:
        file, line, column = match["file"], int(match["line"]), int(match["column"])
    elif isinstance(raw.get("sourceLocation"), Mapping):
        file = str(raw["sourceLocation"].get("file")) or None
    return CompilerMessage(
        severity=str(raw.get("severity", "error")),
        type=str(raw.get("type", "Error")),
        message=str(raw.get("message", "")),
        file=file,
        line=line,
        column=column,
        formatted=formatted,
    )


def _hex(obj: Any) -> str:
    text = str(obj or "")
    return text if text.startswith("0x") else "0x" + text


def _result(version: str, output: Mapping[str, Any]) -> CompilationResult:
    messages = [_message(m) for m in output.get("errors", [])]
    errors = [m for m in messages if m.severity == "error"]
    if errors:
        raise CompilationError(errors)
    contracts: dict[str, CompiledContract] = {}
    for source_name, by_name in output.get("contracts", {}).items():
        for name, c in by_name.items():
            evm = c.get("evm", {})
            contracts[f"{source_name}:{name}"] = CompiledContract(
                name=name,
                source_name=source_name,
                abi=c.get("abi", []),
                bytecode=_hex(evm.get("bytecode", {}).get("object")),
                deployed_bytecode=_hex(evm.get("deployedBytecode", {}).get("object")),
                method_identifiers=evm.get("methodIdentifiers", {}),
                storage_layout=c.get("storageLayout", {}),
                userdoc=c.get("userdoc", {}),
                devdoc=c.get("devdoc", {}),
                link_references=evm.get("bytecode", {}).get("linkReferences", {}),
                immutable_references=evm.get("deployedBytecode", {}).get("immutableReferences", {}),
            )
    warnings = tuple(m for m in messages if m.severity != "error")
    return CompilationResult(compiler_version=version, contracts=contracts, warnings=warnings)


@cache
def _default_compiler() -> Compiler:
    return Compiler.find()


def compile_source(
    source: str,
    *,
    filename: str = "Contract.sol",
    optimize: bool = True,
    runs: int = OPTIMIZER_RUNS,
) -> CompilationResult:
    """Compile one Solidity source text with Citrate's compiler and settings.

    Imports of installed libraries (``@openzeppelin/contracts/...``) resolve; other imports do
    not. Raises `CompilationError` (every error with file, line and column) or
    `CompilerNotFound`.

    >>> result = compile_source("pragma solidity ^0.8.24; contract C { uint x; }")
    >>> result.get("C").abi
    []
    """
    return _default_compiler().compile_sources(
        {filename: source}, settings=default_settings(optimize=optimize, runs=runs)
    )
