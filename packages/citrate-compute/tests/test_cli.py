"""`citrate compute …` without a chain: help, devices, and every refusal that happens before a
wallet or a node is touched (the chain flows run in `tests/e2e/compute/test_cli.py`)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citrate_compute.cli import app

runner = CliRunner()


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_module_imports_only_typer_and_rich() -> None:
    """`citrate` imports every command group at start: this one must stay light."""
    code = (
        "import sys, citrate_compute.cli\n"
        "heavy = ('citrate_compute.market', 'citrate_compute.provider', 'web3', 'eth_abi',\n"
        "         'requests', 'torch', 'llama_cpp', 'ray', 'sentence_transformers')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("provider", "devices", "submit", "status", "result", "complete", "withdraw"):
        assert command in result.stdout
    result = runner.invoke(app, ["provider", "--help"])
    assert "start" in result.stdout and "status" in result.stdout


def test_devices_lists_the_cpu_as_a_cpu() -> None:
    result = runner.invoke(app, ["devices", "--backend", "cpu", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (device,) = doc["devices"]
    assert device["id"] == "cpu0" and device["kind"] == "cpu" and device["total_memory"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-price", "0"], "the max price must be more than 0 SALT"),
        (["--max-price", "abc"], "`abc` is not a SALT amount"),
        (["--max-price", "1", "--tier", "5"], "verification tier `5`"),
        (["--max-price", "1", "--bid-window", "1"], "bid window `1` s"),
        (["--max-price", "1", "--type", "sculpture"], "unknown job type 'sculpture'"),
    ],
)
def test_submit_refuses_bad_terms_before_the_wallet(
    args: list[str], message: str, tmp_path: Path
) -> None:
    base = ["submit", "--type", "inference", "--model", "m", "--prompt", "hi"]
    result = runner.invoke(app, [*base, *args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"error: {message}" in result.stderr
    assert not (tmp_path / "wallet").exists()


def test_submit_refuses_unreadable_or_malformed_input_files(tmp_path: Path) -> None:
    base = ["submit", "--type", "inference", "--model", "m", "--max-price", "1"]
    result = runner.invoke(app, [*base, "--input", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "cannot read" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = runner.invoke(app, [*base, "--input", str(bad)])
    assert result.exit_code == 1 and "is a JSON list, not an object" in result.stderr


def test_submit_without_a_wallet_says_how_to_get_one(tmp_path: Path, closed_url: str) -> None:
    result = runner.invoke(
        app,
        ["submit", "--type", "inference", "--model", "m", "--prompt", "hi", "--max-price", "1",
         "--rpc", closed_url, "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no wallet at" in result.stderr and "citrate wallet create" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stake", "999"], "a provider stake must be at least 1,000 SALT (this one is 999"),
        (["--stake", "lots"], "`lots` is not a SALT amount"),
        (["--type", "sculpture"], "unknown job type 'sculpture'"),
        (["--handler", "inference"], "`inference` is not TYPE=module:function"),
        (["--price", "inference=-1"], "`-1` is not a SALT amount"),
    ],
)
def test_provider_start_refuses_bad_settings_before_the_wallet(
    args: list[str], message: str, tmp_path: Path, closed_url: str
) -> None:
    result = runner.invoke(
        app, ["provider", "start", *args, "--rpc", closed_url, "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1, result.output
    assert f"error: {message}" in result.stderr
    assert not (tmp_path / "compute").exists()


def test_a_node_that_is_down_is_a_clear_error_without_secrets(closed_url: str) -> None:
    port = closed_url.rsplit(":", 1)[1]
    secret = f"http://user:hunter2@127.0.0.1:{port}/v3/APIKEY"
    result = runner.invoke(app, ["status", "1", "--rpc", secret, "--ipfs", secret])
    assert result.exit_code == 1
    assert f"error: the node at `http://127.0.0.1:{port}` is not reachable" in result.stderr
    assert "hunter2" not in result.output and "APIKEY" not in result.output
