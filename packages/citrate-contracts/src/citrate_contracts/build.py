"""Build the repository's contracts into committed artifacts, or check that they are current.

Sources are ``contracts/src/**/*.sol``. Every contract they define gets a Foundry-style
artifact, ``contracts/out/<File>.sol/<Name>.json``, stamped with the compiler version and
settings. Deployable contracts of the top-level ``src/*.sol`` files are also copied, trimmed
to what clients need (ABI, bytecode, NatSpec), into ``citrate_contracts/artifacts/`` so that
the installed package carries them.

``check`` recompiles and compares byte for byte: any difference, missing or stale artifact
fails with the list and the command that fixes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citrate_contracts.compiler import (
    SOLC_VERSION,
    CompilationResult,
    CompiledContract,
    Compiler,
    default_settings,
)

__all__ = ["PACKAGE_ARTIFACTS", "BuildReport", "build", "check", "find_contracts_dir"]

#: Where the installed package keeps its copies of the deployable artifacts.
PACKAGE_ARTIFACTS = Path(__file__).with_name("artifacts")


def find_contracts_dir(start: Path | None = None) -> Path:
    """The repository's ``contracts/`` folder (the one holding ``src/``), searched upwards."""
    here = (start or Path.cwd()).resolve()
    for parent in (here, *here.parents, *Path(__file__).resolve().parents):
        candidate = parent / "contracts"
        if (candidate / "src").is_dir():
            return candidate
    raise FileNotFoundError(
        "no `contracts/src` folder found above the current directory\n"
        "hint: run this from the Citrate repository checkout"
    )


def _sources(contracts_dir: Path) -> dict[str, str]:
    src = contracts_dir / "src"
    files = sorted(src.rglob("*.sol"))
    if not files:
        raise FileNotFoundError(f"no Solidity sources under {src}")
    return {f.relative_to(contracts_dir).as_posix(): f.read_text(encoding="utf-8") for f in files}


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _full_artifact(c: CompiledContract, version: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "contractName": c.name,
        "sourceName": c.source_name,
        "compiler": {"name": "solc-js", "version": version},
        "settings": {k: v for k, v in settings.items() if k != "outputSelection"},
        "abi": c.abi,
        "bytecode": {"object": c.bytecode, "linkReferences": c.link_references},
        "deployedBytecode": {
            "object": c.deployed_bytecode,
            "immutableReferences": c.immutable_references,
        },
        "methodIdentifiers": c.method_identifiers,
        "storageLayout": c.storage_layout,
        "userdoc": c.userdoc,
        "devdoc": c.devdoc,
    }


def _package_artifact(c: CompiledContract, version: str) -> dict[str, Any]:
    return {
        "contractName": c.name,
        "sourceName": c.source_name,
        "compiler": {"name": "solc-js", "version": version},
        "abi": c.abi,
        "bytecode": c.bytecode,
        "deployedBytecode": c.deployed_bytecode,
        "immutableReferences": c.immutable_references,
        "userdoc": c.userdoc,
    }


def _is_shipped(c: CompiledContract) -> bool:
    """Deployable contracts defined directly in ``src/`` (not libraries or interfaces)."""
    return c.is_deployable and c.source_name.count("/") == 1


def render(
    contracts_dir: Path, package_dir: Path = PACKAGE_ARTIFACTS, compiler: Compiler | None = None
) -> dict[Path, str]:
    """Compile everything; return ``{artifact path: file text}`` for both destinations."""
    compiler = compiler or Compiler.find()
    if compiler.short_version != SOLC_VERSION:
        raise RuntimeError(
            f"the artifacts are built with solc {SOLC_VERSION}, but the compiler found is "
            f"{compiler.version} (in {compiler.solc_dir})\nhint: run `make node-tools`"
        )
    settings = default_settings()
    result: CompilationResult = compiler.compile_sources(
        _sources(contracts_dir), settings=settings, roots=[contracts_dir]
    )
    files: dict[Path, str] = {}
    out = contracts_dir / "out"
    for c in result.contracts.values():
        if not c.source_name.startswith("src/"):
            continue  # a library's contract (OpenZeppelin): not ours to ship
        file_name = Path(c.source_name).name
        path = out / file_name / f"{c.name}.json"
        files[path] = _dump(_full_artifact(c, result.compiler_version, settings))
        if _is_shipped(c):
            files[package_dir / f"{c.name}.json"] = _dump(
                _package_artifact(c, result.compiler_version)
            )
    return files


def _existing(contracts_dir: Path, package_dir: Path) -> set[Path]:
    out = contracts_dir / "out"
    found = set(out.rglob("*.json")) if out.is_dir() else set()
    found |= set(package_dir.glob("*.json"))
    return found


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        Path(tmp).chmod(0o644)  # committed, public build output
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What `build` wrote or `check` found different (paths relative to the repository)."""

    changed: tuple[str, ...]
    missing: tuple[str, ...]
    stale: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.stale)


def _rel(paths: Iterable[Path], root: Path) -> tuple[str, ...]:
    out = []
    for p in sorted(paths):
        try:
            out.append(p.resolve().relative_to(root).as_posix())
        except ValueError:
            out.append(str(p))
    return tuple(out)


def _compare(contracts_dir: Path, package_dir: Path, files: dict[Path, str]) -> BuildReport:
    root = contracts_dir.parent.resolve()
    changed = [
        p for p, text in files.items() if p.exists() and p.read_text(encoding="utf-8") != text
    ]
    missing = [p for p in files if not p.exists()]
    wanted = {p.resolve() for p in files}
    stale = [p for p in _existing(contracts_dir, package_dir) if p.resolve() not in wanted]
    return BuildReport(_rel(changed, root), _rel(missing, root), _rel(stale, root))


def build(contracts_dir: Path | None = None, package_dir: Path = PACKAGE_ARTIFACTS) -> BuildReport:
    """Compile and write every artifact; delete artifacts whose contract no longer exists."""
    contracts_dir = contracts_dir or find_contracts_dir()
    files = render(contracts_dir, package_dir)
    report = _compare(contracts_dir, package_dir, files)
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            _write_atomic(path, text)
    for rel in report.stale:
        path = (contracts_dir.parent / rel) if not Path(rel).is_absolute() else Path(rel)
        path.unlink()
        if path.parent != package_dir and not any(path.parent.iterdir()):
            path.parent.rmdir()
    return report


def check(contracts_dir: Path | None = None, package_dir: Path = PACKAGE_ARTIFACTS) -> BuildReport:
    """Recompile in memory and compare with the committed artifacts (nothing is written)."""
    contracts_dir = contracts_dir or find_contracts_dir()
    return _compare(contracts_dir, package_dir, render(contracts_dir, package_dir))
