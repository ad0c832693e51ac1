"""The sealed wallet: creation, recovery, files on disk, bad input that loses nothing."""

from __future__ import annotations

import base64
import itertools
import json
import random
import stat
from pathlib import Path

import pytest

from citrate_crypto import HDWallet, KdfParams, Wallet, validate_mnemonic
from citrate_crypto.errors import (
    AccountNotFoundError,
    BackupVerificationError,
    CitrateError,
    InvalidAddressError,
    MnemonicChecksumError,
    PasswordMismatchError,
    PasswordPolicyError,
    VaultCorruptError,
    VaultExistsError,
    VaultNotFoundError,
    WalletLockedError,
    WrongPasswordError,
)

from .conftest import DEV_PHRASE, FAST_KDF, GOOD_PASSWORD, OTHER_PASSWORD


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name.startswith("vault")}


def test_create_returns_phrase_once_and_seals_it(wallet: Wallet) -> None:
    new = wallet.create(GOOD_PASSWORD, confirmation=GOOD_PASSWORD)
    assert validate_mnemonic(new.mnemonic) == new.mnemonic
    assert new.address == HDWallet.from_mnemonic(new.mnemonic).address(0)
    raw = wallet.path.read_text()
    words = new.mnemonic.split()
    # Single words may occur by chance ("check" and "salt" are BIP39 words and field names);
    # any two neighbouring words in the file would be the phrase in the clear.
    for pair in itertools.pairwise(words):
        assert " ".join(pair) not in raw
    assert GOOD_PASSWORD not in raw
    assert [a.address for a in wallet.accounts()] == [new.address]
    assert wallet.backup_verified is False
    assert wallet.word_count == 12


def test_files_are_private(wallet: Wallet) -> None:
    wallet.create(GOOD_PASSWORD)
    assert stat.S_IMODE(wallet.directory.stat().st_mode) == 0o700
    for path in wallet.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in wallet.directory.iterdir() if p.name.endswith(".tmp")]


def test_refuses_a_vault_others_can_read(dev_wallet: Wallet) -> None:
    dev_wallet.path.chmod(0o644)
    with pytest.raises(CitrateError, match="chmod 600"):
        dev_wallet.accounts()


@pytest.mark.parametrize("password", ["", "short", "alllowercaseletters", "Password123!"])
def test_no_wallet_without_a_good_password(wallet: Wallet, password: str) -> None:
    with pytest.raises(PasswordPolicyError):
        wallet.create(password)
    assert not wallet.path.exists()


def test_confirmation_must_match(wallet: Wallet) -> None:
    with pytest.raises(PasswordMismatchError):
        wallet.create(GOOD_PASSWORD, confirmation=GOOD_PASSWORD + "x")
    assert not wallet.path.exists()


def test_create_never_overwrites(dev_wallet: Wallet) -> None:
    before = _snapshot(dev_wallet.directory)
    with pytest.raises(VaultExistsError, match="--data-dir"):
        dev_wallet.create(GOOD_PASSWORD)
    with pytest.raises(VaultExistsError):
        dev_wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    assert _snapshot(dev_wallet.directory) == before


