# Hand-written stubs for the Rust extension `citrate_native._core` (citrate-py/src/lib.rs).
# Checked by `python -m mypy.stubtest citrate_native._core`; keep both in step.
from typing import final

# `_mnemonic_to_seed` is internal (kept out of `citrate_native.__all__`), but it is a name the
# extension module exports, and stubtest checks this list against the module.
__all__ = [
    "HdWallet",
    "PrivateKey",
    "__version__",
    "_mnemonic_to_seed",
    "english_wordlist",
    "generate_mnemonic",
    "keccak256",
    "mnemonic_from_entropy",
    "to_checksum_address",
    "validate_mnemonic",
]

__version__: str

def generate_mnemonic(word_count: int = 12) -> str: ...
def mnemonic_from_entropy(entropy: bytes) -> str: ...
def validate_mnemonic(phrase: str) -> str: ...
def _mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """Internal: the 64-byte BIP39 seed (key material); not in ``__all__``.

    Only for the vector tests, the vault's password-gated export and the legacy-migration and
    benchmark code in citrate_crypto.
    """

def english_wordlist() -> list[str]: ...
def keccak256(data: bytes) -> bytes: ...
def to_checksum_address(address: str) -> str: ...

@final
class HdWallet:
    @staticmethod
    def from_mnemonic(phrase: str, passphrase: str = "") -> HdWallet: ...
    @staticmethod
    def from_seed(seed: bytes) -> HdWallet: ...
    def address(self, index: int, account: int = 0) -> str: ...
    def addresses(self, count: int, start: int = 0, account: int = 0) -> list[str]: ...
    def key(self, index: int, account: int = 0) -> PrivateKey: ...
    def key_at(self, path: str) -> PrivateKey: ...
    def extended_public_key(self, path: str) -> str: ...
    def _extended_private_key(self, path: str) -> str:
        """Internal: the ``xprv`` key at ``path`` (key material).

        Only for the vector tests, the vault's password-gated export and the legacy-migration
        and benchmark code in citrate_crypto.
        """

@final
class PrivateKey:
    @staticmethod
    def from_bytes(secret: bytes) -> PrivateKey: ...
    @property
    def address(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    def sign_hash(self, digest: bytes) -> bytes: ...
    def _secret_bytes(self) -> bytes:
        """Internal: the 32-byte secret (key material).

        Only for the vector tests, the vault's password-gated export and the legacy-migration
        and benchmark code in citrate_crypto.
        """
    def encrypt_keystore(
        self,
        password: str,
        kdf: str = "scrypt",
        *,
        iterations: int = 262144,
        scrypt_n: int = 262144,
        scrypt_r: int = 8,
        scrypt_p: int = 1,
    ) -> str: ...
    @staticmethod
    def from_keystore(keystore_json: str, password: str) -> PrivateKey: ...
