"""`execute_command`: run one allowlisted program inside the agent's workspace.

Threat model
============

The arguments come from an LLM, and an LLM can be steered by anything it reads (a web page, a
file, a contract's metadata). So every command is treated as written by an attacker who wants
to read or write files outside the workspace, run a program that is not allowlisted, leak the
user's secrets, or hurt the machine. The defences, in the order they apply:

1. **No shell, ever.** The program runs from an argument list (`shell=False`), so quoting,
   globs, `;`, `|`, `$(...)`, `~` and environment expansion mean nothing.
2. **Allowlist.** `argv[0]` must be a bare name listed in `settings.commands`; it is looked up
   on a fixed `SAFE_PATH` (never the workspace, never the user's `PATH`), so a file named `ls`
   in the workspace cannot stand in for the real one.
3. **Paths stay inside.** Every argument that is, or may contain, a path is resolved (symlinks
   and all) from the working directory and must land inside the workspace: plain arguments,
   the value of `--option=value`, and every tail of a short-option cluster (`-o/tmp/x`,
   `-t/`), since which letters take a value differs per program. Arguments starting with `~`
   and any `..` component are refused outright: programs combine arguments into new paths
   (`cp --parents`, backup suffixes), so a `..` that stays inside on its own can escape in
   combination. The working directory itself must be inside the workspace. This also
   refuses text that merely looks like a path (`echo /etc`); that is the price of not
   knowing each program's grammar.
4. **Symlinks.** A symlink in the workspace that points outside is caught when named (it
   resolves outside). Directories given as arguments, and the working directory (`grep -r`
   searches `.` by default), are scanned for such symlinks, because recursive options
   (`grep -R`, `cp -rL`, `diff -r`, `ls -RL`) follow links inside directories. The agent
   cannot create symlinks: `cp -s` / `--symbolic-link` is refused and `ln` is not allowed.
5. **Program-specific refusals** for options that break the rules in ways no path check sees:
   `date -s/--set` (changes the system clock), `sha256sum -c/--check` (opens every file named
   inside the list), `--files0-from` (reads file names from a file), `cp`/`mv` `-S/--suffix`
   (the backup name is built from the suffix), and programs that run other programs (`xargs`,
   `timeout`, `nice`, `find -exec`, `env COMMAND`, ...), which would bypass the allowlist even
   when a user adds them.
6. **Scrubbed environment.** Only `PATH=SAFE_PATH`, `LANG=C.UTF-8`, `HOME=<workspace>` and
   `TMPDIR=<workspace>/.tmp`: no API keys, no `CITRATE_*`, no proxy settings.
7. **Limits.** stdin is `/dev/null`; the process gets its own session (process group), which is
   killed as a whole at `settings.command_timeout_seconds`; each output stream is capped at
   `settings.command_output_limit` bytes (the rest is read and dropped, and the result says
   so); `resource` limits cap address space, CPU seconds, file size and process count, and
   core dumps are off; files are created with umask 077.

Residual risks (documented, not defended here): programs a user adds to `settings.commands`
(an interpreter can do anything the user can, within the limits); hard links to outside files
that already exist in the workspace; another process swapping a checked directory for a symlink
between the check and the run; a directory copied by `cp -r` whose relative symlinks (made
before, outside the agent) re-aim when moved. The process runs as the agent's own user: the
rules above, not the operating system, keep it in the workspace.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from citrate_agent.errors import AgentError, CommandRefusedError
from citrate_agent.schema import object_schema
from citrate_agent.tools.base import Tool, ToolContext

#: Where programs are looked up. Fixed, so neither the workspace nor the user's PATH matters.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_ARGS = 256
MAX_ARG_LENGTH = 4096
#: Directory entries scanned for outside-pointing symlinks before a command runs.
MAX_SCAN_ENTRIES = 20_000
ADDRESS_SPACE_BYTES = 2 * 1024**3
FILE_SIZE_BYTES = 512 * 1024**2
MAX_PROCESSES = 256
_READ_CHUNK = 64 * 1024
_TMP_DIR = ".tmp"

#: Programs whose job is to run another program: any of them would bypass the allowlist.
LAUNCHERS = frozenset(
    {
        "xargs",
        "timeout",
        "nice",
        "nohup",
        "stdbuf",
        "setsid",
        "flock",
        "sudo",
        "su",
        "doas",
        "chroot",
        "unshare",
        "nsenter",
        "watch",
        "strace",
        "ltrace",
        "gdb",
        "busybox",
        "parallel",
        "runuser",
        "script",
        "ionice",
        "taskset",
        "chrt",
        "prlimit",
    }
)


@dataclass(frozen=True)
class _OptionRule:
    """Options of one program that are refused, and the short options that take a value."""

    short: str  # refused short option letters
    long: tuple[str, ...]  # refused long option names (without --)
    reason: str
    takes_value: str = ""  # short letters whose value may be attached (stops the cluster walk)


_FILES0 = _OptionRule(
    "",
    ("files0-from",),
    "`--files0-from` reads file names from a file, where the path rules cannot see them",
)
_RULES: dict[str, tuple[_OptionRule, ...]] = {
    "wc": (_FILES0,),
    "du": (_FILES0,),
    "date": (
        _OptionRule(
            "s",
            ("set",),
            "`date -s/--set` changes the system clock",
            takes_value="dfrsI",
        ),
    ),
    "cp": (
        _OptionRule(
            "s",
            ("symbolic-link",),
            "`cp -s/--symbolic-link` creates symlinks, which could point outside the workspace",
            takes_value="St",
        ),
        _OptionRule(
            "S",
            ("suffix",),
            "`-S/--suffix` builds backup file names from the suffix, outside the path checks",
            takes_value="St",
        ),
    ),
    "mv": (
        _OptionRule(
            "S",
            ("suffix",),
            "`-S/--suffix` builds backup file names from the suffix, outside the path checks",
            takes_value="St",
        ),
    ),
    "sha256sum": (
        _OptionRule(
            "c",
            ("check",),
            "`-c/--check` opens every file named inside the list, where the path rules cannot "
            "see them",
        ),
    ),
    "md5sum": (_OptionRule("c", ("check",), "`-c/--check` opens files named inside the list"),),
    "sha1sum": (_OptionRule("c", ("check",), "`-c/--check` opens files named inside the list"),),
    "sha512sum": (_OptionRule("c", ("check",), "`-c/--check` opens files named inside the list"),),
    "sort": (
        _FILES0,
        _OptionRule(
            "",
            ("compress-program",),
            "`sort --compress-program` runs another program",
            takes_value="kotST",
        ),
    ),
    "tar": (
        _OptionRule(
            "IF",
            (
                "to-command",
                "use-compress-program",
                "checkpoint-action",
                "info-script",
                "new-volume-script",
                "rmt-command",
                "rsh-command",
            ),
            "this `tar` option runs another program",
            takes_value="bCfgHKLNTVX",
        ),
    ),
    "rsync": (_OptionRule("e", ("rsh", "rsync-path"), "this `rsync` option runs a program"),),
}
#: `find` actions that run programs (single-dash long options).
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _refuse(reason: str, hint: str) -> CommandRefusedError:
    return CommandRefusedError(f"the command was refused: {reason}", hint=hint)


_PATH_HINT = (
    "use paths relative to the workspace (set `cwd` for a subdirectory instead of `..`); text "
    "that is not a path (an echo message, a grep pattern) must not start with `/` or `~` nor "
    "contain a `..` component"
)


# -- argv rules (pure: they only read the file system) ------------------------------------------


def resolve_program(name: str, allowed: Iterable[str]) -> str:
    """The absolute path of allowlisted program `name`, looked up on `SAFE_PATH`.

    Raises:
        CommandRefusedError: `name` is not a bare allowlisted name, launches other programs,
            or is not installed.
    """
    allowed = list(allowed)
    listed = ", ".join(allowed) or "none"
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise _refuse(
            f"`{name}` is not a program name",
            f"give the bare name of an allowed program as argv[0] (allowed: {listed})",
        )
    if name not in allowed:
        raise _refuse(
            f"`{name}` is not an allowed program",
            f"use one of: {listed}; the user can add programs to the agent setting `commands`",
        )
    if name in LAUNCHERS:
        raise _refuse(
            f"`{name}` runs other programs, which would bypass the allowlist",
            "run the program you need directly",
        )
    found = shutil.which(name, path=SAFE_PATH)
    if found is None:
        raise _refuse(
            f"`{name}` is allowed but not installed in {SAFE_PATH}",
            "install it with the system's package manager, or use another allowed program",
        )
    return found


def check_path(value: str, *, cwd: Path, workspace: Path) -> Path:
    """Resolve `value` (a path, or text that may be one) from `cwd`; it must stay in `workspace`.

    Args:
        value: The argument (or the path part of it).
        cwd: The resolved working directory, inside `workspace`.
        workspace: The resolved workspace.

    Returns:
        The resolved path.

    Raises:
        CommandRefusedError: `value` starts with `~`, has a `..` component, or resolves
            (following symlinks) outside the workspace.
    """
    if value.startswith("~"):
        raise _refuse(
            f"`{value}` starts with `~`, which is not expanded (there is no shell) and is "
            "refused so it is never mistaken for the home directory",
            _PATH_HINT,
        )
    if ".." in PurePosixPath(value).parts:
        raise _refuse(f"`{value}` has a `..` component", _PATH_HINT)
    lexical = Path(os.path.normpath(cwd / value))
    resolved = Path(os.path.realpath(lexical))
    if not resolved.is_relative_to(workspace):
        if lexical.is_relative_to(workspace):
            link = _first_symlink(lexical, workspace)
            name = link.relative_to(workspace) if link is not None else value
            raise _refuse(
                f"`{value}` goes through the symlink `{name}`, which points outside the workspace",
                "use files that are really inside the workspace",
            )
        raise _refuse(f"`{value}` is outside the workspace `{workspace}`", _PATH_HINT)
    return resolved


def _first_symlink(path: Path, workspace: Path) -> Path | None:
    current = workspace
    for part in path.relative_to(workspace).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _path_candidates(args: list[str]) -> list[str]:
    """The parts of `args` that may be paths, to be checked by `check_path`."""
    candidates: list[str] = []
    options_done = False
    for arg in args:
        if options_done or not arg.startswith("-"):
            candidates.append(arg)
        elif arg == "-":
            continue  # standard input (which is /dev/null)
        elif arg == "--":
            options_done = True
        elif arg.startswith("--"):
            if "=" in arg:
                candidates.append(arg.split("=", 1)[1])
        else:
            # A short-option cluster: any tail may be an attached value (`-o/tmp/x`, `-tdir`).
            candidates.extend(arg[i:] for i in range(1, len(arg)))
    return candidates


def _check_options(program: str, args: list[str]) -> None:
    """Refuse options that break the rules in ways no path check can see."""
    if program == "find":
        for arg in args:
            if arg in _FIND_EXEC:
                raise _refuse(f"`find {arg}` runs other programs", "use `find` without it")
    if program == "env":
        for arg in args:
            if not arg.startswith("-") and "=" not in arg:
                raise _refuse(
                    f"`env {arg}` would run the program `{arg}`, bypassing the allowlist",
                    "run `env` without a command (and use `--unset=NAME`, not `-u NAME`)",
                )
            if arg.startswith(("-S", "--s")):
                raise _refuse("`env -S/--split-string` runs a command", "run `env` alone")
    for arg in args:
        # Any program (one a user added, say) with this GNU option reads names from a file.
        if arg.startswith("--files0"):
            raise _refuse(f"`{arg}`: {_FILES0.reason}", "name the files as arguments")
    rules = _RULES.get(program, ())
    if not rules:
        return
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0]
            for rule in rules:
                # GNU getopt accepts any unambiguous prefix (`--se` for `--set`).
                if name and any(long.startswith(name) for long in rule.long):
                    raise _refuse(f"`{arg}`: {rule.reason}", "leave that option out")
        elif arg.startswith("-") and arg != "-":
            for letter in arg[1:]:
                for rule in rules:
                    if letter in rule.short:
                        raise _refuse(f"`{arg}`: {rule.reason}", "leave that option out")
                if any(letter in rule.takes_value for rule in rules):
                    break  # the rest of the cluster is this option's value


def _scan_for_outside_links(directory: Path, workspace: Path, budget: list[int]) -> None:
    """Refuse if a symlink under `directory` resolves outside the workspace."""
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            budget[0] -= 1
            if budget[0] < 0:
                raise _refuse(
                    f"the directory `{directory}` holds more than {MAX_SCAN_ENTRIES} entries to "
                    "check for symlinks",
                    "name files, or a smaller directory, or set `cwd` to one",
                )
            entry = Path(root) / name
            if entry.is_symlink():
                target = Path(os.path.realpath(entry))
                if not target.is_relative_to(workspace):
                    raise _refuse(
                        f"`{entry.relative_to(workspace)}` is a symlink pointing outside the "
                        "workspace, and the command could follow it",
                        "remove the symlink (the agent cannot), or work in a directory without it",
                    )


def resolve_cwd(cwd: str | None, workspace: Path) -> Path:
    """The working directory: `cwd` relative to the workspace (default its root), checked."""
    if not cwd:
        return workspace
    if cwd.startswith("/"):
        raise _refuse(f"the working directory `{cwd}` is absolute", _PATH_HINT)
    path = check_path(cwd, cwd=workspace, workspace=workspace)
    if not path.is_dir():
        raise _refuse(
            f"the working directory `{cwd}` does not exist in the workspace",
            "create it first (`mkdir`), or leave `cwd` out to use the workspace root",
        )
    return path


def check_argv(argv: list[str], *, cwd: Path, workspace: Path, allowed: Iterable[str]) -> str:
    """Apply every rule to `argv`; return the program's absolute path.

    Args:
        argv: Program name and arguments.
        cwd: The resolved working directory (see `resolve_cwd`).
        workspace: The resolved workspace.
        allowed: The allowlisted program names (`settings.commands`).

    Raises:
        CommandRefusedError: naming the first rule `argv` breaks, with a hint.
    """
    if not argv:
        raise _refuse("`argv` is empty", "give the program name and its arguments")
    if len(argv) > MAX_ARGS:
        raise _refuse(f"{len(argv)} arguments are more than {MAX_ARGS}", "split the command")
    for arg in argv:
        if "\0" in arg:
            raise _refuse("an argument contains a NUL character", "remove it")
        if len(arg) > MAX_ARG_LENGTH:
            raise _refuse(
                f"an argument is longer than {MAX_ARG_LENGTH} characters",
                "shorten it",
            )
    program = resolve_program(argv[0], allowed)
    args = argv[1:]
    _check_options(argv[0], args)
    directories = [cwd]
    for candidate in _path_candidates(args):
        resolved = check_path(candidate, cwd=cwd, workspace=workspace)
        if resolved.is_dir():
            directories.append(resolved)
    budget = [MAX_SCAN_ENTRIES]
    seen: set[Path] = set()
    for directory in directories:
        if directory in seen or any(directory.is_relative_to(s) for s in seen):
            continue
        seen.add(directory)
        _scan_for_outside_links(directory, workspace, budget)
    return program


def scrubbed_env(workspace: Path) -> dict[str, str]:
    """The whole environment the command sees: nothing inherited from the agent."""
    tmp = workspace / _TMP_DIR
    tmp.mkdir(mode=0o700, exist_ok=True)
    return {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "HOME": str(workspace), "TMPDIR": str(tmp)}


# -- running -------------------------------------------------------------------------------------


def _limits(cpu_seconds: int) -> list[tuple[int, int]]:
    limits = [
        (resource.RLIMIT_AS, ADDRESS_SPACE_BYTES),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_FSIZE, FILE_SIZE_BYTES),
        (resource.RLIMIT_CORE, 0),
    ]
    if hasattr(resource, "RLIMIT_NPROC"):  # Linux and BSD; counts all the user's processes
        limits.append((resource.RLIMIT_NPROC, MAX_PROCESSES))
    return limits


def _make_preexec(cpu_seconds: int) -> Any:
    limits = _limits(cpu_seconds)

    def preexec() -> None:  # runs in the child between fork and exec: keep it minimal
        os.umask(0o077)
        for which, value in limits:
            try:
                _soft, hard = resource.getrlimit(which)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass  # a limit this kernel refuses is skipped; the timeout still applies

    return preexec


@dataclass
class _Captured:
    data: bytearray
    total: int = 0


def _spawn(
    program: str, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        executable=program,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        shell=False,
        close_fds=True,
        start_new_session=True,  # its own process group, killed as a whole on timeout
        preexec_fn=_make_preexec(max(1, math.ceil(timeout)) + 1),
    )


def run_checked(
    program: str,
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    limit: int,
) -> dict[str, Any]:
    """Run an already checked command; return the result dict of `execute_command`."""
    started = time.monotonic()
    try:
        proc = _spawn(program, argv, cwd=cwd, env=env, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AgentError(
            f"`{argv[0]}` could not be started ({type(exc).__name__}: {exc})",
            hint="check that the program is installed and runnable",
        ) from None
    assert proc.stdout is not None and proc.stderr is not None
    outputs = {"stdout": _Captured(bytearray()), "stderr": _Captured(bytearray())}
    streams = {proc.stdout.fileno(): outputs["stdout"], proc.stderr.fileno(): outputs["stderr"]}
    deadline = started + timeout
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in selector.select(timeout=left):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(fd)
                    continue
                captured = streams[fd]
                room = limit - len(captured.data)
                if room > 0:
                    captured.data += chunk[:room]
                captured.total += len(chunk)  # past the cap: read and drop, so it never blocks
    if not timed_out:
        timed_out = not _wait_unreaped(proc.pid, deadline)
    _kill_group(proc.pid)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    seconds = time.monotonic() - started
    result: dict[str, Any] = {"argv": list(argv), "exit_code": proc.returncode}
    notes = []
    for name, captured in outputs.items():
        truncated = captured.total > len(captured.data)
        result[name] = bytes(captured.data).decode("utf-8", "replace")
        result[f"{name}_truncated"] = truncated
        if truncated:
            result[f"{name}_bytes"] = captured.total
            notes.append(
                f"{name} was truncated to its first {limit} of {captured.total} bytes; narrow "
                "the command (`head -n`, `grep`, `wc`)"
            )
    result["seconds"] = round(seconds, 3)
    result["timed_out"] = timed_out
    if timed_out:
        notes.insert(
            0,
            f"the command ran past {timeout:g} s and was killed with its process group; "
            "commands cannot wait for input or follow files",
        )
    if notes:
        result["note"] = " ".join(notes)
    return result


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait until `pid` exits or `deadline`, without reaping it; True if it exited."""
    # Not reaping keeps the pid (and so the process group id) reserved until the group is
    # killed, so the kill can never reach a process that later got the same id.
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _kill_group(pgid: int) -> None:
    # The group is the child's own session (start_new_session), so this reaches anything it
    # started and nothing else. Done before the leader is reaped, so the id is not reused.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# -- the tool ------------------------------------------------------------------------------------


