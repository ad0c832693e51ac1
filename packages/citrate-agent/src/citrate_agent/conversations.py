"""Conversations kept on this machine: `DATA_DIR/agent/conversations/<id>.json`, 0600.

Each save rewrites the file atomically, so a crash leaves the previous version, never half of
one. Only what was said and what the tools returned is kept; passwords never enter a
conversation (they go straight to the wallet).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citrate_agent.errors import AgentError
from citrate_agent.providers.base import Message
from citrate_crypto._files import atomic_write, ensure_private_dir

_ID = re.compile(r"^[0-9a-f]{12}$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Conversation:
    """A conversation: its messages and the actions it prepared (by id, with their outcome)."""

    id: str = field(default_factory=lambda: secrets.token_hex(6))
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    title: str = ""
    messages: list[Message] = field(default_factory=list)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "title": self.title,
            "messages": [m.to_json() for m in self.messages],
            "actions": self.actions,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Conversation:
        return cls(
            id=doc["id"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            title=doc.get("title", ""),
            messages=[Message.from_json(m) for m in doc.get("messages", [])],
            actions=dict(doc.get("actions", {})),
        )


class ConversationStore:
    """Conversations as JSON files in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def save(self, conversation: Conversation) -> Path:
        conversation.updated_at = _now()
        if not conversation.title:
            first = next((m.content for m in conversation.messages if m.role == "user"), "")
            conversation.title = first[:80]
        ensure_private_dir(self.directory)
        path = self._path(conversation.id)
        atomic_write(path, json.dumps(conversation.to_json(), indent=1).encode())
        return path

    def load(self, conversation_id: str) -> Conversation:
        path = self._path(conversation_id)
        try:
            return Conversation.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise AgentError(
                f"there is no conversation `{conversation_id}`",
                hint="`citrate agent history` lists the saved ones",
            ) from None
        except (ValueError, KeyError) as exc:
            raise AgentError(
                f"the conversation file `{path}` is damaged ({type(exc).__name__})",
                hint="start a new conversation; the damaged file was left as it is",
            ) from None

    def list(self) -> list[dict[str, str]]:
        """id, title and last update of each saved conversation, newest first."""
        out = []
        for path in self.directory.glob("*.json"):
            try:
                doc = json.loads(path.read_text())
                out.append(
                    {"id": doc["id"], "title": doc["title"], "updated_at": doc["updated_at"]}
                )
            except (OSError, ValueError, KeyError):
                continue
        return sorted(out, key=lambda d: d["updated_at"], reverse=True)

    def _path(self, conversation_id: str) -> Path:
        if not _ID.match(conversation_id):
            raise AgentError(
                f"`{conversation_id}` is not a conversation id (12 hex digits)",
                hint="`citrate agent history` lists the saved ones",
            )
        return self.directory / f"{conversation_id}.json"


__all__ = ["Conversation", "ConversationStore"]
