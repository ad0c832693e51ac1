"""Citrate's wallet: standard BIP39/BIP44 keys, an encrypted vault, keystore v3, secrets.

Public API:
    HDWallet, Account: derive addresses and sign (keys stay in the Rust core).
    Wallet, UnlockedWallet: the password-sealed wallet on disk.
    SecretStore: API keys in the OS keychain, else the encrypted vault.
    generate_mnemonic, validate_mnemonic, check_password, migrate (legacy wallets).
Errors live in `citrate_crypto.errors`.
"""

from __future__ import annotations

from importlib.metadata import version as _dist_version

from citrate_crypto.hd import Account, HDWallet, generate_mnemonic, validate_mnemonic
from citrate_crypto.legacy import LegacyMigration, migrate
from citrate_crypto.password import PasswordReport, check_password
from citrate_crypto.sealed import KdfParams
from citrate_crypto.secret_store import SecretStore
from citrate_crypto.vault import AccountInfo, NewWallet, UnlockedWallet, Wallet

__version__ = _dist_version("citrate-crypto")

__all__ = [
    "Account",
    "AccountInfo",
    "HDWallet",
    "KdfParams",
    "LegacyMigration",
    "NewWallet",
    "PasswordReport",
    "SecretStore",
    "UnlockedWallet",
    "Wallet",
    "__version__",
    "check_password",
    "generate_mnemonic",
    "migrate",
    "validate_mnemonic",
]
