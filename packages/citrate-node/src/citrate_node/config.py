"""The devnet's settings and its genesis (the standard development accounts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from citrate_crypto.hd import HDWallet

# The phrase anvil, Hardhat and Foundry use. Everyone knows its keys: devnet only.
DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10
WEI_PER_SALT = 10**18
DEV_BALANCE = 10_000 * WEI_PER_SALT
DEFAULT_PORT = 8545
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@cache
def dev_addresses(count: int) -> tuple[str, ...]:
    """m/44'/60'/0'/0/0 .. count-1 of the development phrase (EIP-55)."""
    return tuple(HDWallet.from_mnemonic(DEV_PHRASE).addresses(count))


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

    def genesis_alloc(self) -> list[tuple[bytes, int]]:
        alloc = [(bytes.fromhex(a[2:]), self.balance) for a in dev_addresses(self.accounts)]
        return alloc + list(self.extra_alloc)

    def hosts_allowed(self) -> frozenset[str]:
        """Host header values accepted (DNS-rebinding defence): loopback names, the bound host,
        and any configured with --allowed-host ("*" accepts every host)."""
        return frozenset({*LOOPBACK_HOSTS, self.host, *self.allowed_hosts})
