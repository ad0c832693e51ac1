"""The known-answer vectors of tests/vectors, through the Python binding.

`cargo test` runs the same files against the Rust core (native/citrate-core/tests/vectors.rs);
passing both proves the binding adds nothing and loses nothing.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import citrate_native
from citrate_crypto import HDWallet
from citrate_native import HdWallet, PrivateKey

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


BIP39 = _load("bip39.json")
BIP32 = _load("bip32.json")
ACCOUNTS = _load("eth_accounts.json")
KEYSTORE = _load("keystore_v3.json")
EIP55 = _load("eip55.json")


def test_native_version_matches_distribution() -> None:
    assert citrate_native.__version__ == version("citrate-native")


@pytest.mark.parametrize("vector", BIP39["vectors"], ids=lambda v: v["mnemonic"][:24])
def test_bip39(vector: dict[str, str]) -> None:
    entropy = bytes.fromhex(vector["entropy"])
    assert citrate_native.mnemonic_from_entropy(entropy) == vector["mnemonic"]
    assert citrate_native.validate_mnemonic(vector["mnemonic"]) == vector["mnemonic"]
    seed = citrate_native.mnemonic_to_seed(vector["mnemonic"], BIP39["passphrase"])
    assert seed.hex() == vector["seed"]
    assert HdWallet.from_seed(seed).extended_private_key("m") == vector["xprv"]


def test_bip39_wordlist() -> None:
    words = citrate_native.english_wordlist()
    assert len(words) == 2048 and words[0] == "abandon" and words[-1] == "zoo"
    assert words == sorted(words)


@pytest.mark.parametrize(
    ("seed", "chain"),
    [(v["seed"], c) for v in BIP32["vectors"] for c in v["chains"]],
    ids=lambda x: x if isinstance(x, str) and len(x) < 40 else None,
)
def test_bip32(seed: str, chain: dict[str, str]) -> None:
    wallet = HdWallet.from_seed(bytes.fromhex(seed))
    assert wallet.extended_public_key(chain["path"]) == chain["xpub"]
    assert wallet.extended_private_key(chain["path"]) == chain["xprv"]


@pytest.mark.parametrize("account", ACCOUNTS["accounts"], ids=lambda a: a["path"])
def test_dev_accounts(account: dict[str, Any]) -> None:
    wallet = HDWallet.from_mnemonic(ACCOUNTS["mnemonic"], ACCOUNTS["passphrase"])
    assert wallet.address(account["index"]) == account["address"]
    assert wallet.account_at(account["path"]).address == account["address"]
    key = PrivateKey.from_bytes(bytes.fromhex(account["private_key"]))
    assert key.address == account["address"]


def test_dev_accounts_in_one_batch() -> None:
    wallet = HDWallet.from_mnemonic(ACCOUNTS["mnemonic"])
    assert wallet.addresses(10) == [a["address"] for a in ACCOUNTS["accounts"]]


@pytest.mark.parametrize("vector", KEYSTORE["vectors"], ids=lambda v: v["name"])
def test_keystore_v3(vector: dict[str, Any]) -> None:
    key = PrivateKey.from_keystore(json.dumps(vector["keystore"]), vector["password"])
    assert key.to_bytes().hex() == vector["private_key"]
    assert key.address == vector["address"]


@pytest.mark.parametrize("address", [a for group in EIP55["checksummed"].values() for a in group])
def test_eip55(address: str) -> None:
    assert citrate_native.to_checksum_address(address.lower()) == address
    assert citrate_native.to_checksum_address(address) == address
