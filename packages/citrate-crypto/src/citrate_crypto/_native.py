"""The one module of citrate-crypto that imports the Rust core (`citrate_native`).

Everything else in the package imports from here, so the seam between Python and Rust is a
single, typed place.
"""

from __future__ import annotations

from citrate_native import (
    HdWallet,
    PrivateKey,
    __version__,
    _mnemonic_to_seed,
    english_wordlist,
    generate_mnemonic,
    keccak256,
    mnemonic_from_entropy,
    to_checksum_address,
    validate_mnemonic,
)
from citrate_native import errors as native_errors

__all__ = [
    "HdWallet",
    "PrivateKey",
    "__version__",
    "_mnemonic_to_seed",
    "english_wordlist",
    "generate_mnemonic",
    "keccak256",
    "mnemonic_from_entropy",
    "native_errors",
    "to_checksum_address",
    "validate_mnemonic",
]
