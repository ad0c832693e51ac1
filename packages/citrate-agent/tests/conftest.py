"""Fixtures shared by the citrate-agent unit tests.

- The local wire-format TEST DOUBLES (`wire_servers.py`: OpenAI and Anthropic HTTP servers and
  the streams they answer with) are registered as the module `citrate_agent_tests_wire_servers`
  (pytest's importlib mode puts no test directory on sys.path, and conftest.py is imported
  before the test modules next to it), so a test module writes
  `import citrate_agent_tests_wire_servers as W`; `server` is one such server per test.
- No real provider credentials or endpoints from the environment reach any test (the SDKs
  would otherwise pick up `OPENAI_API_KEY`/`*_BASE_URL` behind the code's back), and nothing
  goes to the Hugging Face hub (`HF_HUB_OFFLINE`).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_WIRE_MODULE = "citrate_agent_tests_wire_servers"
PROVIDER_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


def _load_wire_servers() -> ModuleType:
    if _WIRE_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _WIRE_MODULE, Path(__file__).with_name("wire_servers.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_WIRE_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_WIRE_MODULE]


@pytest.fixture(autouse=True)
def _no_real_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROVIDER_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


_load_wire_servers()


@pytest.fixture
def server() -> Iterator[Any]:
    """A fresh wire-format test double server (OpenAI and Anthropic paths), closed after."""
    s = _load_wire_servers().WireServer()
    yield s
    s.close()


@pytest.fixture
def closed_url() -> str:
    """`http://127.0.0.1:PORT` of a port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
