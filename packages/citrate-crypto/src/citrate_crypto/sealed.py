"""Password-sealed documents: Argon2id for the key, AES-256-GCM for the content.

A sealed document is JSON:

```
{"format": "...", "version": 1,
 "kdf": {"name": "argon2id", "version": 19, "memory_kib": ..., "iterations": ...,
         "parallelism": ..., "salt": "<base64>", "check": "<base64>"},
 "cipher": {"name": "aes-256-gcm", "nonce": "<base64>"},
 "header": {...public, authenticated metadata...},
 "ciphertext": "<base64>"}
```

The KDF parameters live in the file so they can rise later without breaking old files. The
public header (e.g. the account addresses, so `list` works without a password) is bound to the
ciphertext as GCM associated data: changing any byte of it, of the parameters or of the
ciphertext makes the tag check fail when the file is opened with the password. (Read without
the password, the header is unverified.) Argon2id yields 64 bytes: the AES key and a check
value (`kdf.check`), so a wrong password is told apart from an altered ciphertext or header; an
altered salt, check value or KDF parameter reads as a wrong password. Passwords are NFC-
normalised before hashing, so the same password typed on any keyboard opens the file.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citrate_crypto.errors import VaultCorruptError

ARGON2_VERSION = 19
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters.

    The default is RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes), above the
    OWASP minimum (19 MiB, 2 passes, 1 lane), which is the floor this module accepts.
    """

    memory_kib: int = 65536
    iterations: int = 3
    parallelism: int = 4

    @classmethod
    def owasp_minimum(cls) -> KdfParams:
        """The weakest parameters accepted (OWASP Password Storage Cheat Sheet, Argon2id)."""
        return cls(memory_kib=19456, iterations=2, parallelism=1)

    def validate(self) -> None:
        """Raise `VaultCorruptError` if the parameters are below the floor or absurd."""
        floor = KdfParams.owasp_minimum()
        if (
            self.memory_kib < floor.memory_kib
            or self.iterations < floor.iterations
            or self.parallelism < floor.parallelism
        ):
            raise VaultCorruptError(
                f"the Argon2id parameters `{self}` are below the OWASP minimum `{floor}`; "
                "refusing to use them. hint: the file was not written by Citrate or was altered"
            )
        if self.memory_kib > 4 * 1024 * 1024 or self.iterations > 100 or self.parallelism > 64:
            raise VaultCorruptError(f"the Argon2id parameters `{self}` are unreasonably large")

    def at_least(self, other: KdfParams) -> KdfParams:
        """The component-wise maximum, so re-sealing never lowers a file's cost."""
        return KdfParams(
            memory_kib=max(self.memory_kib, other.memory_kib),
            iterations=max(self.iterations, other.iterations),
            parallelism=max(self.parallelism, other.parallelism),
        )


@dataclass(frozen=True)
class Sealed:
    """A parsed, not yet opened, sealed document."""

    format: str
    kdf: KdfParams
    salt: bytes
    check: bytes
    nonce: bytes
    header: dict[str, Any]
    ciphertext: bytes

    def open(self, password: str) -> bytes | None:
        """Return the plaintext, or None when `password` is wrong.

        Raises:
            VaultCorruptError: the password is right but the content or header was altered.
        """
        key, check = _derive(password, self.salt, self.kdf)
        if not hmac.compare_digest(check, self.check):
            return None
        try:
            return AESGCM(key).decrypt(self.nonce, self.ciphertext, self._aad())
        except InvalidTag:
            raise VaultCorruptError(
                f"the {self.format} was modified after it was written: its authentication tag "
                "does not verify, so nothing in it can be trusted. hint: restore it from a "
                "backup, or recover the wallet from its mnemonic into a new data directory"
            ) from None

    def _aad(self) -> bytes:
        return _aad(self.format, self.kdf, self.salt, self.header)


