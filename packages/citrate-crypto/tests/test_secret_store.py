"""The API-key store: the encrypted-vault fallback, and a real OS keychain (GNOME Keyring)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest

from citrate_crypto import SecretStore
from citrate_crypto.errors import (
    LockedOutError,
    PasswordPolicyError,
    SecretStoreError,
    WrongPasswordError,
)

from .conftest import FAST_KDF, GOOD_PASSWORD, OTHER_PASSWORD

API_KEY = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"


def _store(directory: Path, password: str = GOOD_PASSWORD) -> SecretStore:
    return SecretStore(directory, password=lambda: password, kdf=FAST_KDF)


def test_without_keychain_falls_back_to_the_encrypted_vault(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.backend_name == "encrypted vault"
    store.set("openai", API_KEY)
    store.set("anthropic", API_KEY + "-2")
    assert store.names() == ["anthropic", "openai"]
    # A fresh object (a new process) reads it back with the password.
    assert _store(tmp_path).get("openai") == API_KEY
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert API_KEY.encode() not in path.read_bytes()
    assert _store(tmp_path).delete("openai") is True
    assert _store(tmp_path).get("openai") is None
    assert _store(tmp_path).delete("openai") is False
    assert _store(tmp_path).names() == ["anthropic"]


def test_fallback_vault_needs_the_right_password(tmp_path: Path) -> None:
    _store(tmp_path).set("openai", API_KEY)
    before = (tmp_path / "secrets.json").read_bytes()
    with pytest.raises(WrongPasswordError):
        _store(tmp_path, OTHER_PASSWORD).get("openai")
    with pytest.raises(WrongPasswordError):
        _store(tmp_path, OTHER_PASSWORD).set("openai", "replaced")
    assert (tmp_path / "secrets.json").read_bytes() == before
    for _ in range(3):
        with pytest.raises(WrongPasswordError):
            _store(tmp_path, OTHER_PASSWORD).get("openai")
    with pytest.raises(LockedOutError):
        _store(tmp_path).get("openai")


def test_vault_secrets_stay_readable_when_a_keychain_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path).set("openai", API_KEY)

    class EmptyKeychain(keyring.backend.KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError("not expected")

        def delete_password(self, service: str, username: str) -> None:
            raise keyring.errors.PasswordDeleteError(username)

    monkeypatch.setattr(keyring, "get_keyring", EmptyKeychain)
    store = _store(tmp_path)
    assert store.backend_name.startswith("OS keychain")
    assert store.get("openai") == API_KEY


def test_a_new_fallback_vault_needs_a_policy_password(tmp_path: Path) -> None:
    with pytest.raises(PasswordPolicyError):
        _store(tmp_path, "weak").set("openai", API_KEY)
    assert not (tmp_path / "secrets.json").exists()


def test_without_password_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="password"):
        SecretStore(tmp_path, kdf=FAST_KDF).set("openai", API_KEY)


def test_forcing_the_keychain_without_one_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="no OS keychain"):
        SecretStore(tmp_path, backend="keyring")


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 200])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="secret name"):
        _store(tmp_path).set(name, API_KEY)


KEYCHAIN_SCRIPT = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path
    from citrate_crypto import SecretStore

    store = SecretStore(Path(sys.argv[1]))
    assert store.backend_name.startswith("OS keychain"), store.backend_name
    store.set("openai", {API_KEY!r})
    again = SecretStore(Path(sys.argv[1]))
    assert again.get("openai") == {API_KEY!r}
    assert again.names() == ["openai"]
    import keyring
    assert keyring.get_password("citrate", "openai") == {API_KEY!r}
    assert again.delete("openai")
    assert again.get("openai") is None
    print("keychain ok")
    """
)


@pytest.mark.keychain
def test_real_gnome_keyring(tmp_path: Path) -> None:
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        if os.environ.get("CI"):
            pytest.fail("CI must have gnome-keyring and dbus (make test-deps installs them)")
        pytest.skip("gnome-keyring / dbus-run-session not installed (run `make test-deps`)")
    script = tmp_path / "keychain_check.py"
    script.write_text(KEYCHAIN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    shell = (
        "printf '%s' \"$KEYRING_UNLOCK\" | gnome-keyring-daemon --unlock --components=secrets "
        '>/dev/null 2>&1 && exec "$0" "$@"'
    )
    env["KEYRING_UNLOCK"] = "test-only-keyring-login"
    result = subprocess.run(
        [
            "dbus-run-session",
            "--",
            "sh",
            "-c",
            shell,
            sys.executable,
            str(script),
            str(tmp_path / "d"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "keychain ok" in result.stdout
    # Nothing secret reached the disk: only the names index exists.
    for path in (tmp_path / "d").iterdir():
        assert API_KEY.encode() not in path.read_bytes()
    assert not (tmp_path / "d" / "secrets.json").exists()
