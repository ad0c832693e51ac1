"""Helpers shared by the content-store tests."""

from __future__ import annotations

import random
from pathlib import Path


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible test content."""
    return random.Random(seed).randbytes(size)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes), except the lock file (it holds a pid)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "lock":
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


def modes(root: Path) -> set[tuple[str, int]]:
    """(kind, permission bits) of `root` and of everything under it."""
    found = {("dir", root.stat().st_mode & 0o777)}
    for path in root.rglob("*"):
        kind = "dir" if path.is_dir() else "file"
        found.add((kind, path.stat().st_mode & 0o777))
    return found


def flip_byte(path: Path, offset: int = 0) -> None:
    """Corrupt a block file in place (keeping its mode)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
