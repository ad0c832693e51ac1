"""The devnet's settings and its genesis (the standard development accounts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from citrate_contracts.system import SystemPlan, SystemRoles, plan_system
from citrate_crypto.hd import HDWallet
from citrate_node._native import build_genesis

# The phrase anvil, Hardhat and Foundry use. Everyone knows its keys: devnet only.
DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10
WEI_PER_SALT = 10**18
DEV_BALANCE = 10_000 * WEI_PER_SALT
DEFAULT_PORT = 8545
DEFAULT_IPFS_PORT = 5001
# The system contracts' accounts, also from the development phrase: m/44'/60'/0'/0/20 deploys
# and administers every system contract, 21 is the treasury, 22 ComputeMarket's routing pool.
SYSTEM_ADMIN_INDEX = 20
TREASURY_INDEX = 21
ROUTING_POOL_INDEX = 22
SYSTEM_ADMIN_BALANCE = 10_000 * WEI_PER_SALT
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@cache
def dev_addresses(count: int) -> tuple[str, ...]:
    """m/44'/60'/0'/0/0 .. count-1 of the development phrase (EIP-55)."""
    return tuple(HDWallet.from_mnemonic(DEV_PHRASE).addresses(count))


def system_roles() -> SystemRoles:
    """The devnet's system admin (also the deployer), treasury and routing pool."""
    addrs = dev_addresses(ROUTING_POOL_INDEX + 1)
    return SystemRoles(
        admin=addrs[SYSTEM_ADMIN_INDEX],
        treasury=addrs[TREASURY_INDEX],
        routing_pool=addrs[ROUTING_POOL_INDEX],
    )


@cache
def system_plan() -> SystemPlan:
    """The system contracts the devnet predeploys at genesis, and their fixed addresses."""
    return plan_system(system_roles())


def producer_coinbases(producers: int) -> list[bytes]:
    """Producer i is paid at development account 10 + i, so its fees are spendable with the
    development phrase (and never land on an account the tests use as a sender)."""
    addrs = dev_addresses(DEV_ACCOUNTS + producers)[DEV_ACCOUNTS:]
    return [bytes.fromhex(a[2:]) for a in addrs]


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    chain_id: int = 1337
    block_time: float = 2.0
    producers: int = 1
    k: int = 18
    max_parents: int = 10
    block_gas_limit: int = 30_000_000
    initial_base_fee: int = 1_000_000_000
    accounts: int = DEV_ACCOUNTS
    balance: int = DEV_BALANCE
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 1000
    genesis_timestamp: int | None = None  # None: the clock at creation
    extra_alloc: tuple[tuple[bytes, int], ...] = field(default=())
    # None: no content store API.
    ipfs_port: int | None = DEFAULT_IPFS_PORT
    # Predeploy the system contracts at genesis (system_plan(); citrate_getSystemContracts).
    system_contracts: bool = True

    def genesis_alloc(self) -> list[Any]:
        """Genesis accounts: the development accounts, the system admin, ``extra_alloc``, and
        (unless ``system_contracts`` is off) the system contracts as built by running
        `system_plan` from the admin in revm: their code, storage and nonces."""
        alloc: list[Any] = [
            (bytes.fromhex(a[2:]), self.balance) for a in dev_addresses(self.accounts)
        ]
        roles = system_roles()
        alloc.append((bytes.fromhex(roles.admin[2:]), SYSTEM_ADMIN_BALANCE))
        alloc += list(self.extra_alloc)
        if not self.system_contracts:
            return alloc
        calls = [
            (
                bytes.fromhex(roles.admin[2:]),
                None if c.to is None else bytes.fromhex(c.to[2:]),
                c.data,
                c.value,
            )
            for c in system_plan().calls
        ]
        # Constructors run at timestamp 0: the state must not depend on when a devnet starts.
        accounts: list[Any] = build_genesis(self.chain_id, alloc, calls, 0, self.block_gas_limit)
        return accounts

    def system_contracts_map(self) -> dict[str, str]:
        """``{name: address}`` of the predeployed system contracts (empty when off)."""
        return dict(system_plan().addresses) if self.system_contracts else {}

    def hosts_allowed(self) -> frozenset[str]:
        """Host header values accepted (DNS-rebinding defence): loopback names, the bound host,
        and any configured with --allowed-host ("*" accepts every host)."""
        return frozenset({*LOOPBACK_HOSTS, self.host, *self.allowed_hosts})