def test_recover_restores_standard_accounts(wallet: Wallet) -> None:
    addresses = wallet.recover("  " + DEV_PHRASE.upper() + " ", GOOD_PASSWORD, accounts=3)
    assert addresses == HDWallet.from_mnemonic(DEV_PHRASE).addresses(3)
    assert addresses[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert wallet.backup_verified is True
    unlocked = wallet.unlock(GOOD_PASSWORD)
    assert unlocked.account(addresses[2]).address == addresses[2]


def test_recover_24_words_with_passphrase(wallet: Wallet) -> None:
    phrase = " ".join(["abandon"] * 23 + ["art"])
    addresses = wallet.recover(phrase, GOOD_PASSWORD, passphrase="TREZOR")
    assert addresses == [HDWallet.from_mnemonic(phrase, "TREZOR").address(0)]


def test_recover_rejects_a_bad_phrase_and_writes_nothing(wallet: Wallet) -> None:
    with pytest.raises(MnemonicChecksumError):
        wallet.recover("test " * 12, GOOD_PASSWORD)
    assert not wallet.path.exists()


def test_add_account_derives_the_next_index(dev_wallet: Wallet) -> None:
    info = dev_wallet.add_account(GOOD_PASSWORD, label="savings")
    assert info.path == "m/44'/60'/0'/0/2"
    assert info.address == HDWallet.from_mnemonic(DEV_PHRASE).address(2)
    assert dev_wallet.accounts()[-1] == info


def test_wrong_password_changes_nothing(dev_wallet: Wallet) -> None:
    before = _snapshot(dev_wallet.directory)
    with pytest.raises(WrongPasswordError, match="4 attempt"):
        dev_wallet.add_account(OTHER_PASSWORD)
    with pytest.raises(WrongPasswordError):
        dev_wallet.unlock(OTHER_PASSWORD)
    assert _snapshot(dev_wallet.directory) == before
    assert dev_wallet.attempts()[0] == 2
    dev_wallet.unlock(GOOD_PASSWORD)
    assert dev_wallet.attempts() == (0, 0.0)


def test_missing_vault_says_how_to_make_one(wallet: Wallet) -> None:
    with pytest.raises(VaultNotFoundError, match="citrate wallet create"):
        wallet.unlock(GOOD_PASSWORD)


def _edit(path: Path, change: callable) -> None:  # type: ignore[valid-type]
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_tampered_ciphertext_is_reported_as_tampering(dev_wallet: Wallet) -> None:
    def flip(doc: dict) -> None:  # type: ignore[type-arg]
        ct = bytearray(base64.b64decode(doc["ciphertext"]))
        ct[5] ^= 1
        doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()

    _edit(dev_wallet.path, flip)
    with pytest.raises(VaultCorruptError, match="authentication tag"):
        dev_wallet.unlock(GOOD_PASSWORD)
    assert dev_wallet.attempts()[0] == 0  # tampering is not counted as a wrong password


def test_tampered_header_is_detected(dev_wallet: Wallet) -> None:
    evil = "0x000000000000000000000000000000000000dEaD"
    _edit(dev_wallet.path, lambda d: d["header"]["accounts"][0].update(address=evil))
    assert dev_wallet.accounts()[0].address == evil  # unverified read: what `list` warns of
    with pytest.raises(VaultCorruptError, match="modified"):
        dev_wallet.verified_accounts(GOOD_PASSWORD)
    with pytest.raises(VaultCorruptError, match="modified"):
        dev_wallet.export_key(evil, GOOD_PASSWORD)


def test_password_is_unicode_normalised(wallet: Wallet) -> None:
    import unicodedata

    password = "Crème-Brûlée-Økonomi-42"
    wallet.recover(DEV_PHRASE, unicodedata.normalize("NFC", password))
    wallet.unlock(unicodedata.normalize("NFD", password))


def test_lowered_kdf_parameters_are_refused(dev_wallet: Wallet) -> None:
    _edit(dev_wallet.path, lambda d: d["kdf"].update(memory_kib=8))
    with pytest.raises(VaultCorruptError, match="OWASP"):
        dev_wallet.unlock(GOOD_PASSWORD)


@pytest.mark.parametrize("keep", [0, 1, 40, 200, -2])
def test_truncated_vault_is_reported(dev_wallet: Wallet, keep: int) -> None:
    data = dev_wallet.path.read_bytes()
    dev_wallet.path.write_bytes(data[:keep])
    with pytest.raises(VaultCorruptError, match=r"truncated|damaged|lacks"):
        dev_wallet.unlock(GOOD_PASSWORD)


def test_not_a_vault(dev_wallet: Wallet) -> None:
    dev_wallet.path.write_text('{"format": "something-else", "version": 1}')
    with pytest.raises(VaultCorruptError, match="not a `citrate-wallet-vault`"):
        dev_wallet.accounts()


def test_kdf_parameters_are_stored_and_never_lowered(wallet: Wallet) -> None:
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    assert json.loads(wallet.path.read_text())["kdf"]["memory_kib"] == FAST_KDF.memory_kib
    stronger = KdfParams(memory_kib=32768, iterations=2, parallelism=2)
    Wallet(wallet.directory, kdf=stronger).add_account(GOOD_PASSWORD)
    assert json.loads(wallet.path.read_text())["kdf"]["memory_kib"] == 32768
    wallet.add_account(GOOD_PASSWORD)  # the weaker default does not lower the file's cost
    kdf = json.loads(wallet.path.read_text())["kdf"]
    assert (kdf["memory_kib"], kdf["parallelism"]) == (32768, 2)


def test_default_kdf_is_above_owasp_minimum() -> None:
    default, floor = KdfParams(), KdfParams.owasp_minimum()
    assert default.memory_kib >= floor.memory_kib and default.iterations >= floor.iterations
    with pytest.raises(VaultCorruptError):
        Wallet(Path("/nonexistent"), kdf=KdfParams(memory_kib=1024, iterations=1, parallelism=1))


def test_each_seal_uses_fresh_salt_and_nonce(dev_wallet: Wallet) -> None:
    first = json.loads(dev_wallet.path.read_text())
    dev_wallet.add_account(GOOD_PASSWORD)
    second = json.loads(dev_wallet.path.read_text())
    assert first["kdf"]["salt"] != second["kdf"]["salt"]
    assert first["cipher"]["nonce"] != second["cipher"]["nonce"]


class TestBackupCheck:
    def test_three_random_distinct_positions(self, wallet: Wallet) -> None:
        wallet.create(GOOD_PASSWORD, words=24)
        seen = set()
        for seed in range(30):
            positions = wallet.backup_challenge(random.Random(seed))  # type: ignore[arg-type]
            assert len(set(positions)) == 3 and all(1 <= p <= 24 for p in positions)
            seen.update(positions)
        assert len(seen) > 12  # really random over the whole phrase

    def test_verified_only_when_all_three_match(self, wallet: Wallet) -> None:
        words = wallet.create(GOOD_PASSWORD).mnemonic.split()
        positions = wallet.backup_challenge()
        answers = {p: words[p - 1] for p in positions}
        wrong = dict(answers)
        wrong[positions[1]] = "zoo" if words[positions[1] - 1] != "zoo" else "abandon"
        before = wallet.path.read_bytes()
        with pytest.raises(BackupVerificationError, match=f"#{positions[1]}"):
            wallet.verify_backup(GOOD_PASSWORD, wrong)
        assert wallet.path.read_bytes() == before
        # A challenge is answered once: the right words now need a new challenge.
        with pytest.raises(BackupVerificationError, match="new check"):
            wallet.verify_backup(GOOD_PASSWORD, answers)
        positions = wallet.backup_challenge()
        answers = {p: words[p - 1] for p in positions}
        with pytest.raises(BackupVerificationError, match="exactly"):
            wallet.verify_backup(GOOD_PASSWORD, dict(list(answers.items())[:2]))
        assert wallet.backup_verified is False
        positions = wallet.backup_challenge()
        answers = {p: f" {words[p - 1].upper()} " for p in positions}
        wallet.verify_backup(GOOD_PASSWORD, answers)
        assert wallet.backup_verified is True

    def test_positions_are_chosen_by_the_wallet_not_the_caller(self, wallet: Wallet) -> None:
        words = wallet.create(GOOD_PASSWORD).mnemonic.split()
        with pytest.raises(BackupVerificationError, match="exactly"):
            wallet.verify_backup(GOOD_PASSWORD, {1: words[0], 2: words[1], 3: words[2]})
        assert wallet.backup_verified is False


class TestExportKey:
    def test_export_needs_the_password_each_time(self, dev_wallet: Wallet) -> None:
        address = dev_wallet.accounts()[0].address
        key = dev_wallet.export_key(address.lower(), GOOD_PASSWORD)
        assert key == "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        with pytest.raises(WrongPasswordError):
            dev_wallet.export_key(address, OTHER_PASSWORD)

    def test_unknown_or_malformed_address(self, dev_wallet: Wallet) -> None:
        with pytest.raises(AccountNotFoundError, match="citrate wallet list"):
            dev_wallet.export_key("0x" + "11" * 20, GOOD_PASSWORD)
        with pytest.raises(InvalidAddressError):
            dev_wallet.export_key("0x1234", GOOD_PASSWORD)

    def test_unlocked_wallet_has_no_export(self, dev_wallet: Wallet) -> None:
        unlocked = dev_wallet.unlock(GOOD_PASSWORD)
        assert not [n for n in dir(unlocked) if "export" in n or "secret" in n.lower()]


class TestAutoLock:
    def test_locks_after_idle_timeout(self, dev_wallet: Wallet) -> None:
        now = [1000.0]
        unlocked = dev_wallet.unlock(GOOD_PASSWORD)
        unlocked._clock = lambda: now[0]
        unlocked._last_used = now[0]
        address = dev_wallet.accounts()[0].address
        now[0] += 299
        unlocked.sign_hash(address, b"\x01" * 32)  # use resets the idle clock
        now[0] += 299
        assert not unlocked.locked
        now[0] += 1
        assert unlocked.locked
        with pytest.raises(WalletLockedError, match="unlock"):
            unlocked.sign_hash(address, b"\x01" * 32)

    def test_timer_frees_keys_without_any_call(self, dev_wallet: Wallet) -> None:
        import time

        unlocked = dev_wallet.unlock(GOOD_PASSWORD, idle_timeout=0.05)
        deadline = time.monotonic() + 10
        while unlocked._contents is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert unlocked._contents is None

    def test_an_infinite_timeout_keeps_it_open_until_locked(self, dev_wallet: Wallet) -> None:
        import math

        now = [1000.0]
        unlocked = dev_wallet.unlock(GOOD_PASSWORD, idle_timeout=math.inf)
        assert unlocked._timer is None  # no timer thread to overflow
        unlocked._clock = lambda: now[0]
        now[0] += 10 * 365 * 86400
        assert not unlocked.locked
        unlocked.sign_hash(dev_wallet.accounts()[0].address, b"\x01" * 32)
        unlocked.lock()
        assert unlocked.locked

    def test_auto_lock_setting_is_stored(self, dev_wallet: Wallet) -> None:
        dev_wallet.set_auto_lock(GOOD_PASSWORD, 60)
        assert dev_wallet.unlock(GOOD_PASSWORD)._idle_timeout == 60
        with pytest.raises(ValueError, match="between"):
            dev_wallet.set_auto_lock(GOOD_PASSWORD, 1)

    def test_explicit_lock(self, dev_wallet: Wallet) -> None:
        unlocked = dev_wallet.unlock(GOOD_PASSWORD)
        unlocked.lock()
        with pytest.raises(WalletLockedError):
            unlocked.accounts()


def test_decrypted_contents_never_print_the_phrase(dev_wallet: Wallet) -> None:
    unlocked = dev_wallet.unlock(GOOD_PASSWORD)
    for text in (repr(unlocked._contents), str(unlocked._contents), repr(unlocked)):
        assert "junk" not in text
