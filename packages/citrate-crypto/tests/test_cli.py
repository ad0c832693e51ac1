"""The `citrate wallet` command line, run as users run it: a real process, real stdin."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account as EthAccount

from citrate_crypto import HDWallet

from .conftest import DEV_PHRASE, GOOD_PASSWORD, OTHER_PASSWORD

CITRATE = str(Path(sys.executable).with_name("citrate"))


def run(
    *args: str, stdin: str = "", home: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["CITRATE_HOME"] = str(home)
    # The default Argon2id cost; a few CLI calls make it bearable and it tests the real thing.
    result = subprocess.run(
        [CITRATE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "citrate-home"


def _recover_dev(home: Path) -> None:
    run(
        "wallet", "recover", "--password-stdin", stdin=f"{DEV_PHRASE}\n{GOOD_PASSWORD}\n", home=home
    )


def _interactive(home: Path, *args: str, first_line: str) -> subprocess.Popen[str]:
    """Start `citrate ARGS` with pipes, send its first stdin line, and leave it running."""
    proc = subprocess.Popen(
        [CITRATE, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CITRATE_HOME": str(home)},
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(first_line + "\n")
    proc.stdin.flush()
    return proc


def _phrase(stdout: str) -> str:
    words = dict(re.findall(r"(\d+)\. ([a-z]+)", stdout))
    assert len(words) in (12, 24), stdout
    return " ".join(words[str(i)] for i in range(1, len(words) + 1))


def _no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr


def test_help_everywhere() -> None:
    top = run("--help")
    assert "wallet" in top.stdout
    commands = [
        "create", "recover", "list", "verify-backup", "export-key", "import-keystore",
        "export-keystore", "migrate-legacy", "derive", "add-account", "status",
    ]  # fmt: skip
    wallet_help = run("wallet", "--help").stdout
    for command in commands:
        assert command in wallet_help
        assert "Usage" in run("wallet", command, "--help").stdout
    assert run("--version").stdout.startswith("citrate 0.1.0")


def test_derive_prints_standard_addresses() -> None:
    result = run("wallet", "derive", "--count", "3", "--start", "1", stdin=DEV_PHRASE + "\n")
    assert result.stdout.split() == HDWallet.from_mnemonic(DEV_PHRASE).addresses(3, start=1)
    with_pass = run("wallet", "derive", "--account", "2", stdin=f"{DEV_PHRASE}\nTREZOR\n")
    EthAccount.enable_unaudited_hdwallet_features()
    expected = EthAccount.from_mnemonic(
        DEV_PHRASE, passphrase="TREZOR", account_path="m/44'/60'/2'/0/0"
    ).address
    assert with_pass.stdout.strip() == expected


def test_derive_bad_phrase_suggests_words() -> None:
    result = run("wallet", "derive", stdin=DEV_PHRASE.replace("junk", "junkk"), check=False)
    assert result.returncode == 1
    assert "`junkk`" in result.stderr and "`junk`" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_list_export_flow(home: Path) -> None:
    created = run("wallet", "create", "--password-stdin", stdin=GOOD_PASSWORD + "\n", home=home)
    phrase = _phrase(created.stdout)
    address = HDWallet.from_mnemonic(phrase).address(0)
    assert address in created.stdout
    assert "verify-backup" in created.stdout
    _no_secret(created, GOOD_PASSWORD)
    vault = home / "wallet" / "vault.json"
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.parent.stat().st_mode) == 0o700

    listed = json.loads(run("wallet", "list", "--json", home=home).stdout)
    assert listed["accounts"][0]["address"] == address
    assert listed["backup_verified"] is False

    again = run(
        "wallet", "create", "--password-stdin", stdin=GOOD_PASSWORD + "\n", home=home, check=False
    )
    assert again.returncode == 1 and "already exists" in again.stderr

    wrong = run(
        "wallet",
        "export-key",
        address,
        "--password-stdin",
        stdin=OTHER_PASSWORD + "\n",
        home=home,
        check=False,
    )
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    exported = run(
        "wallet", "export-key", address, "--password-stdin", stdin=GOOD_PASSWORD + "\n", home=home
    )
    key = exported.stdout.strip()
    assert EthAccount.from_key(key).address == address
    assert "controls the account" in exported.stderr


def test_verify_backup_interactively(home: Path) -> None:
    _recover_dev(home)
    # A recovered wallet is verified already; a created one is not: make one to verify.
    other = home.parent / "other"
    created = run("wallet", "create", "--password-stdin", stdin=GOOD_PASSWORD + "\n", home=other)
    phrase = _phrase(created.stdout)
    words = phrase.split()
    proc = _interactive(
        other, "wallet", "verify-backup", "--password-stdin", first_line=GOOD_PASSWORD
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "positions" in line, line
    positions = [int(p) for p in line.split("positions")[1].split("(")[0].replace(",", " ").split()]
    assert len(positions) == 3
    answers = "".join(words[p - 1] + "\n" for p in positions)
    stdout, stderr = proc.communicate(answers, timeout=60)
    assert proc.returncode == 0, stderr
    assert "Backup verified" in stdout
    assert json.loads(run("wallet", "list", "--json", home=other).stdout)["backup_verified"] is True


def test_recover_with_bad_phrase_writes_nothing(home: Path) -> None:
    bad = DEV_PHRASE.replace("junk", "test")
    result = run(
        "wallet",
        "recover",
        "--password-stdin",
        stdin=f"{bad}\n{GOOD_PASSWORD}\n",
        home=home,
        check=False,
    )
    assert result.returncode == 1 and "checksum" in result.stderr
    assert not (home / "wallet" / "vault.json").exists()


def test_weak_password_lists_every_rule(home: Path) -> None:
    result = run("wallet", "create", "--password-stdin", stdin="password\n", home=home, check=False)
    assert result.returncode == 1
    for needle in ("12 characters", "upper-case", "digit", "symbol", "common"):
        assert needle in result.stderr
    assert not (home / "wallet" / "vault.json").exists()


def test_no_input_is_a_clear_error(home: Path) -> None:
    result = run("wallet", "create", "--password-stdin", stdin="", home=home, check=False)
    assert result.returncode == 1 and "input ended" in result.stderr
    assert not (home / "wallet" / "vault.json").exists()


def test_keystore_import_export(home: Path, tmp_path: Path) -> None:
    _recover_dev(home)
    key = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(EthAccount.encrypt(key, OTHER_PASSWORD, iterations=2**12)))
    imported = run(
        "wallet",
        "import-keystore",
        str(keystore),
        "--password-stdin",
        stdin=f"{OTHER_PASSWORD}\n{GOOD_PASSWORD}\n",
        home=home,
    )
    address = EthAccount.from_key(key).address
    assert address in imported.stdout
    outdir = tmp_path / "exports"
    outdir.mkdir()
    outdir.chmod(0o755)
    out = outdir / "exported.json"
    run(
        "wallet",
        "export-keystore",
        address,
        "--kdf",
        "pbkdf2",
        "--out",
        str(out),
        "--password-stdin",
        stdin=f"{GOOD_PASSWORD}\n{OTHER_PASSWORD}\n",
        home=home,
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(outdir.stat().st_mode) == 0o755  # the user's directory is left alone
    exists = run(
        "wallet", "export-keystore", address, "--out", str(out), "--password-stdin",
        stdin=f"{GOOD_PASSWORD}\n{OTHER_PASSWORD}\n", home=home, check=False,
    )  # fmt: skip
    assert exists.returncode == 2 and "exists" in exists.stderr
    assert (
        "0x" + EthAccount.decrypt(out.read_text(), OTHER_PASSWORD).hex().removeprefix("0x") == key
    )

    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 2}')
    before = (home / "wallet" / "vault.json").read_bytes()
    result = run(
        "wallet",
        "import-keystore",
        str(bad),
        "--password-stdin",
        stdin=f"x\n{GOOD_PASSWORD}\n",
        home=home,
        check=False,
    )
    assert result.returncode == 1 and "version" in result.stderr
    missing = run("wallet", "import-keystore", str(tmp_path / "nope.json"), home=home, check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert (home / "wallet" / "vault.json").read_bytes() == before


def test_migrate_legacy() -> None:
    result = run("wallet", "migrate-legacy", "--password-stdin", stdin=DEV_PHRASE + "\n")
    assert "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" in result.stdout
    assert "Legacy address (keccak)" in result.stdout


def test_data_dir_option_overrides_env(home: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "explicit"
    run(
        "wallet",
        "recover",
        "--data-dir",
        str(explicit),
        "--password-stdin",
        stdin=f"{DEV_PHRASE}\n{GOOD_PASSWORD}\n",
        home=home,
    )
    assert (explicit / "wallet" / "vault.json").exists()
    assert not (home / "wallet").exists()
    missing = run("wallet", "list", home=home, check=False)
    assert missing.returncode == 1 and "citrate wallet create" in missing.stderr


def test_list_verify_detects_an_altered_list(home: Path) -> None:
    dev = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    _recover_dev(home)
    verify = ("wallet", "list", "--verify", "--password-stdin")
    assert dev in run(*verify, stdin=GOOD_PASSWORD + "\n", home=home).stdout
    vault = home / "wallet" / "vault.json"
    vault.write_text(vault.read_text().replace(dev, "0x000000000000000000000000000000000000dEaD"))
    altered = run(*verify, stdin=GOOD_PASSWORD + "\n", home=home, check=False)
    assert altered.returncode == 1 and "modified" in altered.stderr


def test_totp_enable_then_export_needs_the_code(home: Path) -> None:
    import pyotp

    _recover_dev(home)
    proc = _interactive(
        home, "wallet", "totp", "enable", "--threshold", "5", "--password-stdin",
        first_line=GOOD_PASSWORD,
    )  # fmt: skip
    assert proc.stdout is not None
    uri = ""
    while not uri.startswith("otpauth://"):
        line = proc.stdout.readline()
        assert line, "the command ended before printing the otpauth URI"
        uri = line.strip()
    totp = pyotp.parse_uri(uri)
    stdout, stderr = proc.communicate(totp.now() + "\n", timeout=60)
    assert proc.returncode == 0, stderr
    assert "Two-factor is on" in stdout
    address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    export = ("wallet", "export-key", address, "--password-stdin")
    no_code = run(*export, stdin=GOOD_PASSWORD + "\n", home=home, check=False)
    assert no_code.returncode == 1 and "input ended" in no_code.stderr
    ok = run(*export, stdin=f"{GOOD_PASSWORD}\n{totp.now()}\n", home=home)
    assert ok.stdout.strip().startswith("0xac0974")
