"""The wallet on disk: one mnemonic (plus imported keys) sealed under the user's password.

Layout of the wallet directory (0700):

- `vault.json` (0600): a sealed document (see `citrate_crypto.sealed`) whose secret part holds
  the mnemonic, its BIP39 passphrase, imported keys and the TOTP secret, and whose public,
  authenticated header lists the accounts so `list` needs no password.
- `attempts.json` (0600): the password-attempt limiter's counter (see `citrate_crypto.limiter`).

Every change re-seals the whole vault with a fresh salt and nonce and replaces the file
atomically under an exclusive lock, so a crash or a second process never leaves a half-written
or lost update. There is no default password: every entry point that writes a vault takes one
and checks it against the policy.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyotp

from citrate_crypto import _native
from citrate_crypto._files import atomic_write, ensure_private_dir, exclusive_lock, read_private
from citrate_crypto.errors import (
    AccountNotFoundError,
    BackupVerificationError,
    CitrateValueError,
    SecondFactorError,
    VaultCorruptError,
    VaultExistsError,
    VaultNotFoundError,
    WalletLockedError,
)
from citrate_crypto.hd import ETH_PATH, Account, generate_mnemonic, validate_mnemonic
from citrate_crypto.limiter import AttemptLimiter, LimiterPolicy
from citrate_crypto.password import require_new_password
from citrate_crypto.sealed import KdfParams, Sealed, parse, seal

VAULT_FORMAT = "citrate-wallet-vault"
VAULT_FILE = "vault.json"
ATTEMPTS_FILE = "attempts.json"
BACKUP_CHECK_WORDS = 3
DEFAULT_AUTO_LOCK_SECONDS = 300
WEI_PER_SALT = 10**18


@dataclass(frozen=True)
class AccountInfo:
    """Public facts about one account of the wallet."""

    address: str
    label: str
    kind: Literal["hd", "imported"]
    path: str | None

    def to_json(self) -> dict[str, Any]:
        """The account as stored in the vault header."""
        return {"address": self.address, "label": self.label, "kind": self.kind, "path": self.path}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AccountInfo:
        """Read an account from the vault header."""
        kind = doc["kind"]
        if kind not in ("hd", "imported"):
            raise VaultCorruptError(f"the vault lists an account of unknown kind `{kind}`")
        return cls(str(doc["address"]), str(doc["label"]), kind, doc.get("path"))


@dataclass(frozen=True)
class NewWallet:
    """What `Wallet.create` hands back once: the mnemonic to write down, and the first address."""

    mnemonic: str
    address: str


@dataclass(repr=False)
class _Contents:
    """The decrypted vault: secret part and public header, mutable while a change is made."""

    def __repr__(self) -> str:  # never print the secret part
        return f"_Contents(<secret>, {len(self.header.get('accounts', []))} accounts)"

    secret: dict[str, Any]
    header: dict[str, Any]
    _hd: _native.HdWallet | None = None  # derived once per opening (PBKDF2 + 4 CKD steps)

    @property
    def accounts(self) -> list[AccountInfo]:
        return [AccountInfo.from_json(a) for a in self.header["accounts"]]

    def find(self, address: str) -> AccountInfo:
        wanted = _normalise_address(address)
        for info in self.accounts:
            if info.address.lower() == wanted.lower():
                return info
        raise AccountNotFoundError(
            f"no account `{address}` in this wallet; hint: `citrate wallet list` shows them"
        )

    def hd(self) -> _native.HdWallet:
        if self._hd is None:
            mnemonic = self.secret.get("mnemonic")
            if not mnemonic:
                raise CitrateValueError("this wallet has no mnemonic (it holds imported keys only)")
            self._hd = _native.HdWallet.from_mnemonic(mnemonic, self.secret.get("passphrase", ""))
        return self._hd

    def key(self, info: AccountInfo) -> _native.PrivateKey:
        if info.kind == "imported":
            return _native.PrivateKey.from_bytes(
                bytes.fromhex(self.secret["imported"][info.address])
            )
        assert info.path is not None
        return self.hd().key_at(info.path)


class Wallet:
    """A wallet directory. Creating the object touches nothing on disk.

    Args:
        directory: the wallet directory (see `citrate_crypto.paths.wallet_dir`).
        kdf: Argon2id parameters for new seals; an existing vault's higher ones are kept.
        limiter_policy: how wrong passwords are limited.
        clock: wall-clock source for the limiter (tests pass a fake).
    """

    def __init__(
        self,
        directory: Path,
        *,
        kdf: KdfParams | None = None,
        limiter_policy: LimiterPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.kdf = kdf or KdfParams()
        self.kdf.validate()
        self._limiter = AttemptLimiter(self.directory / ATTEMPTS_FILE, limiter_policy, clock)
        self._challenge: frozenset[int] | None = None

    @property
    def path(self) -> Path:
        """The vault file."""
        return self.directory / VAULT_FILE

    def exists(self) -> bool:
        """Whether a vault file is present."""
        return self.path.exists()

    def refuse_existing(self) -> None:
        """Raise `VaultExistsError` if a vault is present (creation never overwrites one)."""
        if self.exists():
            raise VaultExistsError(
                f"a wallet already exists at `{self.path}`; it was not changed. hint: pass "
                "--data-dir (or set CITRATE_HOME) to keep another wallet elsewhere"
            )

    # ----------------------------------------------------------------- creation and recovery

    def create(
        self,
        password: str,
        *,
        confirmation: str | None = None,
        words: int = 12,
        passphrase: str = "",
        label: str = "Account 1",
    ) -> NewWallet:
        """Create a wallet with a new mnemonic. The mnemonic is returned here and never again.

        Raises:
            PasswordPolicyError, PasswordMismatchError: the password is not acceptable.
            VaultExistsError: a wallet already exists here; it is left untouched.
        """
        require_new_password(password, confirmation)
        mnemonic = generate_mnemonic(words)
        address = self._write_new(mnemonic, passphrase, password, accounts=1, label=label)[0]
        return NewWallet(mnemonic=mnemonic, address=address)

    def recover(
        self,
        phrase: str,
        password: str,
        *,
        confirmation: str | None = None,
        passphrase: str = "",
        accounts: int = 1,
    ) -> list[str]:
        """Restore a wallet from its 12/24-word phrase; return the restored addresses.

        The backup counts as verified: the user has just typed the whole phrase.

        Raises:
            MnemonicError: the phrase is not valid (unknown word, checksum, word count).
            PasswordPolicyError, PasswordMismatchError: the password is not acceptable.
            VaultExistsError: a wallet already exists here; it is left untouched.
        """
        normalised = validate_mnemonic(phrase)
        require_new_password(password, confirmation)
        if not 1 <= accounts <= 1000:
            raise CitrateValueError(f"`{accounts}` accounts: restore between 1 and 1000")
        return self._write_new(
            normalised, passphrase, password, accounts=accounts, label="Account 1", verified=True
        )

    def _write_new(
        self,
        mnemonic: str,
        passphrase: str,
        password: str,
        *,
        accounts: int,
        label: str,
        verified: bool = False,
    ) -> list[str]:
        ensure_private_dir(self.directory)
        with exclusive_lock(self._lock_path):
            self.refuse_existing()
            hd = _native.HdWallet.from_mnemonic(mnemonic, passphrase)
            addresses = hd.addresses(accounts)
            header = {
                "accounts": [
                    AccountInfo(
                        address=a,
                        label=label if i == 0 else f"Account {i + 1}",
                        kind="hd",
                        path=ETH_PATH.format(account=0, index=i),
                    ).to_json()
                    for i, a in enumerate(addresses)
                ],
                "backup_verified": verified,
                "word_count": len(mnemonic.split()),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "totp": {"enabled": False, "threshold_wei": None},
                "auto_lock_seconds": DEFAULT_AUTO_LOCK_SECONDS,
            }
            secret: dict[str, Any] = {
                "mnemonic": mnemonic,
                "passphrase": passphrase,
                "imported": {},
                "totp": None,
            }
            self._seal(_Contents(secret, header), password, self.kdf)
            return addresses

    # ------------------------------------------------------------------------- public reads

    def accounts(self) -> list[AccountInfo]:
        """The accounts, read from the public header (no password needed).

        Unverified: the header is authenticated only when the vault is opened with the password
        (`verified_accounts`), so someone able to write the file could change this list.
        """
        return [AccountInfo.from_json(a) for a in self._parse().header["accounts"]]

    def verified_accounts(self, password: str) -> list[AccountInfo]:
        """The accounts, with the header's authenticity checked by opening the vault."""
        return self._open(password).accounts

    @property
    def backup_verified(self) -> bool:
        """Whether the user has passed the backup check."""
        return bool(self._parse().header["backup_verified"])

    @property
    def word_count(self) -> int | None:
        """How many words the wallet's mnemonic has (None for imported-only wallets)."""
        count = self._parse().header.get("word_count")
        return int(count) if count else None

    def attempts(self) -> tuple[int, float]:
        """(consecutive wrong passwords, seconds of lockout left)."""
        return self._limiter.status()

    # ------------------------------------------------------------------ password operations

    def unlock(self, password: str, *, idle_timeout: float | None = None) -> UnlockedWallet:
        """Open the wallet for signing; it locks itself after `idle_timeout` idle seconds.

        Raises:
            WrongPasswordError, LockedOutError: see `citrate_crypto.limiter`.
            VaultNotFoundError, VaultCorruptError: the file is missing or damaged.
        """
        contents = self._open(password)
        timeout = idle_timeout
        if timeout is None:
            timeout = float(contents.header.get("auto_lock_seconds", DEFAULT_AUTO_LOCK_SECONDS))
        return UnlockedWallet(contents, timeout)

    def check_password(self, password: str) -> None:
        """Verify `password` (counted by the limiter) without keeping anything open."""
        self._open(password)

    def add_account(self, password: str, label: str | None = None) -> AccountInfo:
        """Derive the next HD account (m/44'/60'/0'/0/n) and add it to the wallet."""
        with self._change(password) as contents:
            hd_paths = [a.path for a in contents.accounts if a.kind == "hd"]
            index = len(hd_paths)
            path = ETH_PATH.format(account=0, index=index)
            while path in hd_paths:
                index += 1
                path = ETH_PATH.format(account=0, index=index)
            info = AccountInfo(
                address=contents.hd().key_at(path).address,
                label=label or f"Account {len(contents.accounts) + 1}",
                kind="hd",
                path=path,
            )
            contents.header["accounts"].append(info.to_json())
        return info

    def backup_challenge(self, rng: secrets.SystemRandom | None = None) -> list[int]:
        """Pick 3 distinct random word positions (1-based, ascending) for the backup check."""
        count = self.word_count
        if count is None:
            raise CitrateValueError("this wallet has no mnemonic to verify")
        positions = sorted(
            (rng or secrets.SystemRandom()).sample(range(1, count + 1), BACKUP_CHECK_WORDS)
        )
        self._challenge = frozenset(positions)
        return positions

    def verify_backup(self, password: str, answers: Mapping[int, str]) -> None:
        """Mark the backup verified if the words at the positions of the last
        `backup_challenge()` all match the mnemonic. Each challenge is answered once.

        Raises:
            BackupVerificationError: no challenge was issued, the answers are not for its
                positions, or a word is wrong. Nothing changes.
        """
        challenge, self._challenge = self._challenge, None
        if challenge is None or frozenset(answers) != challenge:
            raise BackupVerificationError(
                f"answer exactly the {BACKUP_CHECK_WORDS} positions the check asked for; "
                "hint: ask for a new check (`citrate wallet verify-backup`)"
            )
        with self._change(password) as contents:
            words = str(contents.secret["mnemonic"]).split()
            wrong = [
                pos
                for pos, word in sorted(answers.items())
                if not 1 <= pos <= len(words) or words[pos - 1] != " ".join(word.lower().split())
            ]
            if wrong:
                raise BackupVerificationError(
                    "the word(s) at position(s) "
                    + ", ".join(f"#{p}" for p in wrong)
                    + " do not match your mnemonic; the backup is not marked verified. hint: "
                    "check what you wrote down, then run `citrate wallet verify-backup` again"
                )
            contents.header["backup_verified"] = True

    def export_key(self, address: str, password: str, totp_code: str | None = None) -> str:
        """Return the account's private key as 0x-hex. The password is asked every time.

        This is the one API that returns a key as a string; it is limited like every password
        check (5 wrong passwords lock it with a growing delay), and when a second factor is on
        it needs a current code too (an exported key can move everything).
        """
        contents = self._open(password)
        _require_totp_for_export(contents, totp_code)
        return "0x" + contents.key(contents.find(address))._secret_bytes().hex()

    def export_keystore(
        self,
        address: str,
        password: str,
        keystore_password: str,
        *,
        kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
        keystore_confirmation: str | None = None,
        totp_code: str | None = None,
    ) -> str:
        """Return the account as Ethereum keystore v3 JSON, sealed with `keystore_password`."""
        require_new_password(keystore_password, keystore_confirmation)
        contents = self._open(password)
        _require_totp_for_export(contents, totp_code)
        key = contents.key(contents.find(address))
        return key.encrypt_keystore(keystore_password, kdf)

    def import_keystore(
        self, keystore_json: str, keystore_password: str, password: str, label: str | None = None
    ) -> AccountInfo:
        """Decrypt a keystore v3 file and add its key to the wallet.

        Raises:
            KeystoreError: unknown version, wrong keystore password (MAC), malformed file.
            WrongPasswordError: the wallet password is wrong. Nothing is written on any error.
        """
        key = _native.PrivateKey.from_keystore(keystore_json, keystore_password)
        with self._change(password) as contents:
            if any(a.address == key.address for a in contents.accounts):
                raise CitrateValueError(f"`{key.address}` is already in this wallet")
            info = AccountInfo(
                address=key.address,
                label=label or f"Imported {len(contents.accounts) + 1}",
                kind="imported",
                path=None,
            )
            contents.secret["imported"][key.address] = key._secret_bytes().hex()
            contents.header["accounts"].append(info.to_json())
        return info

    @property
    def totp_enabled(self) -> bool:
        """Whether a second factor is configured (from the header; enforced after unlock)."""
        return bool((self._parse().header.get("totp") or {}).get("enabled"))

    def enable_totp(
        self,
        password: str,
        threshold_salt: str,
        enrollment: TotpEnrollment,
        code: str,
        *,
        current_code: str | None = None,
    ) -> None:
        """Require a TOTP code above `threshold_salt` SALT and for key export.

        `enrollment` comes from `new_totp_enrollment()`; `code` is the first code the user's
        authenticator shows for it, proving the app holds the secret before anything depends on
        it. Changing an existing second factor (new secret or threshold) needs `current_code`
        from the old one, so the password alone can never weaken it.

        Raises:
            SecondFactorError: a code is wrong or missing; nothing changes.
        """
        threshold = parse_salt(threshold_salt)
        _verify_totp(enrollment.secret, code)
        with self._change(password) as contents:
            if contents.secret.get("totp"):
                if not current_code:
                    raise SecondFactorError(
                        "a second factor is already on; hint: give a code from it to change it"
                    )
                _verify_totp(contents.secret["totp"], current_code)
            contents.secret["totp"] = enrollment.secret
            contents.header["totp"] = {"enabled": True, "threshold_wei": str(threshold)}

    def disable_totp(self, password: str, code: str) -> None:
        """Turn the second factor off; needs a current code."""
        with self._change(password) as contents:
            _verify_totp(contents.secret.get("totp"), code)
            contents.secret["totp"] = None
            contents.header["totp"] = {"enabled": False, "threshold_wei": None}

    def set_auto_lock(self, password: str, seconds: int) -> None:
        """Set the idle timeout after which an unlocked wallet locks itself."""
        if not 10 <= seconds <= 24 * 3600:
            raise CitrateValueError(f"`{seconds}` s: choose an auto-lock between 10 s and 24 h")
        with self._change(password) as contents:
            contents.header["auto_lock_seconds"] = seconds

    # ---------------------------------------------------------------------------- internals

    @property
    def _lock_path(self) -> Path:
        return self.directory / (VAULT_FILE + ".lock")

    def _parse(self) -> Sealed:
        try:
            data = read_private(self.path)
        except FileNotFoundError:
            raise VaultNotFoundError(
                f"no wallet at `{self.path}`; hint: `citrate wallet create` makes one, "
                "`citrate wallet recover` restores one from its mnemonic"
            ) from None
        return parse(data, format=VAULT_FORMAT, source=str(self.path))

    def _open(self, password: str) -> _Contents:
        sealed = self._parse()
        plaintext = self._limiter.attempt(lambda: sealed.open(password))
        try:
            secret = json.loads(plaintext)
        except ValueError:
            raise VaultCorruptError(f"`{self.path}` decrypted to something unreadable") from None
        return _Contents(secret=secret, header=json.loads(json.dumps(sealed.header)))

    @contextmanager
    def _change(self, password: str) -> Iterator[_Contents]:
        """Open, let the caller change, re-seal and replace; nothing is written on an error."""
        with exclusive_lock(self._lock_path):
            sealed = self._parse()
            contents = self._open(password)
            yield contents
            self._seal(contents, password, self.kdf.at_least(sealed.kdf))

    def _seal(self, contents: _Contents, password: str, kdf: KdfParams) -> None:
        plaintext = json.dumps(contents.secret, sort_keys=True).encode()
        atomic_write(
            self.path,
            seal(plaintext, password, format=VAULT_FORMAT, header=contents.header, kdf=kdf),
        )


