"""Defaults shared by the server and the client (kept apart so neither imports the other)."""

from __future__ import annotations

DEFAULT_PORT = 5001
"""Kubo's RPC API port, which `citrate devnet` uses for the embedded store too."""

DEFAULT_API_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
