"""Kubo's file importer: the same blocks and CIDs as ``ipfs add --cid-version=1 --raw-leaves``.

What Kubo does (boxo ``importer/balanced`` with the default ``size-262144`` chunker), and so
what this module does:

- The file is cut into fixed 262144-byte chunks (the last one shorter; an empty file is one
  empty chunk). Each chunk is a *raw* block: CIDv1, codec ``raw`` (0x55), sha2-256.
- A file of one chunk *is* that raw block, so its CID is the raw CID of its bytes.
- Longer files get a balanced tree of dag-pb (0x70) nodes, at most 174 links each, leaves all at
  the same depth and filled left to right. Each node's Data is UnixFS ``{Type: File, filesize,
  blocksizes}``; each link is ``{Hash, Name: "", Tsize}`` where Tsize is the child's cumulative
  size (its block plus everything below it).

The importer is push-based (`FileImporter.write` any pieces, then `FileImporter.finish`), so
callers stream files of any size through it holding at most one chunk and one pending link list
per tree level in memory. Completed groups of 174 are folded into their parent as soon as they
fill, which gives the same tree as batching at the end, because a full group is the same node
whether or not more data follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from citrate_store._cid import DAG_PB, RAW, cid_to_str, make_cid
from citrate_store._protobuf import encode_file_node
from citrate_store.errors import ContentStoreValueError

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BlockSink",
    "FileImporter",
    "ImportResult",
    "compute_cid",
    "import_stream",
]

CHUNK_SIZE = 262_144
"""Kubo's default chunker, ``size-262144``."""

MAX_LINKS = 174
"""Kubo's balanced layout: at most 174 links per node (``helpers.DefaultLinksPerBlock``)."""

MAX_CHUNK_SIZE = 1 << 20
"""The largest chunk Kubo's chunker accepts (``chunk.ChunkSizeLimit``)."""

BlockSink = Callable[[bytes, bytes], None]
"""Receives each block as ``(binary CIDv1, block bytes)``, leaves before their parents."""


@dataclass(frozen=True)
class ImportResult:
    """The root of an imported file.

    Attributes:
        cid: The root CID, CIDv1 base32 (``bafk…`` for one chunk, ``bafy…`` above).
        size: The cumulative DAG size in bytes, what Kubo reports as ``Size``.
        file_size: The number of bytes in the file.
        blocks: How many blocks were produced (a repeated chunk counts each time).
    """

    cid: str
    size: int
    file_size: int
    blocks: int


@dataclass(frozen=True)
class _Child:
    cid: bytes
    tsize: int
    file_size: int


