"""`ContentStore`: blocks on disk, verified on every read, with recursive pins and GC.

Layout under the store's root (directories 0700, files 0600)::

    lock            held with flock(LOCK_EX) while a ContentStore is open; holds its pid
    pins.json       {"format": 1, "recursive": [CID, ...]}, replaced atomically
    blocks/XY/CID   one file per block, named by its CIDv1 (base32); XY = CID[-3:-1]
                    (Kubo's flatfs "next-to-last/2" sharding, applied to the CID text)
    staging/N/CID   blocks of an add in progress; moved into blocks/ when the add commits

Guarantees:

- Every block read is hashed and compared with its CID before any byte of it is returned;
  a mismatch raises `CorruptBlock`, an absent file `BlockNotFound`.
- An add writes into its own staging directory and only a successful commit moves the blocks
  into ``blocks/`` and records the pin, so a failed or abandoned add changes nothing. Committing
  a block that already exists replaces the file, which repairs a corrupt copy.
- One process at a time: a second `ContentStore` on the same root, in any process, raises
  `StoreLocked`. Within the process, commits, pin changes and GC are serialised by a lock;
  reads take no lock (a read of an *unpinned* file racing a GC may see `BlockNotFound`).
- GC keeps every block reachable from a recursive pin. If a pinned DAG cannot be walked (an
  interior block missing or corrupt) it raises before removing anything.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

from citrate_store import _cid
from citrate_store._files import (
    FILE_MODE,
    atomic_write,
    ensure_private_dir,
    fsync_dir,
    write_new,
)
from citrate_store._protobuf import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    UNIXFS_TYPE_NAMES,
    PBNode,
    ProtobufError,
    UnixFSData,
    decode_pbnode,
    decode_unixfs,
)
from citrate_store.errors import (
    BlockNotFound,
    ContentStoreError,
    ContentStoreValueError,
    CorruptBlock,
    InvalidCid,
    InvalidDag,
    NotPinned,
    StoreClosed,
    StoreLocked,
    UnsupportedContent,
)
from citrate_store.unixfs import CHUNK_SIZE, FileImporter, ImportResult, read_piece, reject_text

__all__ = ["ContentStore", "FileStat", "PendingAdd"]

log = logging.getLogger("citrate.store")

MAX_BLOCK_SIZE = 2 << 20
"""Larger files under blocks/ are reported corrupt unread (Kubo's block limit is 2 MiB)."""

PINS_FORMAT = 1
_LeafCheck = Literal["read", "exists", "skip"]


@dataclass(frozen=True)
class FileStat:
    """What the root block of a file says about it (the root is verified; nothing else is read).

    Attributes:
        cid: The file's CID (CIDv1, base32).
        file_size: Bytes in the file.
        size: Cumulative DAG size (Kubo's ``Size``/``CumulativeSize``).
        blocks: Links of the root block (0 for a single raw block).
    """

    cid: str
    file_size: int
    size: int
    blocks: int


@dataclass(frozen=True)
class _FileNode:
    data: bytes
    links: tuple[bytes, ...]
    blocksizes: tuple[int, ...]
    tsizes: tuple[int, ...]


class ContentStore:
    """An IPFS-compatible block store in a directory, with recursive pins and GC.

    Example:
        >>> with ContentStore(tmp_path / "ipfs") as store:  # doctest: +SKIP
        ...     cid = store.add(b"hello world")
        ...     assert store.cat(cid) == b"hello world"

    Args:
        root: The store's directory; created (0700) if missing.

    Raises:
        StoreLocked: Another `ContentStore` has this root open (this or another process).
        ContentStoreError: The directory or its pins file cannot be used.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self._lock = threading.Lock()
        self._closed = False
        self._staging_ids = itertools.count()
        try:
            ensure_private_dir(self.root)
        except OSError as err:
            raise ContentStoreError(
                f"cannot create the store directory `{self.root}`: {err.strerror}; hint: choose "
                "a directory you can write"
            ) from None
        self._lock_fd = self._acquire_process_lock()
        try:
            self._blocks = ensure_private_dir(self.root / "blocks")
            self._staging = ensure_private_dir(self.root / "staging")
            self._pins_path = self.root / "pins.json"
            self._recover()
            self._pins = self._load_pins()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the store (and its process lock). Further calls raise `StoreClosed`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._lock_fd)

    def __enter__(self) -> ContentStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the content store at `{self.root}` is closed; hint: open it again")

    def _acquire_process_lock(self) -> int:
        path = self.root / "lock"
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, FILE_MODE)
        except OSError as err:
            raise ContentStoreError(
                f"cannot open the lock file `{path}`: {err.strerror}; hint: check the "
                "directory's owner and permissions"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ContentStoreError(f"cannot lock `{path}`: {err.strerror}") from None
            who = (
                "this process"
                if holder == str(os.getpid())
                else f"another process (pid {holder or 'unknown'})"
            )
            raise StoreLocked(
                f"the content store `{self.root}` is in use by {who}; hint: a store has one "
                "owner at a time: stop the other owner, close the other ContentStore, or talk "
                "to the owner through its HTTP API (`citrate devnet` serves it on port 5001)"
            ) from None
        os.fchmod(fd, FILE_MODE)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _recover(self) -> None:
        # Holding the process lock, nothing else can be writing here: whatever staging
        # directories or temporary files exist were left by a process that died mid-add.
        for leftover in self._staging.iterdir():
            log.info("removing the unfinished add %s", leftover.name)
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        for tmp in self.root.glob(".pins.json.*.tmp"):
            tmp.unlink()

    # -- pins file -------------------------------------------------------------------------------

    def _load_pins(self) -> set[str]:
        try:
            raw = self._pins_path.read_bytes()
        except FileNotFoundError:
            return set()
        hint = (
            "hint: the pins decide what garbage collection keeps, so the store will not guess; "
            f"restore `{self._pins_path}` from a backup, or move it away to start with no pins"
        )
        try:
            doc = json.loads(raw)
        except ValueError as err:
            raise ContentStoreError(
                f"`{self._pins_path}` is not valid JSON ({err}); {hint}"
            ) from None
        if (
            not isinstance(doc, dict)
            or doc.get("format") != PINS_FORMAT
            or not isinstance(doc.get("recursive"), list)
        ):
            raise ContentStoreError(
                f"`{self._pins_path}` is not a pins file of format {PINS_FORMAT} (expected "
                f'{{"format": {PINS_FORMAT}, "recursive": [...]}}); {hint}'
            )
        pins: set[str] = set()
        for item in doc["recursive"]:
            try:
                pins.add(_cid.cid_to_str(_cid.parse_cid(item)))
            except InvalidCid as err:
                raise ContentStoreError(f"`{self._pins_path}` holds a bad pin: {err}") from None
        return pins

    def _save_pins(self, pins: set[str]) -> None:
        doc = {"format": PINS_FORMAT, "recursive": sorted(pins)}
        atomic_write(self._pins_path, (json.dumps(doc, indent=1) + "\n").encode())

    # -- blocks ----------------------------------------------------------------------------------

    def block_path(self, cid: str) -> Path:
        """Where the block `cid` lives (or would live) on disk.

        Raises:
            InvalidCid: `cid` is not a CID this store can hold.
        """
        return self._path_of(_cid.cid_to_str(_cid.parse_cid(cid)))

    def _path_of(self, name: str) -> Path:
        return self._blocks / name[-3:-1] / name

    def has(self, cid: str) -> bool:
        """Whether the block `cid` is on disk (unverified; only the root block, not its DAG).

        Raises:
            InvalidCid: `cid` is not a CID this store can hold.
        """
        self._check_open()
        return self.block_path(cid).is_file()

    def _read_block(self, cid: bytes, wanted_by: str | None = None) -> bytes:
        """The verified bytes of block `cid`."""
        name = _cid.cid_to_str(cid)
        path = self._path_of(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BlockNotFound(name, wanted_by) from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise CorruptBlock(name, path, "the file is a symbolic link") from None
            raise ContentStoreError(
                f"cannot read block `{name}` (`{path}`): {err.strerror}"
            ) from None
        try:
            size = os.fstat(fd).st_size
            if size > MAX_BLOCK_SIZE:
                raise CorruptBlock(name, path, f"the file has {size} bytes, more than any block")
            chunks = []
            total = 0
            while chunk := os.read(fd, MAX_BLOCK_SIZE + 1):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_BLOCK_SIZE:  # grew after the fstat
                    raise CorruptBlock(name, path, "the file is larger than any block")
        finally:
            os.close(fd)
        block = b"".join(chunks)
        if not _cid.matches(cid, block):
            actual = _cid.cid_to_str(_cid.make_cid(_cid.codec_of(cid), block))
            raise CorruptBlock(name, path, f"its {len(block)} bytes hash to `{actual}`")
        return block

    def _file_node(self, cid: bytes, block: bytes) -> _FileNode:
        """Interpret a verified block as a UnixFS file node (a raw block is a leaf)."""
        if _cid.codec_of(cid) == _cid.RAW:
            return _FileNode(block, (), (), ())
        name = _cid.cid_to_str(cid)
        try:
            node: PBNode = decode_pbnode(block)
            if node.data is None:
                raise ProtobufError("dag-pb node without UnixFS Data")
            fs: UnixFSData = decode_unixfs(node.data)
            links = tuple(_cid.parse_link(link.hash) for link in node.links)
        except (ProtobufError, InvalidCid) as err:
            raise InvalidDag(
                f"block `{name}` is not a UnixFS node: {err}; hint: this CID is not a file "
                "added with `add`"
            ) from None
        if fs.type not in (UNIXFS_FILE, UNIXFS_RAW):
            kind = UNIXFS_TYPE_NAMES.get(fs.type, f"type {fs.type}")
            raise UnsupportedContent(
                f"`{name}` is a UnixFS {kind}, not a file; hint: this store reads files only, "
                "pass the CID of a file"
            )
        if len(fs.blocksizes) != len(links):
            raise InvalidDag(
                f"block `{name}` lists {len(fs.blocksizes)} block sizes for {len(links)} links"
            )
        tsizes = tuple(link.tsize or 0 for link in node.links)
        return _FileNode(fs.data, links, fs.blocksizes, tsizes)

    # -- adding ----------------------------------------------------------------------------------

    def open_add(self, *, pin: bool = True) -> PendingAdd:
        """Start an add that is fed in pieces (an upload) and committed or aborted as a whole.

        Use it as a context manager: leaving the block without `PendingAdd.commit` (or on an
        exception) aborts, and nothing in the store changes.
        """
        self._check_open()
        staging = self._staging / f"{os.getpid()}-{next(self._staging_ids)}"
        staging.mkdir(mode=0o700)
        return PendingAdd(self, staging, pin)

    def import_file(
        self,
        source: bytes | bytearray | memoryview | BinaryIO | Path,
        *,
        pin: bool = True,
    ) -> ImportResult:
        """Add a file and return its root CID with Kubo's sizes (see `add`)."""
        reject_text(source)
        with self.open_add(pin=pin) as pending:
            if isinstance(source, Path):
                with source.open("rb") as handle:
                    pending.write_from(handle)
            elif isinstance(source, bytes | bytearray | memoryview):
                pending.write(source)
            else:
                pending.write_from(source)
            return pending.commit()

    def add(
        self,
        source: bytes | bytearray | memoryview | BinaryIO | Path,
        *,
        pin: bool = True,
    ) -> str:
        """Add a file; return its CID, the one ``ipfs add --cid-version=1 --raw-leaves`` gives.

        A stream is read one chunk at a time, so files of any size fit. Either everything is
        stored (and pinned, with ``pin=True``) or, on any error, nothing changes.

        Args:
            source: The content: bytes, a binary stream (``open(path, "rb")``), or a path.
            pin: Pin the file recursively so `gc` keeps it.

        Raises:
            ContentStoreValueError: `source` is not bytes or a binary stream.
            StoreClosed: The store was closed.
        """
        return self.import_file(source, pin=pin).cid

    def _commit(self, staging: Path, staged: Iterable[bytes], root: str, pin: bool) -> None:
        with self._lock:
            self._check_open()
            touched: set[Path] = set()
            new_shard = False
            for cid in staged:
                name = _cid.cid_to_str(cid)
                dest = self._path_of(name)
                if not dest.parent.is_dir():
                    ensure_private_dir(dest.parent)
                    new_shard = True
                # Replacing an existing copy is harmless (same bytes) and repairs a corrupt one.
                (staging / name).replace(dest)
                touched.add(dest.parent)
            for shard in touched:
                fsync_dir(shard)
            if new_shard:
                fsync_dir(self._blocks)
            if pin and root not in self._pins:
                pins = self._pins | {root}
                self._save_pins(pins)
                self._pins = pins

    # -- reading ---------------------------------------------------------------------------------

    def stat(self, cid: str) -> FileStat:
        """Sizes of the file `cid` from its verified root block.

        Raises:
            InvalidCid, BlockNotFound, CorruptBlock, InvalidDag, UnsupportedContent
        """
        self._check_open()
        binary = _cid.parse_cid(cid)
        name = _cid.cid_to_str(binary)
        block = self._read_block(binary)
        node = self._file_node(binary, block)
        if not node.links:
            return FileStat(name, len(node.data), len(block), 0)
        return FileStat(
            name,
            len(node.data) + sum(node.blocksizes),
            len(block) + sum(node.tsizes),
            len(node.links),
        )

    def cat(self, cid: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The file `cid` (or `length` bytes of it from `offset`), every block verified.

        Raises:
            InvalidCid: `cid` is not a CID this store can hold.
            BlockNotFound: A block of the file is not in the store.
            CorruptBlock: A block's bytes do not match its CID; nothing is returned.
            UnsupportedContent: `cid` is not a file (a directory, ...).
            ContentStoreValueError: `offset` or `length` is negative.
        """
        return b"".join(self.iter_cat(cid, offset=offset, length=length))

    def iter_cat(self, cid: str, *, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the file `cid` block by block; each block is verified before it is yielded.

        The CID and range are checked at the call; blocks are read as the iterator advances,
        so a damaged block raises from `next` after the bytes before it were yielded.

        Raises:
            Same as `cat`.
        """
        self._check_open()
        binary = _cid.parse_cid(cid)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ContentStoreValueError(
                f"offset `{offset}` is invalid; hint: pass a byte offset of 0 or more"
            )
        if length is not None and (
            isinstance(length, bool) or not isinstance(length, int) or length < 0
        ):
            raise ContentStoreValueError(
                f"length `{length}` is invalid; hint: pass 0 or more bytes, or None for the rest"
            )
        return self._iter_file(binary, offset, length)

    def _iter_file(self, root: bytes, offset: int, length: int | None) -> Iterator[bytes]:
        root_name = _cid.cid_to_str(root)
        state = [offset, -1 if length is None else length]  # bytes to skip, bytes left (-1: all)
        if state[1] == 0:
            return

        def walk(cid: bytes, expected: int | None) -> Iterator[bytes]:
            block = self._read_block(cid, root_name)
            node = self._file_node(cid, block)
            total = len(node.data) + sum(node.blocksizes)
            if expected is not None and total != expected:
                raise InvalidDag(
                    f"block `{_cid.cid_to_str(cid)}` holds {total} file bytes where its parent "
                    f"says {expected} (in `{root_name}`); hint: the DAG is inconsistent"
                )
            if node.data:
                yield from emit(node.data)
            for child, size in zip(node.links, node.blocksizes, strict=True):
                if state[1] == 0:
                    return
                if state[0] >= size:
                    state[0] -= size
                    continue
                yield from walk(child, size)

        def emit(data: bytes) -> Iterator[bytes]:
            if state[1] == 0:
                return
            if state[0] >= len(data):
                state[0] -= len(data)
                return
            piece = data[state[0] :] if state[0] else data
            state[0] = 0
            if state[1] > 0:
                piece = piece[: state[1]]
                state[1] -= len(piece)
            if piece:
                yield piece

        yield from walk(root, None)

    def check(self, cid: str, *, read_leaves: bool = True) -> int:
        """Walk the whole DAG of `cid`, verifying it; return the number of blocks.

        Args:
            cid: The file to check.
            read_leaves: Hash every leaf too (`False`: check that each leaf file exists, and
                verify only interior nodes, which is cheap: one per 174 leaves).

        Raises:
            Same as `cat`.
        """
        self._check_open()
        binary = _cid.parse_cid(cid)
        return sum(1 for _ in self._dag_blocks(binary, "read" if read_leaves else "exists"))

    def _dag_blocks(self, root: bytes, leaves: _LeafCheck) -> Iterator[bytes]:
        """Every block of the DAG under `root` (each once), interior nodes verified."""
        root_name = _cid.cid_to_str(root)
        seen: set[bytes] = set()
        stack = [root]
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            if _cid.codec_of(cid) == _cid.RAW:
                if leaves == "read":
                    self._read_block(cid, root_name)
                elif leaves == "exists" and not self._path_of(_cid.cid_to_str(cid)).is_file():
                    raise BlockNotFound(_cid.cid_to_str(cid), root_name)
                yield cid
                continue
            block = self._read_block(cid, root_name)
            stack.extend(reversed(self._file_node(cid, block).links))
            yield cid

    # -- pins and GC -----------------------------------------------------------------------------

    def pin_add(self, cid: str) -> str:
        """Pin `cid` recursively; every block of its DAG must be present and intact.

        Returns:
            The pinned CID as the store writes it (CIDv1, base32).

        Raises:
            InvalidCid, BlockNotFound, CorruptBlock, InvalidDag, UnsupportedContent: The DAG is
                not complete and intact; nothing was pinned.
        """
        self._check_open()
        binary = _cid.parse_cid(cid)
        name = _cid.cid_to_str(binary)
        # Hash everything first without holding the lock (it may be large), then, under the
        # lock, make sure no GC removed a block in between.
        for _ in self._dag_blocks(binary, "read"):
            pass
        with self._lock:
            self._check_open()
            for _ in self._dag_blocks(binary, "exists"):
                pass
            if name not in self._pins:
                pins = self._pins | {name}
                self._save_pins(pins)
                self._pins = pins
        return name

    def pin_rm(self, cid: str) -> str:
        """Remove the recursive pin of `cid` (its blocks stay until `gc`).

        Raises:
            InvalidCid: `cid` is not a CID.
            NotPinned: `cid` has no recursive pin.
        """
        self._check_open()
        name = _cid.cid_to_str(_cid.parse_cid(cid))
        with self._lock:
            self._check_open()
            if name not in self._pins:
                raise NotPinned(name)
            pins = self._pins - {name}
            self._save_pins(pins)
            self._pins = pins
        return name

    def pins(self) -> list[str]:
        """The recursive pins, sorted."""
        self._check_open()
        return sorted(self._pins)

    def pin_type(self, cid: str) -> str | None:
        """``"recursive"``, ``"indirect through <root>"`` (as Kubo says it), or None.

        Raises:
            InvalidCid: `cid` is not a CID.
            BlockNotFound, CorruptBlock, InvalidDag: A pinned DAG cannot be walked.
        """
        self._check_open()
        name = _cid.cid_to_str(_cid.parse_cid(cid))
        pins = set(self._pins)
        if name in pins:
            return "recursive"
        for root in sorted(pins):
            for block in self._dag_blocks(_cid.parse_cid(root), "skip"):
                if _cid.cid_to_str(block) == name:
                    return f"indirect through {root}"
        return None

    def indirect_pins(self) -> list[str]:
        """Blocks kept by a recursive pin without being one themselves, sorted.

        Raises:
            BlockNotFound, CorruptBlock, InvalidDag: A pinned DAG cannot be walked.
        """
        self._check_open()
        pins = set(self._pins)
        return sorted(self._reachable(pins) - pins)

    def _reachable(self, pins: set[str]) -> set[str]:
        keep: set[str] = set()
        for root in sorted(pins):
            for block in self._dag_blocks(_cid.parse_cid(root), "skip"):
                keep.add(_cid.cid_to_str(block))
        return keep

    def blocks(self) -> list[str]:
        """Every block on disk (``ipfs refs local``), sorted; nothing is verified."""
        self._check_open()
        return sorted(name for name, _ in self._block_files())

    def _block_files(self) -> Iterator[tuple[str, Path]]:
        for shard in self._blocks.iterdir():
            if not shard.is_dir() or shard.is_symlink():
                continue
            for path in shard.iterdir():
                yield path.name, path

    def gc(self) -> list[str]:
        """Remove every block that no recursive pin reaches; return the removed CIDs, sorted.

        Raises:
            BlockNotFound, CorruptBlock, InvalidDag: A pinned DAG cannot be walked, so what it
                reaches is unknown; nothing was removed. Repair or unpin it, then run gc again.
        """
        self._check_open()
        with self._lock:
            self._check_open()
            keep = self._reachable(self._pins)
            removed: list[str] = []
            touched: set[Path] = set()
            for name, path in self._block_files():
                if name in keep:
                    continue
                if not name.startswith("b"):
                    log.warning("leaving `%s` in place: not a block this store wrote", path)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed.append(name)
                touched.add(path.parent)
            for shard in touched:
                fsync_dir(shard)
        removed.sort()
        if removed:
            log.info("gc removed %d block(s)", len(removed))
        return removed

    def verify(self) -> list[str]:
        """Hash every block on disk (``ipfs repo verify``); return the corrupt ones, sorted."""
        self._check_open()
        bad: list[str] = []
        for name, _ in self._block_files():
            try:
                self._read_block(_cid.parse_cid(name))
            except (CorruptBlock, InvalidCid):
                bad.append(name)
            except BlockNotFound:
                continue  # removed by a concurrent gc
        return sorted(bad)


class PendingAdd:
    """An add in progress: feed it with `write`, then `commit` (or `abort`).

    Blocks go to a private staging directory as they are made; `commit` moves them into the
    store and records the pin in one step under the store's lock, `abort` deletes them. Obtain
    one from `ContentStore.open_add`.
    """

    def __init__(self, store: ContentStore, staging: Path, pin: bool) -> None:
        self._store = store
        self._staging = staging
        self._pin = pin
        self._staged: dict[bytes, None] = {}
        self._importer = FileImporter(self._stage)
        self._done = False

    @property
    def bytes_written(self) -> int:
        """File bytes received so far."""
        return self._importer.bytes_written

    def _stage(self, cid: bytes, block: bytes) -> None:
        if cid in self._staged:
            return
        write_new(self._staging / _cid.cid_to_str(cid), block)
        self._staged[cid] = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append the next bytes of the file.

        Raises:
            ContentStoreValueError: The add was committed or aborted, or `data` is not bytes.
        """
        if self._done:
            raise ContentStoreValueError(
                "this add was already committed or aborted; hint: start a new one with open_add"
            )
        self._importer.write(data)

    def write_from(self, stream: BinaryIO) -> None:
        """Append everything `stream` yields, one chunk at a time."""
        while piece := read_piece(stream, CHUNK_SIZE):
            self.write(piece)

    def commit(self) -> ImportResult:
        """Store the file (and pin it, if asked); return its root.

        Raises:
            StoreClosed: The store was closed meanwhile; nothing was stored.
        """
        if self._done:
            raise ContentStoreValueError(
                "this add was already committed or aborted; hint: start a new one with open_add"
            )
        try:
            result = self._importer.finish()
            self._store._commit(self._staging, self._staged, result.cid, self._pin)
        finally:
            self.abort()
        return result

    def abort(self) -> None:
        """Drop everything written so far; the store is unchanged. Safe to call twice."""
        self._done = True
        shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> PendingAdd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()
