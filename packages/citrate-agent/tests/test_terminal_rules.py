"""The argv and path rules of `execute_command`, checked without running any process."""

from __future__ import annotations

from pathlib import Path

import pytest

from citrate_agent.config import DEFAULT_COMMANDS
from citrate_agent.errors import CommandRefusedError
from citrate_agent.tools.terminal import (
    SAFE_PATH,
    check_argv,
    check_path,
    resolve_cwd,
    resolve_program,
    scrubbed_env,
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "a.txt").write_text("a\n")
    (workspace / "sub" / "b.txt").write_text("b\n")
    return workspace.resolve()


def check(ws: Path, *argv: str, cwd: Path | None = None, allowed: tuple[str, ...] = ()) -> str:
    return check_argv(list(argv), cwd=cwd or ws, workspace=ws, allowed=allowed or DEFAULT_COMMANDS)


def refused(ws: Path, *argv: str, **kw: object) -> str:
    with pytest.raises(CommandRefusedError) as info:
        check(ws, *argv, **kw)  # type: ignore[arg-type]
    assert info.value.hint
    return info.value.message


@pytest.mark.parametrize(
    "argv",
    [
        ("echo", "hello", "world"),
        ("ls", "-la", "sub"),
        ("cat", "a.txt", "sub/b.txt"),
        ("cp", "a.txt", "sub/"),
        ("cp", "-t", "sub", "a.txt"),
        ("cp", "--target-directory=sub", "a.txt"),
        ("mkdir", "-p", "new/deeper"),
        ("head", "-n", "5", "a.txt"),
        ("head", "-n5", "a.txt"),
        ("grep", "-rn", "a", "."),
        ("date", "-d", "next sunday", "+%Y/%m/%d"),
        ("cat", "-"),
        ("cat", "--", "a.txt"),
        ("pwd",),
        ("stat", "-c", "%s", "a.txt"),
    ],
)
def test_allowed_commands_pass(ws: Path, argv: tuple[str, ...]) -> None:
    program = check(ws, *argv)
    assert Path(program).is_absolute()
    assert Path(program).name == argv[0]
    assert str(Path(program).parent) in SAFE_PATH.split(":")


def test_absolute_path_inside_the_workspace_passes(ws: Path) -> None:
    check(ws, "cat", str(ws / "a.txt"))


@pytest.mark.parametrize("name", ["python3", "sh", "bash", "rm", "ln", "curl"])
def test_program_not_allowlisted(ws: Path, name: str) -> None:
    assert f"`{name}` is not an allowed program" in refused(ws, name, "x")


@pytest.mark.parametrize("name", ["/bin/ls", "./ls", "", "..", "sub/ls"])
def test_program_must_be_a_bare_name(ws: Path, name: str) -> None:
    assert "is not a program name" in refused(ws, name)


def test_program_in_workspace_is_not_used(ws: Path) -> None:
    fake = ws / "ls"
    fake.write_text("#!/bin/sh\necho pwned\n")
    fake.chmod(0o755)
    assert Path(resolve_program("ls", ["ls"])).parent != ws


def test_launchers_refused_even_when_allowlisted(ws: Path) -> None:
    message = refused(ws, "xargs", "ls", allowed=("xargs", "ls"))
    assert "runs other programs" in message
    assert "bypassing the allowlist" in refused(ws, "env", "python3", allowed=("env",))
    check(ws, "env", allowed=("env",))  # env alone only prints the environment


def test_allowlisted_but_missing_program(ws: Path) -> None:
    name = "no-such-program-citrate"
    assert "not installed" in refused(ws, name, allowed=(name,))


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("cat", "/etc/passwd"), "outside the workspace"),
        (("cat", "../a.txt"), "`..` component"),
        (("cat", "sub/../../x"), "`..` component"),
        (("cat", "~"), "starts with `~`"),
        (("cat", "~/.ssh/id_rsa"), "starts with `~`"),
        (("cp", "a.txt", "/tmp/"), "outside the workspace"),
        (("cp", "-t", "/tmp", "a.txt"), "outside the workspace"),
        (("cp", "-t/tmp", "a.txt"), "outside the workspace"),
        (("cp", "--target-directory=/tmp", "a.txt"), "outside the workspace"),
        (("cp", "--target=/tmp", "a.txt"), "outside the workspace"),
        (("date", "--file=/etc/passwd"), "outside the workspace"),
        (("date", "-f", "/etc/passwd"), "outside the workspace"),
        (("date", "-f/etc/passwd"), "outside the workspace"),
        (("grep", "-o/tmp/x", "a.txt"), "outside the workspace"),
        (("grep", "-f", "/etc/shadow", "a.txt"), "outside the workspace"),
        (("diff", "a.txt", "/etc/hostname"), "outside the workspace"),
        (("stat", "/"), "outside the workspace"),
        (("head", "--", "/etc/passwd"), "outside the workspace"),
        (("mv", "a.txt", "--target-directory=~"), "starts with `~`"),
        (("touch", "-r", "/etc/passwd", "a.txt"), "outside the workspace"),
        (("echo", "/etc"), "outside the workspace"),
    ],
)
def test_paths_outside_refused(ws: Path, argv: tuple[str, ...], reason: str) -> None:
    assert reason in refused(ws, *argv)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("date", "-s", "2000-01-01"), "system clock"),
        (("date", "--set=2000-01-01"), "system clock"),
        (("date", "--se", "2000-01-01"), "system clock"),
        (("date", "-us", "2000-01-01"), "system clock"),
        (("cp", "-s", "a.txt", "link"), "creates symlinks"),
        (("cp", "--symbolic-link", "a.txt", "link"), "creates symlinks"),
        (("cp", "-rs", "sub", "links"), "creates symlinks"),
        (("cp", "-b", "-S", "x", "a.txt", "sub"), "backup file names"),
        (("mv", "--suffix=x", "a.txt", "sub"), "backup file names"),
        (("sha256sum", "-c", "a.txt"), "opens every file"),
        (("sha256sum", "--check", "a.txt"), "opens every file"),
        (("wc", "--files0-from=a.txt"), "reads file names from a file"),
        (("wc", "--fi=a.txt"), "reads file names from a file"),
        (("du", "--files0-from", "a.txt"), "reads file names from a file"),
        (("ls", "--files0-from=a.txt"), "reads file names from a file"),
    ],
)
def test_dangerous_options_refused(ws: Path, argv: tuple[str, ...], reason: str) -> None:
    assert reason in refused(ws, *argv, allowed=(*DEFAULT_COMMANDS, "du"))


