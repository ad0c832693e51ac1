"""Citrate's native wallet core (Rust): BIP39, BIP32/BIP44, Ethereum keys and keystore v3.

This is the only module that imports the compiled extension ``citrate_native._core``; everything
public is re-exported here. Exceptions live in :mod:`citrate_native.errors`.
"""

from __future__ import annotations

from citrate_native import errors
from citrate_native._core import (
    HdWallet,
    PrivateKey,
    __version__,
    english_wordlist,
    generate_mnemonic,
    keccak256,
    mnemonic_from_entropy,
    mnemonic_to_seed,
    to_checksum_address,
    validate_mnemonic,
)

__all__ = [
    "HdWallet",
    "PrivateKey",
    "__version__",
    "english_wordlist",
    "errors",
    "generate_mnemonic",
    "keccak256",
    "mnemonic_from_entropy",
    "mnemonic_to_seed",
    "to_checksum_address",
    "validate_mnemonic",
]