def seal(
    plaintext: bytes,
    password: str,
    *,
    format: str,
    header: dict[str, Any],
    kdf: KdfParams,
) -> bytes:
    """Encrypt `plaintext` under `password` with a fresh salt and nonce; return the file bytes."""
    kdf.validate()
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    key, check = _derive(password, salt, kdf)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _aad(format, kdf, salt, header))
    doc = {
        "format": format,
        "version": 1,
        "kdf": {
            "name": "argon2id",
            "version": ARGON2_VERSION,
            "memory_kib": kdf.memory_kib,
            "iterations": kdf.iterations,
            "parallelism": kdf.parallelism,
            "salt": _b64(salt),
            "check": _b64(check),
        },
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
        "header": header,
        "ciphertext": _b64(ciphertext),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def parse(data: bytes, *, format: str, source: str) -> Sealed:
    """Parse sealed file bytes, raising `VaultCorruptError` that names what is wrong."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VaultCorruptError(
            f"`{source}` is not valid JSON ({exc}); it is truncated or damaged. "
            "hint: restore it from a backup, or recover the wallet from its mnemonic"
        ) from None
    try:
        if not isinstance(doc, dict) or doc.get("format") != format:
            raise VaultCorruptError(f"`{source}` is not a `{format}` file")
        if doc.get("version") != 1:
            raise VaultCorruptError(
                f"`{source}` has format version `{doc.get('version')}`; this Citrate reads 1. "
                "hint: upgrade Citrate"
            )
        kdf_doc, cipher_doc = doc["kdf"], doc["cipher"]
        if kdf_doc["name"] != "argon2id" or kdf_doc["version"] != ARGON2_VERSION:
            raise VaultCorruptError(f"`{source}` names an unsupported KDF `{kdf_doc['name']}`")
        if cipher_doc["name"] != "aes-256-gcm":
            raise VaultCorruptError(
                f"`{source}` names an unsupported cipher `{cipher_doc['name']}`"
            )
        kdf = KdfParams(
            memory_kib=_int(kdf_doc["memory_kib"]),
            iterations=_int(kdf_doc["iterations"]),
            parallelism=_int(kdf_doc["parallelism"]),
        )
        kdf.validate()
        salt, nonce = _unb64(kdf_doc["salt"]), _unb64(cipher_doc["nonce"])
        check = _unb64(kdf_doc["check"])
        ciphertext = _unb64(doc["ciphertext"])
        header = doc["header"]
        if (
            len(salt) < SALT_BYTES
            or len(check) != KEY_BYTES
            or len(nonce) != NONCE_BYTES
            or len(ciphertext) < 16
        ):
            raise VaultCorruptError(f"`{source}` has a salt, nonce or ciphertext of bad length")
        if not isinstance(header, dict):
            raise VaultCorruptError(f"`{source}` has a header that is not an object")
    except (KeyError, TypeError) as exc:
        raise VaultCorruptError(f"`{source}` lacks the field {exc}; it is damaged") from None
    return Sealed(format, kdf, salt, check, nonce, header, ciphertext)


def _derive(password: str, salt: bytes, kdf: KdfParams) -> tuple[bytes, bytes]:
    """Argon2id to 64 bytes: the AES key, then a check value that tells a wrong password from
    an altered file. The check gives an attacker nothing the ciphertext does not: either way
    each guess costs one Argon2id run."""
    out = hash_secret_raw(
        unicodedata.normalize("NFC", password).encode("utf-8"),
        salt,
        time_cost=kdf.iterations,
        memory_cost=kdf.memory_kib,
        parallelism=kdf.parallelism,
        hash_len=2 * KEY_BYTES,
        type=Type.ID,
        version=ARGON2_VERSION,
    )
    return out[:KEY_BYTES], out[KEY_BYTES:]


def _aad(fmt: str, kdf: KdfParams, salt: bytes, header: dict[str, Any]) -> bytes:
    bound = {
        "format": fmt,
        "version": 1,
        "kdf": [kdf.memory_kib, kdf.iterations, kdf.parallelism, _b64(salt)],
        "header": header,
    }
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise VaultCorruptError("a base64 field of the vault is damaged") from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value