def test_option_values_that_contain_the_letter_are_not_options(ws: Path) -> None:
    # `-d` takes a value, so the `s` in its attached value is not `-s`.
    check(ws, "date", "-dsunday")
    check(ws, "cp", "-tsub", "a.txt")  # `-t` takes the rest: `s` is not `--symbolic-link`
    check(ws, "date", "--file=a.txt")  # an exact option, not a prefix of `--files0-from`


def test_symlink_pointing_outside_refused(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    (ws / "sub" / "leak").symlink_to(secret)
    message = refused(ws, "cat", "sub/leak")
    assert "goes through the symlink `sub/leak`" in message
    assert "symlink `sub/leak`" in refused(ws, "cat", "leak", cwd=ws / "sub")
    # Through a symlinked directory, and as an option value.
    (ws / "up").symlink_to(tmp_path)
    assert "symlink `up`" in refused(ws, "cat", "up/secret.txt")
    assert "symlink `up`" in refused(ws, "cp", "--target-directory=up", "a.txt")
    assert "symlink `up`" in refused(ws, "cp", "-tup", "a.txt")


def test_directories_with_outside_links_refused(ws: Path, tmp_path: Path) -> None:
    (ws / "deep" / "er").mkdir(parents=True)
    (ws / "deep" / "er" / "etc").symlink_to("/etc")
    # A recursive command could follow the link inside the directory.
    message = refused(ws, "grep", "-R", "root", str(ws / "deep"), cwd=ws / "sub")
    assert "`deep/er/etc` is a symlink pointing outside" in message
    # And the working directory is scanned too (`grep -r` searches `.` by default).
    assert "is a symlink pointing outside" in refused(ws, "grep", "-r", "root")
    # A directory without such links is fine.
    check(ws, "grep", "-r", "a", "sub", cwd=ws / "sub")


def test_symlink_inside_pointing_inside_is_fine(ws: Path) -> None:
    (ws / "sub" / "alias").symlink_to(ws / "a.txt")
    check(ws, "cat", "sub/alias")


def test_bad_arguments(ws: Path) -> None:
    assert "NUL" in refused(ws, "echo", "a\0b")
    assert "empty" in refused(ws)
    assert "more than" in refused(ws, "echo", *["x"] * 300)


def test_resolve_cwd(ws: Path, tmp_path: Path) -> None:
    assert resolve_cwd(None, ws) == ws
    assert resolve_cwd("sub", ws) == ws / "sub"
    for bad in ("/tmp", "..", "sub/../..", "~"):
        with pytest.raises(CommandRefusedError):
            resolve_cwd(bad, ws)
    with pytest.raises(CommandRefusedError, match="does not exist"):
        resolve_cwd("nope", ws)
    (ws / "out").symlink_to(tmp_path)
    with pytest.raises(CommandRefusedError, match="symlink `out`"):
        resolve_cwd("out", ws)


def test_check_path_returns_the_resolved_path(ws: Path) -> None:
    assert check_path("sub/b.txt", cwd=ws, workspace=ws) == ws / "sub" / "b.txt"
    assert check_path("new-file", cwd=ws / "sub", workspace=ws) == ws / "sub" / "new-file"


def test_scrubbed_env(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    monkeypatch.setenv("CITRATE_HOME", "/somewhere")
    env = scrubbed_env(ws)
    assert env == {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(ws),
        "TMPDIR": str(ws / ".tmp"),
    }
    assert (ws / ".tmp").is_dir()
