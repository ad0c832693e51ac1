"""Fixtures of the RPC conformance suite: one `node` per kind, shared by the whole session.

Every test runs once per node kind (`[anvil]`, `[citrate]`): select with `-k anvil` or
`-k "not anvil"` (`-k citrate` matches every test: it is in the path). A node is
started once per session (a fresh data dir for Citrate) and shared, so tests never assume an
absolute state: they measure deltas, read historical blocks, or use fresh accounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from . import contracts as C
from .nodes import NODE_KINDS, Node, NodeUnavailable, start_node


@pytest.fixture(scope="session", params=NODE_KINDS)
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    kind: str = request.param
    try:
        proc = start_node(kind, tmp_path_factory.mktemp(f"{kind}-node"))
    except NodeUnavailable as e:
        failure = str(e)
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    client = Node(kind=kind, url=proc.url, ws_url=proc.ws_url)
    try:
        yield client
    finally:
        client.close()
        proc.stop()


@dataclass(frozen=True)
class Deployed:
    """The test contracts on one node, and their deployment receipts."""

    store: str
    emitter: str
    reverter: str
    receipts: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def deployed(node: Node) -> Deployed:
    deployer = node.accounts[0]
    receipts = {}
    for name, code in (
        ("store", C.STORE_DEPLOY),
        ("emitter", C.EMITTER_DEPLOY),
        ("reverter", C.REVERTER_DEPLOY),
    ):
        receipt = node.transact(deployer, data="0x" + code.hex(), gas=500_000)
        assert receipt["status"] == "0x1", receipt
        receipts[name] = receipt
    return Deployed(
        store=to_checksum_address(receipts["store"]["contractAddress"]),
        emitter=to_checksum_address(receipts["emitter"]["contractAddress"]),
        reverter=to_checksum_address(receipts["reverter"]["contractAddress"]),
        receipts=receipts,
    )


@pytest.fixture
def fresh(node: Node) -> LocalAccount:
    """A new account holding 1 ETH, funded by a transfer from dev account 9."""
    account: LocalAccount = Account.create()
    node.transact(node.accounts[9], to=account.address, value=10**18)
    return account