class FileImporter:
    """Builds a file's UnixFS DAG from bytes pushed in any pieces.

    Example:
        >>> blocks = {}
        >>> importer = FileImporter(lambda cid, block: blocks.setdefault(cid, block))
        >>> importer.write(b"hello ")
        >>> importer.write(b"world")
        >>> importer.finish().cid
        'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

    Args:
        sink: Called with every block as it is made; ``None`` only computes the CID
            (``ipfs add --only-hash``).
        chunk_size: Bytes per leaf. Kubo's default unless you are reproducing another setting.
        max_links: Links per node. Kubo's default unless you are reproducing another setting.
    """

    def __init__(
        self,
        sink: BlockSink | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ContentStoreValueError(
                f"chunk size `{chunk_size}` is out of range; hint: use 1 to {MAX_CHUNK_SIZE} "
                f"bytes (Kubo's default is {CHUNK_SIZE})"
            )
        if max_links < 2:
            raise ContentStoreValueError(
                f"`{max_links}` links per node cannot form a tree; hint: use 2 or more "
                f"(Kubo's default is {MAX_LINKS})"
            )
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._pending = bytearray()
        self._levels: list[list[_Child]] = [[]]
        self._leaves = 0
        self._blocks = 0
        self._result: ImportResult | None = None

    @property
    def bytes_written(self) -> int:
        """File bytes received so far."""
        return self._leaves * self._chunk_size + len(self._pending)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next bytes of the file; complete chunks become blocks right away.

        Raises:
            ContentStoreValueError: `finish` was already called, or `data` is not bytes.
        """
        if self._result is not None:
            raise ContentStoreValueError(
                "this importer has finished; hint: start a new FileImporter"
            )
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ContentStoreValueError(
                f"file content must be bytes, not `{type(data).__name__}`; hint: open files "
                "in binary mode ('rb') and encode text first"
            )
        view = memoryview(data).cast("B")
        size = self._chunk_size
        if self._pending:
            take = size - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < size:
                return
            self._leaf(bytes(self._pending))
            self._pending.clear()
        while len(view) >= size:
            self._leaf(bytes(view[:size]))
            view = view[size:]
        self._pending += view

    def finish(self) -> ImportResult:
        """Emit the last chunk and the remaining interior nodes; return the root.

        Calling it again returns the same result.
        """
        if self._result is not None:
            return self._result
        if self._pending or self._leaves == 0:
            self._leaf(bytes(self._pending))
            self._pending.clear()
        levels = self._levels
        level = 0
        while True:
            items = levels[level]
            top = level == len(levels) - 1
            if top and len(items) == 1:
                root = items[0]
                break
            if items:
                node = self._node(items)
                levels[level] = []
                if top:
                    levels.append([])
                levels[level + 1].append(node)
            level += 1
        self._result = ImportResult(cid_to_str(root.cid), root.tsize, root.file_size, self._blocks)
        return self._result

    def _emit(self, cid: bytes, block: bytes) -> None:
        self._blocks += 1
        if self._sink is not None:
            self._sink(cid, block)

    def _leaf(self, chunk: bytes) -> None:
        cid = make_cid(RAW, chunk)
        self._emit(cid, chunk)
        self._leaves += 1
        self._push(0, _Child(cid, len(chunk), len(chunk)))

    def _push(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        group = self._levels[level]
        group.append(child)
        if len(group) == self._max_links:
            self._levels[level] = []
            self._push(level + 1, self._node(group))

    def _node(self, children: list[_Child]) -> _Child:
        block = encode_file_node(
            [(c.cid, c.tsize) for c in children], [c.file_size for c in children]
        )
        cid = make_cid(DAG_PB, block)
        self._emit(cid, block)
        return _Child(
            cid,
            len(block) + sum(c.tsize for c in children),
            sum(c.file_size for c in children),
        )


def import_stream(
    source: bytes | bytearray | memoryview | BinaryIO | Iterable[bytes],
    sink: BlockSink | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    max_links: int = MAX_LINKS,
) -> ImportResult:
    """Import a whole file from bytes, a binary stream, or an iterable of byte pieces.

    A stream is read one chunk at a time, so memory stays bounded whatever the file size.

    Raises:
        ContentStoreValueError: The source yields something other than bytes.
    """
    importer = FileImporter(sink, chunk_size=chunk_size, max_links=max_links)
    for piece in _pieces(source, chunk_size):
        importer.write(piece)
    return importer.finish()


def compute_cid(source: bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]) -> str:
    """The CID ``ipfs add --cid-version=1 --raw-leaves --only-hash`` prints for `source`."""
    return import_stream(source).cid


def read_piece(stream: BinaryIO, size: int) -> bytes:
    """Read up to `size` bytes from a caller's stream, refusing text and non-blocking streams.

    Raises:
        ContentStoreValueError: The stream gave ``str`` or ``None``.
    """
    piece: object = stream.read(size)
    if isinstance(piece, bytes | bytearray):
        return bytes(piece)
    if piece is None:
        raise ContentStoreValueError(
            "the stream is non-blocking and had no data ready; hint: pass a blocking binary stream"
        )
    raise ContentStoreValueError(
        f"the stream gave `{type(piece).__name__}`, not bytes; hint: open files with 'rb'"
    )


def reject_text(source: object) -> None:
    """Refuse a ``str`` where file content is expected: it is not clear whether it is a path.

    Raises:
        ContentStoreValueError: `source` is a ``str``.
    """
    if isinstance(source, str):
        raise ContentStoreValueError(
            "file content must be bytes, not `str`; hint: encode text first "
            "(`text.encode()`), or pass a `Path` or a stream opened with 'rb'"
        )


def _pieces(
    source: bytes | bytearray | memoryview | BinaryIO | Iterable[bytes], size: int
) -> Iterable[bytes | bytearray | memoryview]:
    reject_text(source)
    if isinstance(source, bytes | bytearray | memoryview):
        yield source
        return
    if callable(getattr(source, "read", None)):
        stream: BinaryIO = source  # type: ignore[assignment]
        while piece := read_piece(stream, size):
            yield piece
        return
    yield from source
