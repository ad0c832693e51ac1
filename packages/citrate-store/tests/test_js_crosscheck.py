"""Our importer against an independent one: js-ipfs-unixfs's ``ipfs-unixfs-importer``.

`js/unixfs_cid.mjs` runs ``ipfs-unixfs-importer`` 17.1.1 (``npm ci --prefix tools`` installs
it, pinned in tools/package.json) with Kubo's settings. Sizes cover the edges of the layout:
empty, one byte, one chunk and one byte either side of it, 10 MiB, exactly one full node of
174 leaves, and one leaf more, which needs a second level. Small chunk sizes give deep trees
cheaply, so the same comparison also covers three and more levels.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from citrate_store import CHUNK_SIZE, MAX_LINKS
from citrate_store.unixfs import import_stream

from .support import payload

TOOLS = Path(__file__).resolve().parents[3] / "tools"
SCRIPT = Path(__file__).parent / "js" / "unixfs_cid.mjs"
_HINT = "hint: run `make node-tools` (npm ci --prefix tools) from the repository root"

KUBO_SIZES = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    10 * 1024 * 1024,
    MAX_LINKS * CHUNK_SIZE,
    MAX_LINKS * CHUNK_SIZE + 1,
]


def _js_cids(files: list[Path], *options: str) -> list[tuple[str, int]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"Node.js is not installed; the cross-check needs it. {_HINT}")
    if not (TOOLS / "node_modules" / "ipfs-unixfs-importer" / "package.json").is_file():
        pytest.fail(f"ipfs-unixfs-importer is not installed under `{TOOLS}`; {_HINT}")
    run = subprocess.run(
        [node, str(SCRIPT), str(TOOLS), *options, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if run.returncode != 0:
        pytest.fail(f"{SCRIPT.name} failed:\n{run.stderr}\n{_HINT}")
    results = []
    for line in run.stdout.splitlines():
        cid, size = line.split()
        results.append((cid, int(size)))
    assert len(results) == len(files)
    return results


def test_kubo_settings_match_js_importer(tmp_path: Path) -> None:
    files = []
    for index, size in enumerate(KUBO_SIZES):
        path = tmp_path / f"f{index}"
        path.write_bytes(payload(size, seed=index))
        files.append(path)
    expected = _js_cids(files)
    for path, size, (cid, dag_size) in zip(files, KUBO_SIZES, expected, strict=True):
        with path.open("rb") as stream:
            ours = import_stream(stream)
        assert (ours.cid, ours.size) == (cid, dag_size), f"{size} bytes"


@pytest.mark.parametrize(
    ("chunk_size", "max_links", "sizes"),
    [
        (16, 2, [0, 15, 16, 17, 32, 33, 64, 65, 16 * 8 + 1, 16 * 31]),  # up to 5 levels
        (10, 3, [9 * 10, 9 * 10 + 1, 27 * 10, 27 * 10 + 5, 81 * 10 + 1]),
        (100, 20, [20 * 20 * 100, 20 * 20 * 100 + 1]),  # a full two-level tree, then three
    ],
)
def test_deep_trees_match_js_importer(
    tmp_path: Path, chunk_size: int, max_links: int, sizes: list[int]
) -> None:
    files = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"f{index}"
        path.write_bytes(payload(size, seed=100 + index))
        files.append(path)
    expected = _js_cids(files, "--chunk-size", str(chunk_size), "--max-links", str(max_links))
    for path, size, (cid, dag_size) in zip(files, sizes, expected, strict=True):
        ours = import_stream(path.read_bytes(), chunk_size=chunk_size, max_links=max_links)
        assert (ours.cid, ours.size) == (cid, dag_size), f"{size} bytes"
