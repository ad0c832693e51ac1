"""Citrate's native core (Rust): the wallet (BIP39, BIP32/BIP44, Ethereum keys, keystore v3),
the node core (GhostDAG, execution, the chain store) and the compute scheduler.

This is the only module that imports the compiled extension ``citrate_native._core``; everything
public is re-exported here. Exceptions live in :mod:`citrate_native.errors`.

Key material leaves the core only through underscore names that are deliberately not in
``__all__``: ``_mnemonic_to_seed`` here, ``HdWallet._extended_private_key`` and
``PrivateKey._secret_bytes``. They are internal, for the known-answer vector tests, the vault's
password-gated export and the legacy-migration and benchmark code in ``citrate_crypto``; any other
code gets secrets only through that export.
"""

from __future__ import annotations

from citrate_native import errors
from citrate_native._core import (
    CallRequest,
    Chain,
    GhostDag,
    GhostDagData,
    HdWallet,
    PrivateKey,
    Scheduler,
    __version__,
    build_genesis,
    english_wordlist,
    generate_mnemonic,
    keccak256,
    mnemonic_from_entropy,
    to_checksum_address,
    validate_mnemonic,
)

# Internal (see the module docstring): re-exported for citrate_crypto, kept out of __all__.
from citrate_native._core import _mnemonic_to_seed as _mnemonic_to_seed

__all__ = [
    "CallRequest",
    "Chain",
    "GhostDag",
    "GhostDagData",
    "HdWallet",
    "PrivateKey",
    "Scheduler",
    "__version__",
    "build_genesis",
    "english_wordlist",
    "errors",
    "generate_mnemonic",
    "keccak256",
    "mnemonic_from_entropy",
    "to_checksum_address",
    "validate_mnemonic",
]
