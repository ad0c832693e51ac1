"""Content addressing of job documents: the on-chain `bytes32` <-> the CID in the content store.

A job's input and output documents live in the content store (the devnet's, or any Kubo);
ComputeMarket keeps only their `inputHash` / `outputHash`. That `bytes32` is the sha2-256 digest
inside the document's CIDv1 as `ipfs add --cid-version=1 --raw-leaves` computes it
(`citrate_store.compute_cid`): a *raw* CID when the document fits one 256 KiB chunk, a *dag-pb*
(UnixFS) CID above. The codec is not on chain, so a fetch by hash tries the raw CID, then the
dag-pb one.

Everything fetched is verified: the CID of the bytes that came back is recomputed here and must
be the one asked for, so a store (or a man in the middle) cannot substitute a document. Sizes
are capped on upload and on download (the download stops reading past the cap), because inputs
come from strangers.

Document helpers: `canonical_json` (the output format every handler writes), `input_document`
(what `citrate compute submit` uploads) and `parse_document` (a JSON object, or a clear error).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citrate_compute.errors import (
    ComputeValueError,
    ContentError,
    ContentMismatch,
    ContentNotFound,
    ContentTooLarge,
    MalformedInput,
)
from citrate_compute.jobs import JobType

#: Largest input document a requester uploads or a provider fetches (bytes).
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: Largest output document a provider uploads or a requester fetches (bytes).
MAX_OUTPUT_BYTES = 32 * 1024 * 1024
#: The content store's chunk size: documents up to this size have a raw CID.
CHUNK_SIZE = 256 * 1024

_RAW = 0x55
_DAG_PB = 0x70
_SHA2_256 = 0x12


@dataclass(frozen=True, slots=True)
class ContentRef:
    """A stored document: its CID (text, CIDv1 base32) and its on-chain `bytes32` digest."""

    cid: str
    digest: bytes
    size: int

    @property
    def hex(self) -> str:
        """The digest as `0x`-prefixed hex (the form ComputeMarket's views return)."""
        return "0x" + self.digest.hex()


# ------------------------------------------------------------------------------ CIDs


def _cid_text(codec: int, digest: bytes) -> str:
    import base64

    raw = bytes([0x01, codec, _SHA2_256, 32]) + digest
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def as_digest(value: bytes | str) -> bytes:
    """`value` (32 bytes, or `0x` + 64 hex digits) as 32 bytes.

    Raises:
        ComputeValueError: not a 32-byte value.
    """
    if isinstance(value, bytes | bytearray):
        if len(value) == 32:
            return bytes(value)
    elif isinstance(value, str):
        text = value.removeprefix("0x")
        if len(text) == 64:
            try:
                return bytes.fromhex(text)
            except ValueError:
                pass
    shown = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    raise ComputeValueError(
        f"`{shown[:80]}` is not a 32-byte hash",
        hint="pass 0x followed by 64 hex digits (an inputHash or outputHash)",
    )


def cids_for_digest(digest: bytes | str) -> tuple[str, str]:
    """The two CIDs a `bytes32` can stand for: (raw, dag-pb), in the order to try them."""
    d = as_digest(digest)
    return _cid_text(_RAW, d), _cid_text(_DAG_PB, d)


def digest_of_cid(cid: str) -> bytes:
    """The sha2-256 digest inside `cid` (any text form the content store accepts).

    Raises:
        ComputeValueError: not a raw or dag-pb sha2-256 CID.
    """
    from citrate_store import normalize_cid
    from citrate_store.errors import InvalidCid

    try:
        text = normalize_cid(cid)
    except InvalidCid as exc:
        raise ComputeValueError(str(exc)) from None
    import base64

    body = text[1:].upper()
    raw = base64.b32decode(body + "=" * (-len(body) % 8))
    return raw[4:]


def cid_of(data: bytes) -> str:
    """The CID the content store gives `data` (`ipfs add --cid-version=1 --raw-leaves`)."""
    from citrate_store import compute_cid

    return compute_cid(data)


def hash_document(data: bytes) -> bytes:
    """The on-chain `bytes32` of `data`: the digest inside its CID."""
    if len(data) <= CHUNK_SIZE:
        # One chunk: a raw leaf, whose digest is the document's own sha2-256.
        return hashlib.sha256(data).digest()
    return digest_of_cid(cid_of(data))


# ------------------------------------------------------------------------------ documents


def canonical_json(obj: Any) -> bytes:
    """The canonical bytes of a JSON value (sorted keys, no spaces, UTF-8), as handlers write
    their output documents, so equal results have equal hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_document(data: bytes, what: str = "the input document") -> dict[str, Any]:
    """`data` as a JSON object.

    Raises:
        MalformedInput: not UTF-8, not JSON, or not an object.
    """
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedInput(
            f"{what} is not UTF-8 text", hint="job documents are UTF-8 JSON objects"
        ) from None
    except ValueError as exc:
        raise MalformedInput(
            f"{what} is not JSON ({exc.args[0] if exc.args else 'parse error'})",
            hint="job documents are UTF-8 JSON objects",
        ) from None
    if not isinstance(doc, dict):
        raise MalformedInput(
            f"{what} is a JSON {type(doc).__name__}, not an object",
            hint='send an object such as {"prompt": "..."}',
        )
    return doc


def input_document(
    job_type: JobType,
    *,
    prompt: str | None = None,
    document: Mapping[str, Any] | None = None,
    max_tokens: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """The input document of a job: `document` as given, or one built from `prompt`.

    The shape follows the job documents convention: inference `{"messages": [...],
    "max_tokens", "temperature": 0, "seed"}`, embedding `{"input": [...]}`. Only the outer shape
    is checked here (the handler that runs the job checks the rest).

    Raises:
        MalformedInput: neither or both of `prompt` / `document`, or a shape the job type does
            not take.
    """
    if (prompt is None) == (document is None):
        raise MalformedInput(
            "give either a prompt or an input document", hint="use --prompt TEXT or --input FILE"
        )
    if document is not None:
        doc = dict(document)
    elif job_type == JobType.INFERENCE:
        doc = {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": seed,
        }
    elif job_type == JobType.EMBEDDING:
        doc = {"input": [prompt]}
    else:
        raise MalformedInput(
            f"a {job_type.name.lower()} job needs an input document, not a prompt",
            hint="write the job's input as a JSON file and pass --input FILE",
        )
    if job_type == JobType.INFERENCE and "messages" not in doc and "prompt" not in doc:
        raise MalformedInput(
            "an inference input needs `messages` or `prompt`",
            hint='e.g. {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 64}',
        )
    if job_type == JobType.EMBEDDING and "input" not in doc:
        raise MalformedInput(
            "an embedding input needs `input` (a string or a list of strings)",
            hint='e.g. {"input": ["first text", "second text"]}',
        )
    return doc


#: Fields of an input document addressed to the provider, not to the job's handler.
ENVELOPE_FIELDS = ("memory_bytes",)


def handler_input(data: bytes, doc: Mapping[str, Any]) -> bytes:
    """The bytes a job's handler gets: the input document without the provider's envelope
    fields (`memory_bytes`); unchanged when it has none. Verifiers strip the same way, so
    re-executions see the same bytes."""
    if not any(k in doc for k in ENVELOPE_FIELDS):
        return data
    return canonical_json({k: v for k, v in doc.items() if k not in ENVELOPE_FIELDS})


def declared_memory(doc: Mapping[str, Any]) -> int:
    """The memory (bytes) an input document declares it needs (`"memory_bytes"`), else 0.

    Raises:
        MalformedInput: `memory_bytes` is present but not a non-negative integer.
    """
    value = doc.get("memory_bytes", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedInput(
            f"`memory_bytes` is `{value!r}`, not a non-negative integer",
            hint="declare the job's memory need in bytes, or leave the field out",
        )
    return value


# ------------------------------------------------------------------------------ the store


class ContentClient:
    """Uploads and fetches job documents through a Kubo-compatible API, verifying both ways.

    Args:
        url: the content store API (the devnet serves it on its `--ipfs-port`).
        timeout: seconds per request.
        max_input_bytes / max_output_bytes: caps for the two kinds of documents.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        max_input_bytes: int = MAX_INPUT_BYTES,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
    ) -> None:
        from citrate_store import KuboClient
        from citrate_store.errors import ContentStoreValueError

        try:
            self._client = KuboClient(url, timeout=timeout)
        except ContentStoreValueError as exc:
            raise ComputeValueError(str(exc)) from None
        self.url = url
        self.max_input_bytes = max_input_bytes
        self.max_output_bytes = max_output_bytes

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ContentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(
        self, data: bytes, *, limit: int | None = None, what: str = "the document"
    ) -> ContentRef:
        """Store `data`; return its CID and digest.

        The CID the store answers must be the one computed here (a store that hashes otherwise
        would make the on-chain hash point at nothing).

        Raises:
            ContentTooLarge: above `limit` (default: the input cap).
            ContentError: the store is unreachable, refused, or answered another CID.
        """
        from citrate_store.errors import ContentStoreError

        cap = self.max_input_bytes if limit is None else limit
        if len(data) > cap:
            raise ContentTooLarge(
                f"{what} is {len(data)} bytes, more than the limit of {cap} bytes",
                hint="send a smaller document",
            )
        expected = cid_of(data)
        try:
            got = self._client.add(data, pin=True)
        except ContentStoreError as exc:
            raise ContentError(
                f"cannot store {what}: {self._scrub(exc)}",
                hint="check the content store URL (--ipfs) and that the store is running",
            ) from None
        if got != expected:
            raise ContentError(
                f"the content store answered CID `{got}` for {what}, expected `{expected}`",
                hint="use a store that adds with --cid-version=1 --raw-leaves (Kubo or the devnet)",
            )
        return ContentRef(expected, digest_of_cid(expected), len(data))

    def put_json(
        self, doc: Any, *, limit: int | None = None, what: str = "the document"
    ) -> ContentRef:
        """Store `doc` as canonical JSON."""
        return self.put(canonical_json(doc), limit=limit, what=what)

    def get(
        self, digest: bytes | str, *, limit: int | None = None, what: str = "the document"
    ) -> bytes:
        """The verified document whose on-chain hash is `digest` (raw CID first, then dag-pb).

        Raises:
            ContentNotFound: neither CID is in the store.
            ContentTooLarge: the document is above `limit` (default: the input cap).
            ContentMismatch: the bytes returned do not hash to the CID.
            ContentError: the store is unreachable.
        """
        from citrate_store.errors import ApiError, ApiUnavailable

        cap = self.max_input_bytes if limit is None else limit
        shown = "0x" + as_digest(digest).hex()
        problems: list[str] = []
        for cid in cids_for_digest(digest):
            try:
                data = self._read(cid, cap, what)
            except ApiUnavailable as exc:
                raise ContentError(
                    f"cannot fetch {what} `{shown}`: {self._scrub(exc)}",
                    hint="check the content store URL (--ipfs) and that the store is running",
                ) from None
            except ApiError as exc:
                problems.append(str(exc))
                continue
            got = cid_of(data)
            if got != cid:
                raise ContentMismatch(
                    f"the content store returned bytes for `{cid}` that hash to `{got}`",
                    hint="the store is damaged or not honest; do not use this document",
                )
            return data
        raise ContentNotFound(
            f"{what} `{shown}` is not in the content store at `{_redact(self.url)}`",
            hint="the requester must upload it (citrate compute submit does); check --ipfs",
        )

    def get_json(
        self, digest: bytes | str, *, limit: int | None = None, what: str = "the document"
    ) -> dict[str, Any]:
        return parse_document(self.get(digest, limit=limit, what=what), what)

    def _scrub(self, exc: Exception) -> str:
        # The store's messages name its URL, which may carry credentials.
        return str(exc).replace(self._client.base_url, _redact(self.url))

    def _read(self, cid: str, cap: int, what: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        # Ask for at most cap + 1 bytes: a larger document is refused without reading it all.
        stream = self._client.iter_cat(cid, length=cap + 1)
        try:
            for piece in stream:
                size += len(piece)
                if size > cap:
                    raise ContentTooLarge(
                        f"{what} `{cid}` is larger than the limit of {cap} bytes",
                        hint="this provider does not take documents this large",
                    )
                parts.append(piece)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return b"".join(parts)


def _redact(url: str) -> str:
    from citrate_compute.market import redact_url

    return redact_url(url)


__all__ = [
    "CHUNK_SIZE",
    "ENVELOPE_FIELDS",
    "MAX_INPUT_BYTES",
    "MAX_OUTPUT_BYTES",
    "ContentClient",
    "ContentError",
    "ContentMismatch",
    "ContentNotFound",
    "ContentRef",
    "ContentTooLarge",
    "as_digest",
    "canonical_json",
    "cid_of",
    "cids_for_digest",
    "declared_memory",
    "digest_of_cid",
    "handler_input",
    "hash_document",
    "input_document",
    "parse_document",
]
