"""The benchmark suite is off in the default run; `make bench` turns it on."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_enable", False):
        return
    off = pytest.mark.skip(reason="benchmarks are off by default; run `make bench`")
    for item in items:
        if "tests/bench/" in item.nodeid.replace("\\", "/"):
            item.add_marker(off)
