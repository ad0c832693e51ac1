"""Every error a public API of citrate-crypto can raise.

The tree is rooted in `citrate_native.errors.CitrateError`; value errors are also `ValueError`
so callers that only know the builtins still catch them.
"""

from __future__ import annotations

from citrate_crypto._native import native_errors

CitrateError = native_errors.CitrateError
CitrateValueError = native_errors.CitrateValueError
MnemonicError = native_errors.MnemonicError
MnemonicWordCountError = native_errors.MnemonicWordCountError
MnemonicUnknownWordError = native_errors.MnemonicUnknownWordError
MnemonicChecksumError = native_errors.MnemonicChecksumError
DerivationError = native_errors.DerivationError
InvalidKeyError = native_errors.InvalidKeyError
InvalidAddressError = native_errors.InvalidAddressError
KeystoreError = native_errors.KeystoreError
KeystoreVersionError = native_errors.KeystoreVersionError
KeystoreMacError = native_errors.KeystoreMacError
KeystoreFormatError = native_errors.KeystoreFormatError


class WalletError(CitrateError):
    """A wallet operation could not be carried out."""


class PasswordPolicyError(CitrateValueError):
    """A new password does not meet the policy. `problems` lists every unmet rule."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"the password does not meet the policy:\n{lines}\n"
            "hint: use 12 or more characters mixing upper and lower case, digits and symbols; "
            "a few unrelated words with symbols between them work well"
        )


class PasswordMismatchError(CitrateValueError):
    """The password and its confirmation differ."""

    def __init__(self) -> None:
        super().__init__("the password and its confirmation do not match; hint: type it again")


class WrongPasswordError(WalletError):
    """The password does not open the vault. `remaining` attempts are left before a lockout."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        if remaining > 0:
            tail = f"{remaining} attempt(s) left before the wallet locks for a while"
        else:
            tail = "the wallet is now locked for a while"
        super().__init__(f"wrong password: {tail}")


class LockedOutError(WalletError):
    """Too many wrong passwords: password operations are refused for `retry_after` seconds."""

    def __init__(self, retry_after: float, failures: int) -> None:
        self.retry_after = retry_after
        self.failures = failures
        super().__init__(
            f"too many wrong passwords ({failures}); password operations are locked for "
            f"another {retry_after:.0f} s. hint: wait, then try again; each further wrong "
            "password doubles the delay"
        )


class VaultNotFoundError(WalletError):
    """No wallet exists in the data directory."""


class VaultExistsError(WalletError):
    """A wallet already exists where a new one was to be created; it was not touched."""


class VaultCorruptError(WalletError):
    """The vault file is truncated, tampered with, or not a Citrate vault."""


class WalletLockedError(WalletError):
    """The unlocked wallet session has locked itself (idle timeout or `lock()`)."""


class AccountNotFoundError(WalletError):
    """No account with the given address is in the wallet."""


class BackupVerificationError(WalletError):
    """The words given for the backup check do not match the mnemonic."""


class SecondFactorError(WalletError):
    """A TOTP code is required for this operation, or the code given is wrong."""


class SecretStoreError(CitrateError):
    """A secret (such as an API key) could not be stored or read."""


__all__ = [
    "AccountNotFoundError",
    "BackupVerificationError",
    "CitrateError",
    "CitrateValueError",
    "DerivationError",
    "InvalidAddressError",
    "InvalidKeyError",
    "KeystoreError",
    "KeystoreFormatError",
    "KeystoreMacError",
    "KeystoreVersionError",
    "LockedOutError",
    "MnemonicChecksumError",
    "MnemonicError",
    "MnemonicUnknownWordError",
    "MnemonicWordCountError",
    "PasswordMismatchError",
    "PasswordPolicyError",
    "SecondFactorError",
    "SecretStoreError",
    "VaultCorruptError",
    "VaultExistsError",
    "VaultNotFoundError",
    "WalletError",
    "WalletLockedError",
    "WrongPasswordError",
]