def execute_command(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Run one allowlisted program in the workspace, without a shell.

    Args:
        ctx: The tool context (workspace, settings).
        args: `argv` (program and arguments) and optional `cwd` (relative to the workspace).

    Returns:
        argv, exit_code (negative: killed by that signal), stdout, stderr, the truncation flags,
        seconds, timed_out, cwd, and a `note` when output was cut or the command timed out.

    Raises:
        CommandRefusedError: the command breaks a rule (the module docstring lists them).
    """
    workspace = ctx.workspace
    argv = [str(a) for a in args["argv"]]
    cwd = resolve_cwd(args.get("cwd"), workspace)
    settings = ctx.settings
    program = check_argv(argv, cwd=cwd, workspace=workspace, allowed=settings.commands)
    result = run_checked(
        program,
        argv,
        cwd=cwd,
        env=scrubbed_env(workspace),
        timeout=float(settings.command_timeout_seconds),
        limit=int(settings.command_output_limit),
    )
    result["cwd"] = str(cwd.relative_to(workspace)) if cwd != workspace else "."
    return result


EXECUTE_COMMAND_PARAMETERS = object_schema(
    {
        "argv": {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_ARG_LENGTH},
            "minItems": 1,
            "maxItems": MAX_ARGS,
            "description": (
                'The program and its arguments, e.g. ["ls", "-la", "notes"]. No shell: no '
                "pipes, globs, redirection or `~`. Paths are relative to `cwd` and must stay "
                "inside the workspace."
            ),
        },
        "cwd": {
            "type": "string",
            "description": (
                "Working directory relative to the workspace root (default: the root). Use it "
                "instead of `..`."
            ),
        },
    },
    required=("argv",),
)

TOOLS: list[Tool] = [
    Tool(
        name="execute_command",
        category="terminal",
        description=(
            "Run one allowlisted program (ls, cat, head, tail, wc, grep, echo, pwd, date, mkdir, "
            "touch, cp, mv, diff, sha256sum, stat by default) inside the agent's workspace, "
            "without a shell. Returns exit_code, stdout, stderr, whether output was truncated "
            "and whether it timed out. Paths must stay inside the workspace."
        ),
        parameters=EXECUTE_COMMAND_PARAMETERS,
        run=execute_command,
    )
]

__all__ = [
    "EXECUTE_COMMAND_PARAMETERS",
    "LAUNCHERS",
    "SAFE_PATH",
    "TOOLS",
    "check_argv",
    "check_path",
    "execute_command",
    "resolve_cwd",
    "resolve_program",
    "run_checked",
    "scrubbed_env",
]
