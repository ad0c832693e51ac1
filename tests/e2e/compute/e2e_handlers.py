"""Operator handlers for the compute e2e tests (configured by the provider, never a requester).

The worker imports this module by name: the tests put this directory on the sandbox's
`extra_sys_path` and list each handler in `allowed_handlers`. Outputs are canonical JSON, like
the built-in handlers', so equal work gives equal hashes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from citrate_compute.worker import HandlerContext

MODULE = "e2e_handlers"
ALLOWED = frozenset(f"{MODULE}:{name}" for name in ("upper", "wrong", "slow"))


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _prompt(ctx: HandlerContext) -> str:
    doc = json.loads(ctx.input)
    if "prompt" in doc:
        return str(doc["prompt"])
    return " ".join(str(m.get("content", "")) for m in doc.get("messages", []))


def upper(ctx: HandlerContext) -> bytes:
    """An honest, deterministic job: the prompt in upper case."""
    return _canonical({"model": ctx.model, "text": _prompt(ctx).upper()})


def wrong(ctx: HandlerContext) -> bytes:
    """A dishonest provider's handler: a result that is not the job's."""
    return _canonical({"model": ctx.model, "text": "not the answer"})


def slow(ctx: HandlerContext) -> bytes:
    """A job that runs for a long time (the provider is killed while it runs)."""
    time.sleep(120)
    return _canonical({"model": ctx.model, "text": "late"})
