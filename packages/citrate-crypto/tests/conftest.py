from __future__ import annotations

from pathlib import Path

import pytest

from citrate_crypto import KdfParams, Wallet

DEV_PHRASE = "test test test test test test test test test test test junk"
GOOD_PASSWORD = "Correct-Horse-Battery-9"
OTHER_PASSWORD = "Tangerine#Glacier#Otter42"

# The weakest parameters the vault accepts keep the suite fast; the default is tested separately.
FAST_KDF = KdfParams.owasp_minimum()


@pytest.fixture
def wallet_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "wallet"


@pytest.fixture
def wallet(wallet_dir: Path) -> Wallet:
    return Wallet(wallet_dir, kdf=FAST_KDF)


@pytest.fixture
def dev_wallet(wallet: Wallet) -> Wallet:
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD, accounts=2)
    return wallet
