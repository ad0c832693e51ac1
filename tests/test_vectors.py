"""The known-answer vectors of tests/vectors, through the Python binding.

`cargo test` runs the same files against the Rust core (native/citrate-core/tests/vectors.rs);
passing both proves the binding adds nothing and loses nothing.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import citrate_native
from citrate_crypto import HDWallet
from citrate_native import HdWallet, PrivateKey
from citrate_native.errors import KeystoreError, KeystoreFormatError

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
    seed = citrate_native._mnemonic_to_seed(vector["mnemonic"], BIP39["passphrase"])
    assert seed.hex() == vector["seed"]
    assert HdWallet.from_seed(seed)._extended_private_key("m") == vector["xprv"]


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
    assert wallet._extended_private_key(chain["path"]) == chain["xprv"]


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
    assert key._secret_bytes().hex() == vector["private_key"]
    assert key.address == vector["address"]


@pytest.mark.parametrize("address", [a for group in EIP55["checksummed"].values() for a in group])
def test_eip55(address: str) -> None:
    assert citrate_native.to_checksum_address(address.lower()) == address
    assert citrate_native.to_checksum_address(address) == address


# The binding's safety edges: key material is internal, hostile keystores are errors, not aborts.


def test_key_material_is_only_under_internal_names() -> None:
    assert not hasattr(PrivateKey, "to_bytes")
    assert not hasattr(HdWallet, "extended_private_key")
    assert not hasattr(citrate_native, "mnemonic_to_seed")
    internal = {"_mnemonic_to_seed", "_secret_bytes", "_extended_private_key"}
    assert internal.isdisjoint(citrate_native.__all__)
    assert callable(citrate_native._mnemonic_to_seed)
    for name in ("_mnemonic_to_seed",):
        assert "Internal" in (getattr(citrate_native, name).__doc__ or "")
    assert "Internal" in (PrivateKey._secret_bytes.__doc__ or "")
    assert "Internal" in (HdWallet._extended_private_key.__doc__ or "")


_KEY = PrivateKey.from_bytes(bytes.fromhex(ACCOUNTS["accounts"][0]["private_key"]))
_FAST_SCRYPT = _KEY.encrypt_keystore("pw", scrypt_n=1024, scrypt_r=8, scrypt_p=1)
_FAST_PBKDF2 = _KEY.encrypt_keystore("pw", "pbkdf2", iterations=1000)


def _with_kdfparams(keystore: str, **params: object) -> str:
    doc = json.loads(keystore)
    doc["crypto"]["kdfparams"].update(params)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("keystore", "params", "message"),
    [
        # Each aborted the process (allocation failure) or hung it for seconds to hours.
        (_FAST_SCRYPT, {"n": 2, "r": 1, "p": 2**30 - 1}, "limit of 16"),
        (_FAST_SCRYPT, {"n": 1024, "r": 8, "p": 4096}, "limit of 16"),
        (_FAST_SCRYPT, {"n": 2, "r": 2**28, "p": 4}, "`r * p` must be below 2^30"),
        (_FAST_SCRYPT, {"n": 2**18, "r": 8, "p": 16}, "of work"),
        (_FAST_SCRYPT, {"n": 2**21, "r": 8, "p": 1}, "of memory"),
        (_FAST_SCRYPT, {"n": 1000}, "power of two"),
        (_FAST_PBKDF2, {"c": 10_000_001}, "10000000"),
    ],
)
def test_keystore_refuses_costly_kdf_params_fast(
    keystore: str, params: dict[str, int], message: str
) -> None:
    start = time.monotonic()
    with pytest.raises(KeystoreError, match="not acceptable") as info:
        PrivateKey.from_keystore(_with_kdfparams(keystore, **params), "pw")
    assert message in str(info.value)
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("field", ["n", "r", "p", "dklen"])
@pytest.mark.parametrize("value", [-1, 1.5, 1024.0, 1e300, 2**64, -(2**70), "1024", None, True, []])
def test_keystore_absurd_kdfparams_are_format_errors(field: str, value: object) -> None:
    with pytest.raises(KeystoreFormatError, match=f"crypto.kdfparams.{field}"):
        PrivateKey.from_keystore(_with_kdfparams(_FAST_SCRYPT, **{field: value}), "pw")


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [
        (2, 1, 2**30 - 1),
        (1024, 8, 17),
        (2, 2**28, 4),
        (2**18, 8, 16),
        (1024, 8, 2**70),
        (-1, 8, 1),
    ],
)
def test_encrypt_refuses_costly_scrypt_params(n: int, r: int, p: int) -> None:
    with pytest.raises(KeystoreError, match="not acceptable"):
        _KEY.encrypt_keystore("pw", scrypt_n=n, scrypt_r=r, scrypt_p=p)


def test_encrypt_refuses_costly_pbkdf2() -> None:
    with pytest.raises(KeystoreError, match="10000000"):
        _KEY.encrypt_keystore("pw", "pbkdf2", iterations=10_000_001)
