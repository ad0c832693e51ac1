"""What `citrate devnet` serves besides JSON-RPC: the system contracts predeployed at genesis
and the content store's Kubo-compatible API, across restarts."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from eth_abi.abi import decode
from eth_utils.crypto import keccak

from citrate_contracts.artifacts import load_artifact
from citrate_contracts.system import SYSTEM_CONTRACTS
from citrate_node.config import system_plan, system_roles
from citrate_store import KuboClient

from .devnet_process import Devnet

pytestmark = pytest.mark.slow


def _call(net: Devnet, to: str, signature: str, out: list[str], block: str = "latest") -> tuple:
    data = "0x" + keccak(text=signature)[:4].hex()
    raw = net.rpc("eth_call", {"to": to, "data": data}, block)
    return decode(out, bytes.fromhex(raw[2:]))


def test_system_contracts_are_predeployed_at_genesis(tmp_path: Path) -> None:
    with Devnet(tmp_path / "data", "--block-time", "0") as net:
        addresses = net.rpc("citrate_getSystemContracts")
        assert list(addresses) == list(SYSTEM_CONTRACTS)
        assert addresses == system_plan().addresses
        for name, address in addresses.items():
            code = bytes.fromhex(net.rpc("eth_getCode", address, "0x0")[2:])
            assert load_artifact(name).matches_runtime_code(code), name
            assert not load_artifact(name).matches_runtime_code(code[:-1] + b"\x00"), name
        assert "".join(net.stdout).count(addresses["ModelRegistry"]) == 1
        roles = system_roles()
        registry = addresses["ModelRegistry"]
        # Constructor state is in block 0: the fee, the treasury and the admin's role.
        (fee,) = _call(net, registry, "registrationFee()", ["uint256"], "0x0")
        assert fee == 10**17
        (treasury,) = _call(net, registry, "treasury()", ["address"], "0x0")
        assert treasury.lower() == roles.treasury.lower()
        (pool,) = _call(net, addresses["ComputeMarket"], "routingPool()", ["address"], "0x0")
        assert pool.lower() == roles.routing_pool.lower()
        # The plan's role grants ran too: the marketplace may report usage to the registry.
        role = keccak(text="USAGE_REPORTER_ROLE")
        data = (
            "0x"
            + keccak(text="hasRole(bytes32,address)")[:4].hex()
            + role.hex()
            + addresses["ModelMarketplace"][2:].lower().rjust(64, "0")
        )
        assert int(net.rpc("eth_call", {"to": registry, "data": data}, "0x0"), 16) == 1
        # The admin deployed them: its nonce is past the plan, and it is funded.
        assert int(net.rpc("eth_getTransactionCount", roles.admin, "latest"), 16) == len(
            system_plan().calls
        )
        assert int(net.rpc("eth_getBalance", roles.admin, "latest"), 16) == 10_000 * 10**18


def test_content_store_api_round_trip_and_persistence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    payload = bytes(range(256)) * 2049  # 524,544 bytes: three chunks, a dag-pb root
    with Devnet(data) as net:
        assert net.ipfs_port is not None
        client = KuboClient(f"http://127.0.0.1:{net.ipfs_port}")
        cid = client.add(payload)
        assert cid.startswith("bafybei")
        assert client.cat(cid) == payload
        assert cid in client.pin_ls()
        genesis = net.rpc("eth_getBlockByNumber", "0x0", False)["hash"]
    assert (data / "ipfs").is_dir()
    with Devnet(data) as net:
        client = KuboClient(f"http://127.0.0.1:{net.ipfs_port}")
        assert client.cat(cid) == payload
        assert net.rpc("eth_getBlockByNumber", "0x0", False)["hash"] == genesis


def test_no_ipfs_turns_the_content_store_off(tmp_path: Path) -> None:
    with Devnet(tmp_path / "data", "--no-ipfs") as net:
        assert net.ipfs_port is None
        assert "Content store: off (--no-ipfs)" in "".join(net.stdout)
        assert not (tmp_path / "data" / "ipfs").exists()


def test_a_busy_ipfs_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        net = Devnet(tmp_path / "data", "--ipfs-port", str(port))
        with pytest.raises(RuntimeError, match="did not start"):
            net.start(timeout=60)
        err = "".join(net.stderr)
        assert f"cannot listen on 127.0.0.1:{port} (content store API)" in err
        assert "--ipfs-port" in err and "Traceback" not in err


def test_the_documented_addresses_are_the_genesis_addresses() -> None:
    readme = (Path(__file__).resolve().parents[3] / "contracts" / "README.md").read_text()
    table = dict(re.findall(r"^\| (\w+) \| `(0x[0-9a-fA-F]{40})` \|$", readme, re.MULTILINE))
    assert table == system_plan().addresses
    roles = system_roles()
    for label, address in (
        ("Admin", roles.admin),
        ("treasury", roles.treasury),
        ("routing pool", roles.routing_pool),
    ):
        assert f"{label}\n`{address}`" in readme or f"{label} `{address}`" in readme, label
