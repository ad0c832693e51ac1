"""Finding the funds of wallets made by the earlier product's schemes."""

from __future__ import annotations

import pytest
from bip_utils import Bip32Slip10Ed25519 as BipSlip10
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_utils import keccak, to_checksum_address

from citrate_crypto import HDWallet, migrate
from citrate_crypto.errors import MnemonicError
from citrate_crypto.legacy import _slip10_ed25519

from .conftest import DEV_PHRASE

PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow"


def _address_of_ed25519_secret(secret: bytes) -> str:
    pub = (
        Ed25519PrivateKey.from_private_bytes(secret)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return to_checksum_address(keccak(pub)[12:])


def test_keccak_scheme_rebuilds_the_old_key() -> None:
    result = migrate(PHRASE)
    assert result.legacy_address == _address_of_ed25519_secret(keccak(text=PHRASE))
    assert result.target_address == HDWallet.from_mnemonic(PHRASE).address(0)
    assert result.target_path == "m/44'/60'/0'/0/0"
    assert result.legacy_address != result.target_address


def test_slip10_scheme_matches_bip_utils() -> None:
    seed = Bip39SeedGenerator(DEV_PHRASE).Generate("")
    expected = (
        BipSlip10.FromSeed(seed).DerivePath("m/44'/501'/0'/0'/0'").PrivateKey().Raw().ToBytes()
    )
    assert _slip10_ed25519(seed, (44, 501, 0, 0, 0)) == expected
    result = migrate(DEV_PHRASE, scheme="slip10")
    assert result.legacy_address == _address_of_ed25519_secret(expected)
    assert result.legacy_path == "m/44'/501'/0'/0'/0'"
    assert (
        result.target_address
        == Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).DeriveDefaultPath().PublicKey().ToAddress()
    )


def test_bad_phrase_and_scheme() -> None:
    with pytest.raises(MnemonicError):
        migrate("legal winner thank")
    with pytest.raises(ValueError, match="keccak or slip10"):
        migrate(PHRASE, scheme="md5")  # type: ignore[arg-type]
