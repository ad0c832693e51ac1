"""Fixtures of the content-store suite: a fresh store per test, and its API on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citrate_store import ContentStore, KuboClient, ServerThread


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContentStore]:
    with ContentStore(tmp_path / "store") as opened:
        yield opened


@pytest.fixture
def server(store: ContentStore) -> Iterator[ServerThread]:
    with ServerThread(store, port=0) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[KuboClient]:
    with KuboClient(server.url, timeout=30) as api:
        yield api