class UnlockedWallet:
    """An open wallet that can sign. It locks itself after `idle_timeout` seconds without use.

    Locking drops this object's references to the decrypted vault, so it can sign no more. The
    Rust key objects zeroise their secrets when freed, but Python strings (the decrypted
    mnemonic) cannot be wiped and live until the garbage collector reclaims them, and an
    `Account` handed out earlier keeps its key until it is dropped.
    """

    def __init__(
        self,
        contents: _Contents,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._contents: _Contents | None = contents
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._last_used = clock()
        self._used_totp_steps: set[int] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._arm_timer()

    @property
    def locked(self) -> bool:
        """Whether the wallet has locked (explicitly or by the idle timeout)."""
        with self._lock:
            self._expire_if_idle()
            return self._contents is None

    def accounts(self) -> list[AccountInfo]:
        """The wallet's accounts."""
        return self._use().accounts

    def account(self, address: str) -> Account:
        """The signing account for `address`."""
        contents = self._use()
        return Account(contents.key(contents.find(address)))

    def sign_hash(self, address: str, digest: bytes) -> bytes:
        """Sign a 32-byte hash with the account's key (r || s || v)."""
        return self.account(address).sign_hash(digest)

    def authorize_value(self, value_wei: int, totp_code: str | None = None) -> None:
        """Check the second factor for an operation moving `value_wei`.

        Raises:
            SecondFactorError: TOTP is on, the value is above the threshold, and the code is
                missing, wrong, or already used.
        """
        contents = self._use()
        totp = contents.header.get("totp") or {}
        if not totp.get("enabled") or value_wei <= int(totp["threshold_wei"]):
            return
        if not totp_code:
            raise SecondFactorError(
                f"moving {format_salt(value_wei)} SALT is above your second-factor threshold of "
                f"{format_salt(int(totp['threshold_wei']))} SALT; hint: enter the 6-digit code "
                "from your authenticator app"
            )
        step = _verify_totp(contents.secret.get("totp"), totp_code)
        if step in self._used_totp_steps:
            raise SecondFactorError("this code was already used; hint: wait for the next one")
        self._used_totp_steps.add(step)

    def lock(self) -> None:
        """Lock now."""
        with self._lock:
            self._drop()

    def _use(self) -> _Contents:
        with self._lock:
            self._expire_if_idle()
            if self._contents is None:
                raise WalletLockedError(
                    "the wallet is locked; hint: unlock it again with your password"
                )
            self._last_used = self._clock()
            self._arm_timer()
            return self._contents

    def _expire_if_idle(self) -> None:
        if self._contents is not None and self._clock() - self._last_used >= self._idle_timeout:
            self._drop()

    def _drop(self) -> None:
        self._contents = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        # The clock check above is what enforces the timeout; the timer frees the keys even if
        # nobody touches the wallet again.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if math.isinf(self._idle_timeout):
            return  # a service (the compute provider) keeps it open until it locks it
        self._timer = threading.Timer(self._idle_timeout, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._expire_if_idle()


def parse_salt(amount: str) -> int:
    """Parse a decimal SALT amount ("1.5") into wei (18 decimals), exactly."""
    text = amount.strip()
    whole, _, frac = text.partition(".")
    if (
        not text
        or not (whole or frac)
        or not text.isascii()
        or not (whole.isdigit() or whole == "")
        or not (frac.isdigit() or frac == "")
        or len(frac) > 18
    ):
        raise CitrateValueError(
            f"`{amount}` is not a SALT amount; hint: write a non-negative decimal with at most "
            "18 digits after the point, such as 1.5"
        )
    return int(whole or "0") * WEI_PER_SALT + int((frac or "0").ljust(18, "0"))


def format_salt(wei: int) -> str:
    """Format wei as a decimal SALT amount without trailing zeros."""
    whole, frac = divmod(wei, WEI_PER_SALT)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class TotpEnrollment:
    """A new TOTP secret waiting for its first code. `uri` goes into an authenticator app."""

    secret: str
    uri: str

    def __repr__(self) -> str:
        return "TotpEnrollment(<secret>)"


def new_totp_enrollment(label: str = "Citrate wallet") -> TotpEnrollment:
    """Make a fresh TOTP secret (160 bits, base32) and its otpauth:// URI."""
    secret = pyotp.random_base32(32)
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name="Citrate")
    return TotpEnrollment(secret, uri)


def _require_totp_for_export(contents: _Contents, code: str | None) -> None:
    if not contents.secret.get("totp"):
        return
    if not code:
        raise SecondFactorError(
            "exporting a key needs a code from your authenticator app (two-factor is on)"
        )
    _verify_totp(contents.secret["totp"], code)


def _verify_totp(secret: str | None, code: str) -> int:
    if not secret:
        raise SecondFactorError("two-factor authentication is not enabled for this wallet")
    totp = pyotp.TOTP(secret)
    now = time.time()
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if secrets.compare_digest(totp.at(at), code.strip()):
            return int(at // totp.interval)
    raise SecondFactorError(
        "the authenticator code is wrong or expired; hint: enter the current code"
    )


def _normalise_address(address: str) -> str:
    return _native.to_checksum_address(address)
