"""CIDs as this store holds them: binary CIDv1, codec raw or dag-pb, sha2-256.

Inside the store a CID is its 36-byte binary form (``0x01 codec 0x12 0x20 digest``); that is
what dag-pb links carry and what is hashed and compared. Text from callers is parsed with the
``multiformats`` library (any multibase, CIDv0 ``Qm…`` included, which is the same block as the
dag-pb CIDv1) and narrowed to what the store can verify. Output is always CIDv1 in base32, as
``ipfs add --cid-version=1`` prints it.
"""

from __future__ import annotations

import base64
import hashlib

from multiformats import CID

from citrate_store.errors import InvalidCid

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
DIGEST_SIZE = 32
_V1_PREFIX = {
    RAW: bytes([0x01, RAW, SHA2_256, DIGEST_SIZE]),
    DAG_PB: bytes([0x01, DAG_PB, SHA2_256, DIGEST_SIZE]),
}
_HINT = (
    "hint: pass a CIDv1 as `add` prints it (`bafk...` for one block, `bafy...` for larger files); "
    "CIDv0 `Qm...` is accepted too"
)


def make_cid(codec: int, block: bytes) -> bytes:
    """The binary CIDv1 of `block` under `codec` (raw or dag-pb), hashed with sha2-256."""
    return _V1_PREFIX[codec] + hashlib.sha256(block).digest()


def codec_of(cid: bytes) -> int:
    """The codec of a binary CID made or parsed by this module."""
    return cid[1]


def matches(cid: bytes, block: bytes) -> bool:
    """Whether `block` hashes to `cid`'s digest."""
    return hashlib.sha256(block).digest() == cid[4:]


def cid_to_str(cid: bytes) -> str:
    """CIDv1 text in base32 (multibase prefix ``b``), lower case, no padding."""
    return "b" + base64.b32encode(cid).decode("ascii").lower().rstrip("=")


def parse_cid(text: str) -> bytes:
    """Parse a CID (or an ``/ipfs/<cid>`` path) given by a caller into binary CIDv1.

    Raises:
        InvalidCid: `text` is not a CID, or uses a codec other than raw/dag-pb or a hash other
            than sha2-256 (blocks of those could not have been made or verified here).
    """
    if not isinstance(text, str):
        raise InvalidCid(f"a CID must be a string, not `{type(text).__name__}`; {_HINT}")
    value = text.strip()
    if value.startswith("/ipfs/"):
        value = value[len("/ipfs/") :]
        if "/" in value.rstrip("/"):
            raise InvalidCid(
                f"`{text}` names a path inside a DAG; this store holds single files only. "
                "hint: pass the file's own CID"
            )
        value = value.rstrip("/")
    if not value:
        raise InvalidCid(f"an empty string is not a CID; {_HINT}")
    if len(value) > 200:
        raise InvalidCid(
            f"`{value[:40]}...` ({len(value)} characters) is too long for a CID; {_HINT}"
        )
    try:
        cid = CID.decode(value)
    except Exception as err:  # multiformats raises KeyError/ValueError subclasses
        raise InvalidCid(f"`{value}` is not a valid CID ({_reason(err)}); {_HINT}") from None
    return _narrow(cid, value)


def parse_link(raw: bytes) -> bytes:
    """Parse the binary CID of a dag-pb link into binary CIDv1 (CIDv0 links become v1 dag-pb).

    Raises:
        InvalidCid: The bytes are not a CID this store can follow.
    """
    if len(raw) == 36 and raw[0] == 0x01 and raw[2:4] == b"\x12\x20" and raw[1] in _V1_PREFIX:
        return bytes(raw)
    if len(raw) == 34 and raw[:2] == b"\x12\x20":  # CIDv0: a bare sha2-256 multihash
        return _V1_PREFIX[DAG_PB] + bytes(raw[2:])
    try:
        cid = CID.decode(bytes(raw))
    except Exception as err:
        raise InvalidCid(f"a link holds bytes that are not a CID ({_reason(err)})") from None
    return _narrow(cid, str(cid))


def _narrow(cid: CID, shown: str) -> bytes:
    if cid.codec.code not in _V1_PREFIX:
        raise InvalidCid(
            f"`{shown}` has codec `{cid.codec.name}`; this store holds only `raw` and `dag-pb` "
            "blocks (UnixFS files). hint: use a CID printed by `add`"
        )
    if cid.hashfun.code != SHA2_256 or len(cid.raw_digest) != DIGEST_SIZE:
        raise InvalidCid(
            f"`{shown}` uses hash `{cid.hashfun.name}`; this store holds only sha2-256 blocks. "
            "hint: add the content here to get its sha2-256 CID"
        )
    return _V1_PREFIX[cid.codec.code] + bytes(cid.raw_digest)


def _reason(err: Exception) -> str:
    text = str(err).strip().strip("'\"")
    return text or type(err).__name__
