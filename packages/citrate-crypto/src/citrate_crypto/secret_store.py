"""A store for secrets such as LLM provider API keys.

Secrets go to the OS keychain through `keyring` (macOS Keychain, Windows Credential Locker,
the Secret Service of GNOME Keyring/KWallet). Where no keychain exists, as on a headless Linux
machine, they go to a vault sealed with the user's password (Argon2id + AES-256-GCM, the same
envelope as the wallet) — never to plain text or to a key derived from facts about the host,
which anyone who can read the disk could recompute.

Only the *names* of stored secrets are kept in the clear (`secrets-index.json`, 0600), so a
caller can list what is configured without a password.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from citrate_crypto._files import atomic_write, ensure_private_dir, exclusive_lock, read_private
from citrate_crypto.errors import CitrateValueError, SecretStoreError, VaultNotFoundError
from citrate_crypto.limiter import AttemptLimiter
from citrate_crypto.password import require_new_password
from citrate_crypto.sealed import KdfParams, parse, seal
from citrate_crypto.vault import ATTEMPTS_FILE

SERVICE = "citrate"
SECRETS_FORMAT = "citrate-secret-vault"
SECRETS_FILE = "secrets.json"
INDEX_FILE = "secrets-index.json"
Backend = Literal["auto", "keyring", "vault"]
PasswordProvider = Callable[[], str]


def keychain_backend() -> KeyringBackend | None:
    """The usable OS keychain backend, or None when there is none (or only an insecure one)."""
    try:
        backend = keyring.get_keyring()
        if _insecure(backend):
            return None
        # Backends can load and still fail on first use (a locked or absent D-Bus service).
        backend.get_password(SERVICE, "__citrate_probe__")
    except (keyring.errors.KeyringError, RuntimeError, OSError):
        return None
    return backend


def _insecure(backend: KeyringBackend) -> bool:
    module = type(backend).__module__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")):
        return True
    if module.startswith("keyring.backends.chainer"):
        return not getattr(backend, "backends", [])
    return False


class SecretStore:
    """Named secrets in the OS keychain, else in a password-sealed vault.

    Args:
        directory: where the fallback vault and the index live (the wallet directory).
        backend: "auto" (keychain if usable, else vault), or force one.
        password: called when the fallback vault must be opened or created; return the user's
            password (the wallet password is the natural choice).
        kdf: Argon2id parameters for the fallback vault.
    """

    def __init__(
        self,
        directory: Path,
        *,
        backend: Backend = "auto",
        password: PasswordProvider | None = None,
        kdf: KdfParams | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._password = password
        self._kdf = kdf or KdfParams()
        self._limiter = AttemptLimiter(self.directory / ATTEMPTS_FILE)
        self._mutex = threading.Lock()
        self._sealed_kdf: KdfParams | None = None  # the existing vault's cost, never lowered
        keychain = keychain_backend() if backend in ("auto", "keyring") else None
        if backend == "keyring" and keychain is None:
            raise SecretStoreError(
                "no OS keychain is available; hint: install and unlock GNOME Keyring or KWallet, "
                "or use the encrypted vault (backend `vault`)"
            )
        self._keychain = keychain

    @property
    def needs_new_password(self) -> bool:
        """True when the next `set` creates the fallback vault (and so sets its password)."""
        return self._keychain is None and not (self.directory / SECRETS_FILE).exists()

    @property
    def backend_name(self) -> str:
        """Where secrets go: the keychain backend's name, or "encrypted vault"."""
        if self._keychain is not None:
            return f"OS keychain ({type(self._keychain).__name__})"
        return "encrypted vault"

    def names(self) -> list[str]:
        """Names of the stored secrets (no password needed)."""
        try:
            return sorted(json.loads(read_private(self.directory / INDEX_FILE)))
        except FileNotFoundError:
            return []

    def set(self, name: str, value: str) -> None:
        """Store `value` under `name`, replacing any earlier value."""
        _check_name(name)
        if not value:
            raise CitrateValueError(f"the secret `{name}` is empty; hint: paste the whole key")
        with self._mutex, exclusive_lock(self.directory / (INDEX_FILE + ".lock")):
            if self._keychain is not None:
                try:
                    self._keychain.set_password(SERVICE, name, value)
                except keyring.errors.KeyringError as exc:
                    raise SecretStoreError(
                        f"the keychain refused to store `{name}`: {type(exc).__name__}"
                    ) from None
            else:
                secrets = self._read_vault(create=True)
                secrets[name] = value
                self._write_vault(secrets)
            self._write_index({*self.names(), name})

    def get(self, name: str) -> str | None:
        """The secret stored under `name`, or None."""
        _check_name(name)
        if self._keychain is not None:
            try:
                value = self._keychain.get_password(SERVICE, name)
            except keyring.errors.KeyringError as exc:
                raise SecretStoreError(
                    f"the keychain could not read `{name}`: {type(exc).__name__}"
                ) from None
            if value is not None:
                return value
        # Saved to the vault while no keychain was available (e.g. a headless session)?
        if name not in self.names() or not (self.directory / SECRETS_FILE).exists():
            return None
        return self._read_vault(create=False).get(name)

    def delete(self, name: str) -> bool:
        """Remove `name`; return whether it was there."""
        _check_name(name)
        with self._mutex, exclusive_lock(self.directory / (INDEX_FILE + ".lock")):
            present = name in self.names()
            if self._keychain is not None:
                try:
                    self._keychain.delete_password(SERVICE, name)
                    present = True
                except keyring.errors.PasswordDeleteError:
                    pass
            elif present:
                secrets = self._read_vault(create=False)
                secrets.pop(name, None)
                self._write_vault(secrets)
            self._write_index(set(self.names()) - {name})
            return present

    # ---------------------------------------------------------------------------- internals

    def _password_now(self) -> str:
        if self._password is None:
            raise SecretStoreError(
                "no OS keychain is available and no password was given to open the encrypted "
                "secret vault; hint: unlock with your wallet password"
            )
        return self._password()

    def _read_vault(self, *, create: bool) -> dict[str, str]:
        path = self.directory / SECRETS_FILE
        try:
            data = read_private(path)
        except FileNotFoundError:
            if create:
                return {}
            raise VaultNotFoundError(f"no secret vault at `{path}`") from None
        sealed = parse(data, format=SECRETS_FORMAT, source=str(path))
        self._sealed_kdf = sealed.kdf
        password = self._password_now()
        plaintext = self._limiter.attempt(lambda: sealed.open(password))
        return dict(json.loads(plaintext))

    def _write_vault(self, secrets: dict[str, str]) -> None:
        path = self.directory / SECRETS_FILE
        password = self._password_now()
        if not path.exists():
            require_new_password(password)  # the first write sets the vault's password
        ensure_private_dir(self.directory)
        payload = json.dumps(secrets, sort_keys=True).encode()
        kdf = self._kdf if self._sealed_kdf is None else self._kdf.at_least(self._sealed_kdf)
        atomic_write(path, seal(payload, password, format=SECRETS_FORMAT, header={}, kdf=kdf))

    def _write_index(self, names: Iterable[str]) -> None:
        atomic_write(self.directory / INDEX_FILE, json.dumps(sorted(names)).encode())


def _check_name(name: str) -> None:
    if not name or len(name) > 128 or not all(c.isalnum() or c in "-_.:" for c in name):
        raise CitrateValueError(
            f"`{name}` is not a valid secret name; hint: use letters, digits and - _ . :"
        )
