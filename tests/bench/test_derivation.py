"""Derivation speed against the peers, in one run (ratios hold on a noisy machine).

Run with `make bench`. The targets from the issue: 1,000 addresses from one phrase at least 20x
faster than eth-account's per-index `Account.from_mnemonic` and 5x faster than bip_utils; the
BIP39 seed step within 1.2x of `hashlib.pbkdf2_hmac`.
"""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from pytest_benchmark.fixture import BenchmarkFixture

from citrate_crypto import HDWallet
from citrate_crypto._native import mnemonic_to_seed

PHRASE = "test test test test test test test test test test test junk"
COUNT = 1000

Account.enable_unaudited_hdwallet_features()


def _citrate() -> list[str]:
    return HDWallet.from_mnemonic(PHRASE).addresses(COUNT)


def _eth_account() -> list[str]:
    return [
        Account.from_mnemonic(PHRASE, account_path=f"m/44'/60'/0'/0/{i}").address
        for i in range(COUNT)
    ]


def _bip_utils() -> list[str]:
    seed = Bip39SeedGenerator(PHRASE).Generate()
    chain = (
        Bip44.FromSeed(seed, Bip44Coins.ETHEREUM)
        .Purpose()
        .Coin()
        .Account(0)
        .Change(Bip44Changes.CHAIN_EXT)
    )
    return [chain.AddressIndex(i).PublicKey().ToAddress() for i in range(COUNT)]


# Medians of this run, by benchmark name; the ratio tests at the end compare them.
MEDIANS: dict[str, float] = {}


def _record(benchmark: BenchmarkFixture, name: str) -> None:
    MEDIANS[name] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="derive-1000")
def test_citrate_hdwallet(benchmark: BenchmarkFixture) -> None:
    result = benchmark(_citrate)
    _record(benchmark, "citrate")
    assert result[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.benchmark(group="derive-1000")
def test_bip_utils(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_bip_utils, rounds=3, iterations=1)
    _record(benchmark, "bip_utils")
    assert result == _citrate()


@pytest.mark.benchmark(group="derive-1000")
def test_eth_account(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_eth_account, rounds=1, iterations=1)
    _record(benchmark, "eth_account")
    assert result[:5] == _citrate()[:5]


_SALT = b"mnemonic"
_PASSWORD = unicodedata.normalize("NFKD", PHRASE).encode()


@pytest.mark.benchmark(group="bip39-seed")
def test_seed_citrate(benchmark: BenchmarkFixture) -> None:
    seed = benchmark(mnemonic_to_seed, PHRASE, "")
    _record(benchmark, "seed_citrate")
    assert seed == hashlib.pbkdf2_hmac("sha512", _PASSWORD, _SALT, 2048)


@pytest.mark.benchmark(group="bip39-seed")
def test_seed_hashlib(benchmark: BenchmarkFixture) -> None:
    benchmark(hashlib.pbkdf2_hmac, "sha512", _PASSWORD, _SALT, 2048)
    _record(benchmark, "seed_hashlib")


def _ratio(slow: str, fast: str) -> float:
    if slow not in MEDIANS or fast not in MEDIANS:
        pytest.fail(f"run the whole module: {slow} and {fast} are measured above")
    ratio = MEDIANS[slow] / MEDIANS[fast]
    print(f"\n{slow} / {fast} = {ratio:.2f}")
    return ratio


def test_ratio_eth_account() -> None:
    assert _ratio("eth_account", "citrate") >= 20


def test_ratio_bip_utils() -> None:
    assert _ratio("bip_utils", "citrate") >= 5


def test_ratio_seed_step() -> None:
    assert _ratio("seed_citrate", "seed_hashlib") <= 1.2
