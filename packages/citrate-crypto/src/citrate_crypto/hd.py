"""BIP39 mnemonics and BIP32/BIP44 hierarchical deterministic wallets.

The derivation runs in the Rust core. The addresses are the ones MetaMask, ethers, Foundry and
eth-account give for the same phrase: secp256k1 keys at m/44'/60'/account'/0/index, EIP-55.
Private keys never leave the opaque `Account` objects; the one way out is the vault's
password-gated export.
"""

from __future__ import annotations

from citrate_crypto import _native

VALID_WORD_COUNTS = (12, 15, 18, 21, 24)
ETH_PATH = "m/44'/60'/{account}'/0/{index}"


def generate_mnemonic(words: int = 12) -> str:
    """Return a new English BIP39 mnemonic of `words` words from the OS CSPRNG.

    Raises:
        MnemonicWordCountError: `words` is not 12, 15, 18, 21 or 24.
    """
    return _native.generate_mnemonic(words)


def validate_mnemonic(phrase: str) -> str:
    """Return the normalised phrase (NFKD, single spaces, lower case) or raise.

    Raises:
        MnemonicWordCountError: the phrase has the wrong number of words.
        MnemonicUnknownWordError: a word is not in the list; carries the closest valid words.
        MnemonicChecksumError: every word is valid but the checksum does not match.
    """
    return _native.validate_mnemonic(" ".join(phrase.lower().split()))


class Account:
    """One secp256k1 key pair; the secret stays inside."""

    __slots__ = ("_key",)

    def __init__(self, key: _native.PrivateKey) -> None:
        self._key = key

    @property
    def address(self) -> str:
        """The EIP-55 checksummed address."""
        return self._key.address

    @property
    def public_key(self) -> bytes:
        """The 65-byte uncompressed public key (0x04 prefix)."""
        return self._key.public_key

    def sign_hash(self, digest: bytes) -> bytes:
        """Sign a 32-byte hash; return r || s || v (65 bytes, v in {0, 1}, low s)."""
        return self._key.sign_hash(digest)

    def __repr__(self) -> str:
        return f"Account({self.address})"


class HDWallet:
    """A BIP32 wallet from a BIP39 mnemonic.

    Example:
        >>> phrase = "test test test test test test test test test test test junk"
        >>> HDWallet.from_mnemonic(phrase).address(0)
        '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: _native.HdWallet) -> None:
        self._inner = inner

    @classmethod
    def from_mnemonic(cls, phrase: str, passphrase: str = "") -> HDWallet:
        """Build the wallet of a BIP39 phrase and optional BIP39 passphrase.

        Raises:
            MnemonicError: the phrase is not a valid English BIP39 mnemonic.
        """
        return cls(_native.HdWallet.from_mnemonic(validate_mnemonic(phrase), passphrase))

    def address(self, index: int, account: int = 0) -> str:
        """The EIP-55 address at m/44'/60'/account'/0/index."""
        return self._inner.address(index, account)

    def addresses(self, count: int, start: int = 0, account: int = 0) -> list[str]:
        """`count` consecutive addresses from `start` on account `account`."""
        return self._inner.addresses(count, start, account)

    def account(self, index: int, account: int = 0) -> Account:
        """The signing account at m/44'/60'/account'/0/index."""
        return Account(self._inner.key(index, account))

    def account_at(self, path: str) -> Account:
        """The signing account at any BIP32 path such as "m/44'/60'/0'/0/7"."""
        return Account(self._inner.key_at(path))

    def __repr__(self) -> str:
        return f"HDWallet({self.address(0)}, ...)"
