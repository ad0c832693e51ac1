"""The two protobuf messages of a UnixFS file, encoded and decoded by hand.

dag-pb (https://ipld.io/specs/codecs/dag-pb/spec/)::

    message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
    message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }

UnixFS (https://github.com/ipfs/specs/blob/main/UNIXFS.md)::

    message Data {
      required DataType Type = 1;  // Raw 0, Directory 1, File 2, Metadata 3, Symlink 4, HAMTShard 5
      optional bytes Data = 2; optional uint64 filesize = 3; repeated uint64 blocksizes = 4;
      optional uint64 hashType = 5; optional uint64 fanout = 6; optional uint32 mode = 7;
      optional UnixTime mtime = 8;
    }

The canonical dag-pb form writes Links before Data (the order go-codec-dagpb and js-dag-pb use,
so the bytes, and therefore the CID, match theirs), and every link carries its Name even when it
is empty, as Kubo's encoder does. Blocksizes are written unpacked (proto2), as Kubo writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2
UNIXFS_METADATA = 3
UNIXFS_SYMLINK = 4
UNIXFS_HAMT_SHARD = 5
UNIXFS_TYPE_NAMES = {
    UNIXFS_RAW: "raw",
    UNIXFS_DIRECTORY: "directory",
    UNIXFS_FILE: "file",
    UNIXFS_METADATA: "metadata",
    UNIXFS_SYMLINK: "symlink",
    UNIXFS_HAMT_SHARD: "HAMT-sharded directory",
}

_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5
_MAX_U64 = (1 << 64) - 1


class ProtobufError(ValueError):
    """Bytes that are not the expected protobuf message."""


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf writes uint64."""
    if value < 0 or value > _MAX_U64:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return encode_varint((number << 3) | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, _LEN) + encode_varint(len(payload)) + payload


def encode_file_node(links: Sequence[tuple[bytes, int]], blocksizes: Sequence[int]) -> bytes:
    """A dag-pb node for an interior UnixFS file node.

    Args:
        links: ``(binary CID, Tsize)`` of each child, in file order; Tsize is the child's
            cumulative DAG size (block plus everything below it).
        blocksizes: The number of file bytes under each child, in the same order.
    """
    if len(links) != len(blocksizes):
        raise ValueError("one blocksize per link")
    data = bytearray(_field(1, _VARINT) + encode_varint(UNIXFS_FILE))
    data += _field(3, _VARINT) + encode_varint(sum(blocksizes))
    for size in blocksizes:
        data += _field(4, _VARINT) + encode_varint(size)
    node = bytearray()
    for cid, tsize in links:
        link = _bytes_field(1, cid) + _bytes_field(2, b"") + _field(3, _VARINT)
        link += encode_varint(tsize)
        node += _bytes_field(2, link)
    node += _bytes_field(1, bytes(data))
    return bytes(node)


@dataclass(frozen=True)
class PBLink:
    """A decoded dag-pb link."""

    hash: bytes
    name: str | None
    tsize: int | None


@dataclass(frozen=True)
class PBNode:
    """A decoded dag-pb node."""

    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True)
class UnixFSData:
    """A decoded UnixFS ``Data`` message (the fields a file reader needs)."""

    type: int
    data: bytes = b""
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default_factory=tuple)


def _read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise ProtobufError("varint overflows 64 bits")
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(buf: bytes | memoryview) -> list[tuple[int, int, int | memoryview]]:
    """Split a message into ``(field number, wire type, value)``; LEN values as memoryviews."""
    view = memoryview(buf)
    out: list[tuple[int, int, int | memoryview]] = []
    pos = 0
    while pos < len(view):
        key, pos = _read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(view, pos)
            out.append((number, wire, value))
        elif wire == _LEN:
            length, pos = _read_varint(view, pos)
            if length > len(view) - pos:
                raise ProtobufError("length-delimited field runs past the end")
            out.append((number, wire, view[pos : pos + length]))
            pos += length
        elif wire == _FIXED64:
            if pos + 8 > len(view):
                raise ProtobufError("truncated fixed64")
            out.append((number, wire, int.from_bytes(view[pos : pos + 8], "little")))
            pos += 8
        elif wire == _FIXED32:
            if pos + 4 > len(view):
                raise ProtobufError("truncated fixed32")
            out.append((number, wire, int.from_bytes(view[pos : pos + 4], "little")))
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def decode_pbnode(block: bytes) -> PBNode:
    """Decode a dag-pb block strictly (no unknown fields, at most one Data, Hash required)."""
    links: list[PBLink] = []
    data: bytes | None = None
    for number, wire, value in _fields(block):
        if number == 2 and wire == _LEN and isinstance(value, memoryview):
            if data is not None:
                raise ProtobufError("Links after Data (not canonical dag-pb)")
            links.append(_decode_link(value))
        elif number == 1 and wire == _LEN and isinstance(value, memoryview):
            if data is not None:
                raise ProtobufError("Data appears twice")
            data = bytes(value)
        else:
            raise ProtobufError(f"unexpected field {number} (wire type {wire}) in PBNode")
    return PBNode(tuple(links), data)


def _decode_link(buf: memoryview) -> PBLink:
    cid: bytes | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    for number, wire, value in _fields(buf):
        if number <= last:
            raise ProtobufError("PBLink fields out of order or repeated")
        last = number
        if number == 1 and wire == _LEN and isinstance(value, memoryview):
            cid = bytes(value)
        elif number == 2 and wire == _LEN and isinstance(value, memoryview):
            try:
                name = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise ProtobufError("link Name is not UTF-8") from None
        elif number == 3 and wire == _VARINT and isinstance(value, int):
            tsize = value
        else:
            raise ProtobufError(f"unexpected field {number} (wire type {wire}) in PBLink")
    if cid is None:
        raise ProtobufError("PBLink without Hash")
    return PBLink(cid, name, tsize)


def decode_unixfs(data: bytes) -> UnixFSData:
    """Decode a UnixFS ``Data`` message; fields a file reader does not need are skipped."""
    kind: int | None = None
    payload = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, wire, value in _fields(data):
        if number == 1 and wire == _VARINT and isinstance(value, int):
            kind = value
        elif number == 2 and wire == _LEN and isinstance(value, memoryview):
            payload = bytes(value)
        elif number == 3 and wire == _VARINT and isinstance(value, int):
            filesize = value
        elif number == 4 and wire == _VARINT and isinstance(value, int):
            blocksizes.append(value)
        elif number == 4 and wire == _LEN and isinstance(value, memoryview):
            pos = 0  # packed encoding, which some writers use
            while pos < len(value):
                size, pos = _read_varint(value, pos)
                blocksizes.append(size)
        elif number in (1, 2, 3, 4):
            raise ProtobufError(f"UnixFS field {number} has wire type {wire}")
        # 5 hashType, 6 fanout, 7 mode, 8 mtime and unknown fields do not affect file bytes.
    if kind is None:
        raise ProtobufError("UnixFS Data without Type")
    return UnixFSData(kind, payload, filesize, tuple(blocksizes))
