"""`citrate contracts build` / `check`: committed artifacts that provably match the sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from citrate_contracts.build import build, check
from citrate_contracts.compiler import SOLC_VERSION

REPO_CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    contracts = tmp_path / "contracts"
    (contracts / "src").mkdir(parents=True)
    shutil.copy(REPO_CONTRACTS / "src/Counter.sol", contracts / "src/Counter.sol")
    (contracts / "src/lib").mkdir()
    shutil.copy(REPO_CONTRACTS / "src/lib/PullPayments.sol", contracts / "src/lib/PullPayments.sol")
    return contracts, tmp_path / "package"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small contracts tree, built once (each build or check runs the compiler)."""
    root = tmp_path_factory.mktemp("built")
    contracts, package = _tree(root)
    build(contracts, package)
    return root


def _copy(built: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path / "contracts", tmp_path / "package"


def test_build_writes_stamped_artifacts_and_check_passes(tmp_path: Path) -> None:
    contracts, package = _tree(tmp_path)
    report = build(contracts, package)
    assert set(report.missing) >= {
        str(contracts / "out/Counter.sol/Counter.json").removeprefix(str(tmp_path) + "/"),
    }
    full = json.loads((contracts / "out/Counter.sol/Counter.json").read_text())
    assert full["compiler"]["version"].startswith(SOLC_VERSION + "+commit.")
    assert full["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    assert full["settings"]["evmVersion"] == "prague"
    assert full["bytecode"]["object"].startswith("0x")
    assert full["deployedBytecode"]["object"].startswith("0x")
    assert any(s["label"] == "number" for s in full["storageLayout"]["storage"])
    # The abstract PullPayments gets a full artifact but is not shipped in the package.
    assert (contracts / "out/PullPayments.sol/PullPayments.json").is_file()
    assert sorted(p.name for p in package.iterdir()) == ["Counter.json"]
    assert build(contracts, package).clean  # idempotent: a rebuild changes nothing


def test_check_reports_a_changed_source_and_writes_nothing(built: Path, tmp_path: Path) -> None:
    contracts, package = _copy(built, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.json")}
    source = contracts / "src/Counter.sol"
    source.write_text(source.read_text().replace("number += 1;", "number += 2;"))
    report = check(contracts, package)
    assert not report.clean
    assert any(p.endswith("out/Counter.sol/Counter.json") for p in report.changed)
    assert any(p.endswith("package/Counter.json") for p in report.changed)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.json")} == before


def test_check_reports_stale_and_missing_artifacts(built: Path, tmp_path: Path) -> None:
    contracts, package = _copy(built, tmp_path)
    stale = contracts / "out/Gone.sol/Gone.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    (package / "Counter.json").unlink()
    report = check(contracts, package)
    assert any(p.endswith("out/Gone.sol/Gone.json") for p in report.stale)
    assert any(p.endswith("package/Counter.json") for p in report.missing)
    build(contracts, package)
    assert not stale.exists() and not stale.parent.exists()
    assert check(contracts, package).clean
