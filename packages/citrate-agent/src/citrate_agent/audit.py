"""The audit log: one JSON line per executed or attempted action, 0600, append-only.

Every tool run, every prepared action and what became of it (approved and sent, rejected,
failed) is written with a UTC timestamp and the session id. Arguments are logged as given;
secrets never reach tools, so none reach the log.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citrate_crypto._files import ensure_private_dir

AUDIT_FILE = "audit.jsonl"


class AuditLog:
    """Appends events to `path` (created 0600; its directory 0700)."""

    def __init__(self, path: Path, session: str) -> None:
        self.path = Path(path)
        self.session = session
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "session": self.session,
            "event": event,
            **fields,
        }
        line = (json.dumps(record, default=str, sort_keys=True) + "\n").encode()
        with self._lock:
            ensure_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first (for `citrate agent audit` and tests)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


__all__ = ["AUDIT_FILE", "AuditLog"]
