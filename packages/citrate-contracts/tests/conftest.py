"""Fixtures of the contract suite: the system contracts on anvil and on `citrate devnet`.

Every test that takes ``chain`` runs once per node kind (``[anvil]``, ``[citrate]``; select
with ``-k anvil`` / ``-k citrate``) inside an ``evm_snapshot``/``evm_revert`` pair, so tests
never see each other's state. One node of each kind runs for the whole session.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from web3 import HTTPProvider, Web3

from citrate_contracts.deploy import deploy_system
from citrate_contracts.system import SYSTEM_CONTRACTS

from .harness import ADMIN_INDEX, ROUTING_POOL_INDEX, TREASURY_INDEX, ChainUnderTest, dev_account

_NODES_PY = Path(__file__).resolve().parents[2] / "citrate-node/tests/conformance/nodes.py"


def _load_nodes() -> ModuleType:
    name = "citrate_conformance_nodes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _NODES_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


nodes = _load_nodes()


def _system_contracts(kind: str, w3: Web3) -> dict[str, str]:
    admin = dev_account(ADMIN_INDEX)
    if kind == "citrate":
        # Predeployed at genesis: nothing to deploy, and block 0 already has their code.
        reply = w3.provider.make_request("citrate_getSystemContracts", [])  # type: ignore[arg-type]
        addresses = dict(reply["result"])
        assert list(addresses) == list(SYSTEM_CONTRACTS), addresses
        for address in addresses.values():
            assert w3.eth.get_code(address, block_identifier=0), address
        return addresses
    # anvil: fund the admin like the devnet's genesis does, then run the same plan.
    w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_setBalance", [admin.address, hex(10_000 * 10**18)]
    )
    plan = deploy_system(
        w3,
        admin,
        treasury=dev_account(TREASURY_INDEX).address,
        routing_pool=dev_account(ROUTING_POOL_INDEX).address,
    )
    return plan.addresses


@pytest.fixture(scope="session", params=nodes.NODE_KINDS)
def _session_chain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChainUnderTest]:
    kind: str = request.param
    try:
        proc = nodes.start_node(kind, tmp_path_factory.mktemp(f"{kind}-contracts"))
    except nodes.NodeUnavailable as e:
        failure = str(e)
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        w3 = Web3(HTTPProvider(proc.url, request_kwargs={"timeout": 60}))
        yield ChainUnderTest(kind=kind, w3=w3, addresses=_system_contracts(kind, w3))
    finally:
        proc.stop()


@pytest.fixture
def chain(_session_chain: ChainUnderTest) -> Iterator[ChainUnderTest]:
    """The chain, with every change this test makes undone afterwards."""
    snapshot = _session_chain.snapshot()
    try:
        yield _session_chain
    finally:
        _session_chain.revert_to(snapshot)
