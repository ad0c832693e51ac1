"""`citrate contracts deploy`: the system contracts on an external chain (anvil here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from citrate_contracts.artifacts import load_artifact
from citrate_node.config import system_plan

from .conftest import nodes
from .harness import ADMIN_INDEX, ROUTING_POOL_INDEX, TREASURY_INDEX, dev_account

CITRATE = str(Path(sys.executable).with_name("citrate"))


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = nodes.start_node("anvil", tmp_path_factory.mktemp("anvil-deploy"))
    try:
        yield proc.url
    finally:
        proc.stop()


def _deploy(url: str, out: Path, *extra: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRATE_")}
    if key is not None:
        env["CITRATE_DEPLOYER_KEY"] = key
    return subprocess.run(
        [CITRATE, "contracts", "deploy", "--rpc-url", url, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _roles() -> list[str]:
    return [
        "--treasury",
        dev_account(TREASURY_INDEX).address,
        "--routing-pool",
        dev_account(ROUTING_POOL_INDEX).address,
    ]


def test_deploy_writes_the_devnet_addresses_from_a_fresh_admin(anvil: str, tmp_path: Path) -> None:
    admin = dev_account(ADMIN_INDEX)
    w3 = Web3(HTTPProvider(anvil))
    w3.provider.make_request("anvil_setBalance", [admin.address, hex(10**22)])  # type: ignore[arg-type]
    out = tmp_path / "deployed" / "addresses.json"
    key = "0x" + bytes(admin.key).hex()
    done = _deploy(anvil, out, *_roles(), key=key)
    assert done.returncode == 0, done.stderr
    assert key[2:] not in done.stdout + done.stderr  # the key is never echoed
    addresses = json.loads(out.read_text())
    assert addresses == system_plan().addresses  # the same as the devnet's genesis
    for name, address in addresses.items():
        code = w3.eth.get_code(Web3.to_checksum_address(address))
        assert load_artifact(name).matches_runtime_code(bytes(code)), name
    # Deploying again from the same admin gives new addresses (its nonce moved on).
    again = _deploy(anvil, tmp_path / "again.json", *_roles(), key=key)
    assert again.returncode == 0, again.stderr
    assert set(json.loads((tmp_path / "again.json").read_text()).values()).isdisjoint(
        addresses.values()
    )


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ((), None, "CITRATE_DEPLOYER_KEY is not set"),
        ((), "0x1234", "does not hold a valid private key"),
        (
            ("--treasury", "0xnope", "--routing-pool", "0x" + "11" * 20),
            "0x" + "22" * 32,
            "--treasury",
        ),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    anvil: str, tmp_path: Path, extra: tuple[str, ...], key: str | None, message: str
) -> None:
    out = tmp_path / "addresses.json"
    args = extra or tuple(_roles())
    done = _deploy(anvil, out, *args, key=key)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    if key:
        assert key[2:] not in done.stderr


def test_an_unfunded_deployer_fails_before_sending(anvil: str, tmp_path: Path) -> None:
    out = tmp_path / "addresses.json"
    done = _deploy(anvil, out, *_roles(), key="0x" + "33" * 32)
    assert done.returncode == 1
    assert "step 1/" in done.stderr and "deploy ModelRegistry" in done.stderr
    assert not out.exists()
