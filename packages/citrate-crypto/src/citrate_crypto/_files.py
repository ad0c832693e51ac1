"""Private files on disk: 0700 directories, 0600 files, atomic replacement.

A write goes to a temporary file in the same directory, is flushed and fsync'd, then renamed
over the target, and the directory is fsync'd, so a crash leaves either the old file or the new
one and never a half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from citrate_crypto.errors import WalletError

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make sure only the owner can enter it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path`, in a private directory of ours, with `data` atomically (0600)."""
    ensure_private_dir(path.parent)
    # mkstemp: a fresh unpredictable name, O_EXCL, mode 0600.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_new_private(path: Path, data: bytes) -> None:
    """Create `path` (0600) with `data`; never replace an existing file or touch the directory.

    For files the user names (an exported keystore): the parent directory is theirs, so its
    mode is left alone, and O_EXCL makes "already exists" race-free.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, FILE_MODE)
    except FileExistsError:
        raise WalletError(f"`{path}` already exists; hint: choose a new file name") from None
    except OSError as exc:
        raise WalletError(f"cannot create `{path}`: {exc.strerror}") from None
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def read_private(path: Path) -> bytes:
    """Read a file that must be private to its owner; refuse one others can read or write."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            raise WalletError(
                f"`{path}` is readable or writable by other users (mode {mode:o}); "
                f"hint: run `chmod 600 {path}` after checking nobody else changed it"
            )
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `path` (created 0600) across processes for the block."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
