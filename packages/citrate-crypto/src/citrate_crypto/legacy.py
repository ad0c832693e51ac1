"""Finding the funds of wallets made by the earlier Citrate product.

Two old schemes exist, neither restorable in a standard wallet:

- `keccak` (before sprint 10): the ed25519 secret was Keccak256 of the phrase string itself.
- `slip10` (later): SLIP-0010 ed25519 on m/44'/501'/account'/0'/0' from the BIP39 seed.

Both took the address as Keccak256(ed25519 public key)[12:]. `migrate` rebuilds the old address
and names the standard BIP44 account (m/44'/60'/0'/0/0 of the same phrase) that the funds should
move to. The transfer itself is made with the node.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from citrate_crypto import _native
from citrate_crypto.errors import CitrateValueError
from citrate_crypto.hd import HDWallet, validate_mnemonic

Scheme = Literal["keccak", "slip10"]
_HARDENED = 0x8000_0000


@dataclass(frozen=True)
class LegacyMigration:
    """The old address of a phrase and the standard account its funds should move to."""

    scheme: Scheme
    legacy_address: str
    legacy_path: str | None
    target_address: str
    target_path: str


def migrate(phrase: str, *, scheme: Scheme = "keccak", account: int = 0) -> LegacyMigration:
    """Rebuild the legacy address of `phrase` and derive the BIP44 target account.

    Raises:
        MnemonicError: the phrase is not a valid BIP39 mnemonic (the old product made valid
            ones, so a typo is the likely cause).
    """
    normalised = validate_mnemonic(phrase)
    if scheme == "keccak":
        secret = _native.keccak256(normalised.encode("utf-8"))
        legacy_path = None
    elif scheme == "slip10":
        legacy_path = f"m/44'/501'/{account}'/0'/0'"
        secret = _slip10_ed25519(
            _native._mnemonic_to_seed(normalised, ""), (44, 501, account, 0, 0)
        )
    else:
        raise CitrateValueError(f"unknown legacy scheme `{scheme}`; hint: use keccak or slip10")
    pub = (
        Ed25519PrivateKey.from_private_bytes(secret)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    legacy_address = _native.to_checksum_address(_native.keccak256(pub)[12:].hex())
    wallet = HDWallet.from_mnemonic(normalised)
    return LegacyMigration(
        scheme=scheme,
        legacy_address=legacy_address,
        legacy_path=legacy_path,
        target_address=wallet.address(0),
        target_path="m/44'/60'/0'/0/0",
    )


def _slip10_ed25519(seed: bytes, path: tuple[int, ...]) -> bytes:
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = digest[:32], digest[32:]
    for index in path:
        data = b"\x00" + key + struct.pack(">I", index | _HARDENED)
        digest = hmac.new(chain, data, hashlib.sha512).digest()
        key, chain = digest[:32], digest[32:]
    return key
