"""Keystore v3 import/export through the wallet, interoperating with eth-account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account as EthAccount

from citrate_crypto import Wallet
from citrate_crypto.errors import (
    KeystoreFormatError,
    KeystoreMacError,
    KeystoreVersionError,
    PasswordPolicyError,
    WrongPasswordError,
)

from .conftest import GOOD_PASSWORD, OTHER_PASSWORD

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEY_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "keystore_v3.json"


@pytest.fixture
def keystore() -> str:
    # A light scrypt cost keeps the test quick; the import path is the same.
    return json.dumps(EthAccount.encrypt(KEY, OTHER_PASSWORD, kdf="scrypt", iterations=2**12))


def _snapshot(wallet: Wallet) -> bytes:
    return wallet.path.read_bytes()


def test_import_then_export_roundtrips_with_eth_account(dev_wallet: Wallet, keystore: str) -> None:
    info = dev_wallet.import_keystore(keystore, OTHER_PASSWORD, GOOD_PASSWORD, label="geth key")
    assert info.address == KEY_ADDRESS and info.kind == "imported"
    assert dev_wallet.accounts()[-1] == info
    assert dev_wallet.export_key(KEY_ADDRESS, GOOD_PASSWORD) == KEY
    for kdf in ("scrypt", "pbkdf2"):
        exported = dev_wallet.export_keystore(KEY_ADDRESS, GOOD_PASSWORD, OTHER_PASSWORD, kdf=kdf)
        doc = json.loads(exported)
        assert doc["version"] == 3 and doc["crypto"]["kdf"] == kdf
        assert "0x" + EthAccount.decrypt(doc, OTHER_PASSWORD).hex().removeprefix("0x") == KEY


def test_hd_account_exports_to_eth_account(dev_wallet: Wallet) -> None:
    address = dev_wallet.accounts()[1].address
    exported = dev_wallet.export_keystore(address, GOOD_PASSWORD, OTHER_PASSWORD, kdf="pbkdf2")
    assert EthAccount.from_key(EthAccount.decrypt(exported, OTHER_PASSWORD)).address == address


@pytest.mark.parametrize(
    "vector", json.loads(VECTORS.read_text())["vectors"], ids=lambda v: v["name"]
)
def test_official_vectors_import(dev_wallet: Wallet, vector: dict) -> None:  # type: ignore[type-arg]
    info = dev_wallet.import_keystore(
        json.dumps(vector["keystore"]), vector["password"], GOOD_PASSWORD
    )
    assert info.address == vector["address"]
    assert dev_wallet.export_key(info.address, GOOD_PASSWORD) == "0x" + vector["private_key"]


def test_wrong_keystore_password_is_a_mac_error_and_changes_nothing(
    dev_wallet: Wallet, keystore: str
) -> None:
    before = _snapshot(dev_wallet)
    with pytest.raises(KeystoreMacError, match="wrong password"):
        dev_wallet.import_keystore(keystore, GOOD_PASSWORD, GOOD_PASSWORD)
    assert _snapshot(dev_wallet) == before
    assert dev_wallet.attempts()[0] == 0  # the keystore password is not the wallet's


def test_wrong_wallet_password_changes_nothing(dev_wallet: Wallet, keystore: str) -> None:
    before = _snapshot(dev_wallet)
    with pytest.raises(WrongPasswordError):
        dev_wallet.import_keystore(keystore, OTHER_PASSWORD, OTHER_PASSWORD)
    assert _snapshot(dev_wallet) == before


def test_unknown_version(dev_wallet: Wallet, keystore: str) -> None:
    doc = json.loads(keystore)
    doc["version"] = 4
    with pytest.raises(KeystoreVersionError, match="4"):
        dev_wallet.import_keystore(json.dumps(doc), OTHER_PASSWORD, GOOD_PASSWORD)


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '{"version": 3}', '{"version": 3, "crypto": {"kdf": "argon9"}}'],
)
def test_malformed_keystore(dev_wallet: Wallet, text: str) -> None:
    before = _snapshot(dev_wallet)
    with pytest.raises(KeystoreFormatError):
        dev_wallet.import_keystore(text, OTHER_PASSWORD, GOOD_PASSWORD)
    assert _snapshot(dev_wallet) == before


def test_export_keystore_password_must_meet_policy(dev_wallet: Wallet) -> None:
    address = dev_wallet.accounts()[0].address
    with pytest.raises(PasswordPolicyError):
        dev_wallet.export_keystore(address, GOOD_PASSWORD, "weak")


def test_importing_twice_is_refused(dev_wallet: Wallet, keystore: str) -> None:
    dev_wallet.import_keystore(keystore, OTHER_PASSWORD, GOOD_PASSWORD)
    with pytest.raises(ValueError, match="already"):
        dev_wallet.import_keystore(keystore, OTHER_PASSWORD, GOOD_PASSWORD)
