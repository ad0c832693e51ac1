"""Derivation speed against the peers, in one run (ratios hold on a noisy machine).

Run with `make bench`. The pytest-benchmark tables show each implementation; the ratio tests
at the end time the two sides of each comparison back to back, round by round. The targets
from the issue: 1,000 addresses from one phrase at least 20x faster than eth-account's
per-index `Account.from_mnemonic` and 5x faster than bip_utils; the BIP39 seed step within
1.2x of `hashlib.pbkdf2_hmac`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from pytest_benchmark.fixture import BenchmarkFixture

from citrate_crypto import HDWallet
from citrate_crypto._native import _mnemonic_to_seed as mnemonic_to_seed

from .interleave import interleave

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


@pytest.mark.benchmark(group="derive-1000")
def test_citrate_hdwallet(benchmark: BenchmarkFixture) -> None:
    result = benchmark(_citrate)
    assert result[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.benchmark(group="derive-1000")
def test_bip_utils(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_bip_utils, rounds=3, iterations=1)
    assert result == _citrate()


@pytest.mark.benchmark(group="derive-1000")
def test_eth_account(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_eth_account, rounds=1, iterations=1)
    assert result[:5] == _citrate()[:5]


_SALT = b"mnemonic"
_PASSWORD = unicodedata.normalize("NFKD", PHRASE).encode()


@pytest.mark.benchmark(group="bip39-seed")
def test_seed_citrate(benchmark: BenchmarkFixture) -> None:
    seed = benchmark(mnemonic_to_seed, PHRASE, "")
    assert seed == hashlib.pbkdf2_hmac("sha512", _PASSWORD, _SALT, 2048)


@pytest.mark.benchmark(group="bip39-seed")
def test_seed_hashlib(benchmark: BenchmarkFixture) -> None:
    benchmark(hashlib.pbkdf2_hmac, "sha512", _PASSWORD, _SALT, 2048)


def _interleaved_ratio(
    slow: Callable[[], object], fast: Callable[[], object], rounds: int, name: str
) -> float:
    """Best slow time / best fast time, run back to back in each round (see interleave.py)."""
    times = interleave(slow, fast, rounds)
    print(
        f"\n{name}: {times.ratio:.2f} best vs best, {times.median_ratio:.2f} median of rounds "
        f"({rounds} rounds; best {min(times.slow_times) * 1e3:.2f} ms vs "
        f"{min(times.fast_times) * 1e3:.2f} ms)"
    )
    return times.ratio


def test_ratio_eth_account() -> None:
    assert _interleaved_ratio(_eth_account, _citrate, 3, "eth-account / HDWallet") >= 20


def test_ratio_bip_utils() -> None:
    assert _interleaved_ratio(_bip_utils, _citrate, 15, "bip_utils / HDWallet") >= 5


def test_ratio_seed_step() -> None:
    ratio = _interleaved_ratio(
        lambda: mnemonic_to_seed(PHRASE, ""),
        lambda: hashlib.pbkdf2_hmac("sha512", _PASSWORD, _SALT, 2048),
        51,
        "HDWallet seed / hashlib.pbkdf2_hmac",
    )
    assert ratio <= 1.2
