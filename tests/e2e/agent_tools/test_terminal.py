"""`execute_command` end to end: real processes in the agent's workspace, and every refusal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.errors import CommandRefusedError, ToolArgumentError

RunTool = Callable[..., Any]


@pytest.fixture
def ws(agent_ctx: Any) -> Path:
    workspace: Path = agent_ctx.workspace
    (workspace / "notes.txt").write_text("first line\nsecond line\n")
    return workspace


def run(run_tool: RunTool, *argv: str, cwd: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"argv": list(argv)}
    if cwd is not None:
        args["cwd"] = cwd
    result = run_tool("execute_command", **args)
    assert isinstance(result, dict)
    return result


def refused(run_tool: RunTool, *argv: str, cwd: str | None = None) -> CommandRefusedError:
    with pytest.raises(CommandRefusedError) as info:
        run(run_tool, *argv, cwd=cwd)
    assert info.value.hint
    assert info.value.to_json()["error"]["type"] == "refused"
    return info.value


def test_echo_ls_cat(run_tool: RunTool, ws: Path) -> None:
    result = run(run_tool, "echo", "hello", "citrate")
    assert result["exit_code"] == 0
    assert result["stdout"] == "hello citrate\n"
    assert result["stderr"] == ""
    assert result["timed_out"] is False
    assert result["stdout_truncated"] is False and result["stderr_truncated"] is False
    assert result["argv"] == ["echo", "hello", "citrate"]

    assert "notes.txt" in run(run_tool, "ls")["stdout"].split()
    assert run(run_tool, "cat", "notes.txt")["stdout"] == "first line\nsecond line\n"
    assert run(run_tool, "pwd")["stdout"].strip() == str(ws)


def test_mkdir_touch_cp_mv_inside(run_tool: RunTool, ws: Path) -> None:
    assert run(run_tool, "mkdir", "-p", "a/b")["exit_code"] == 0
    assert (ws / "a" / "b").is_dir()
    assert run(run_tool, "touch", "empty", cwd="a/b")["exit_code"] == 0
    assert (ws / "a" / "b" / "empty").is_file()
    assert run(run_tool, "cp", "notes.txt", "a/b/copy.txt")["exit_code"] == 0
    assert (ws / "a" / "b" / "copy.txt").read_text() == (ws / "notes.txt").read_text()
    assert run(run_tool, "cp", "-t", "a", "notes.txt")["exit_code"] == 0
    assert (ws / "a" / "notes.txt").is_file()
    assert run(run_tool, "mv", "copy.txt", "moved.txt", cwd="a/b")["exit_code"] == 0
    assert (ws / "a" / "b" / "moved.txt").is_file()
    digest = hashlib.sha256((ws / "notes.txt").read_bytes()).hexdigest()
    assert run(run_tool, "sha256sum", "notes.txt")["stdout"].split()[0] == digest


def test_failing_command_reports_its_exit_code(run_tool: RunTool, ws: Path) -> None:
    result = run(run_tool, "cat", "missing.txt")
    assert result["exit_code"] != 0
    assert "missing.txt" in result["stderr"]


@pytest.mark.parametrize("program", ["python3", "sh", "bash", "rm"])
def test_programs_not_allowlisted(run_tool: RunTool, ws: Path, program: str) -> None:
    error = refused(run_tool, program, "-c", "true")
    assert f"`{program}` is not an allowed program" in error.message
    assert "cat" in str(error.hint)  # the hint lists what is allowed


def test_absolute_path_outside(run_tool: RunTool, ws: Path) -> None:
    assert "outside the workspace" in refused(run_tool, "cat", "/etc/passwd").message
    assert "outside the workspace" in refused(run_tool, "ls", "/").message


def test_dotdot_escape(run_tool: RunTool, ws: Path) -> None:
    (ws / "sub").mkdir()
    assert "`..` component" in refused(run_tool, "cat", "../notes.txt", cwd="sub").message
    assert "`..` component" in refused(run_tool, "ls", "sub/../..").message
    with pytest.raises(CommandRefusedError):
        run(run_tool, "ls", cwd="..")


def test_symlink_pointing_outside(run_tool: RunTool, ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("do not read\n")
    (ws / "innocent.txt").symlink_to(secret)
    error = refused(run_tool, "cat", "innocent.txt")
    assert "symlink `innocent.txt`" in error.message
    # Moving or copying the link is refused too (it resolves outside).
    refused(run_tool, "mv", "innocent.txt", "other.txt")
    refused(run_tool, "cp", "innocent.txt", "copy.txt")
    assert not (ws / "copy.txt").exists()


def test_symlinked_directory_followed_by_recursion(
    run_tool: RunTool, ws: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-dir"
    outside.mkdir()
    (outside / "key").write_text("secret-key\n")
    (ws / "data").mkdir()
    (ws / "data" / "link").symlink_to(outside)
    error = refused(run_tool, "grep", "-R", "secret", "data")
    assert "`data/link` is a symlink pointing outside" in error.message


@pytest.mark.parametrize(
    "argv",
    [
        ("cp", "--target-directory=/tmp", "notes.txt"),
        ("cp", "-t", "/tmp", "notes.txt"),
        ("cp", "-t/tmp", "notes.txt"),
        ("cp", "notes.txt", "/tmp/"),
        ("mv", "notes.txt", "/tmp/stolen.txt"),
        ("date", "--file=/etc/passwd"),
        ("grep", "-f", "/etc/passwd", "notes.txt"),
        ("diff", "notes.txt", "/etc/hostname"),
        ("head", "~/.bashrc"),
    ],
)
def test_option_values_outside(run_tool: RunTool, ws: Path, argv: tuple[str, ...]) -> None:
    refused(run_tool, *argv)
    assert (ws / "notes.txt").is_file()  # nothing ran: the mv did not happen


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("date", "-s", "2001-01-01"), "system clock"),
        (("cp", "-s", "notes.txt", "link"), "creates symlinks"),
        (("sha256sum", "-c", "notes.txt"), "opens every file"),
        (("wc", "--files0-from=notes.txt"), "reads file names"),
    ],
)
def test_dangerous_options(run_tool: RunTool, ws: Path, argv: tuple[str, ...], reason: str) -> None:
    assert reason in refused(run_tool, *argv).message
    assert not (ws / "link").exists()


def test_timeout_kills_the_process_group(run_tool: RunTool, agent_ctx: Any, ws: Path) -> None:
    agent_ctx.settings.command_timeout_seconds = 0.5
    result = run(run_tool, "tail", "-f", "notes.txt")
    assert result["timed_out"] is True
    assert result["exit_code"] < 0  # killed by a signal
    assert result["stdout"] == "first line\nsecond line\n"  # output before the kill is kept
    assert "killed with its process group" in result["note"]


def test_output_cap_truncates(run_tool: RunTool, agent_ctx: Any, ws: Path) -> None:
    agent_ctx.settings.command_output_limit = 1000
    (ws / "big.txt").write_bytes(b"0123456789" * 10_000)
    result = run(run_tool, "cat", "big.txt")
    assert result["exit_code"] == 0
    assert result["stdout_truncated"] is True
    assert result["stdout"] == "0123456789" * 100
    assert result["stdout_bytes"] == 100_000
    assert "truncated" in result["note"]
    assert result["stderr_truncated"] is False


def test_environment_is_scrubbed(
    run_tool: RunTool, agent_ctx: Any, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-for-the-test")
    monkeypatch.setenv("CITRATE_WALLET_PASSWORD", "not-this-either")
    assert "not an allowed program" in refused(run_tool, "env").message
    agent_ctx.settings.commands = [*agent_ctx.settings.commands, "env"]
    result = run(run_tool, "env")
    assert result["exit_code"] == 0
    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert "OPENAI_API_KEY" not in env
    assert "sk-fake-key-for-the-test" not in result["stdout"]
    assert not [name for name in env if name.startswith("CITRATE_")]
    assert env["HOME"] == str(ws)
    assert env["LANG"] == "C.UTF-8"
    assert Path(env["TMPDIR"]).parent == ws
    assert set(env) == {"PATH", "LANG", "HOME", "TMPDIR"}
    # env cannot be used to run a program that is not allowed.
    assert "bypassing the allowlist" in refused(run_tool, "env", "python3").message


def test_bad_arguments(run_tool: RunTool, ws: Path) -> None:
    with pytest.raises(ToolArgumentError):
        run_tool("execute_command", argv=[])
    with pytest.raises(ToolArgumentError):
        run_tool("execute_command", argv="ls -la")
    with pytest.raises(ToolArgumentError):
        run_tool("execute_command", argv=["ls"], shell=True)  # noqa: S604 - must be refused
