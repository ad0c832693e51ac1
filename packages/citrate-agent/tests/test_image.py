"""`generate_image`: no backend → NotInstalledError; a registered backend → a real PNG file."""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.chain import ChainClient
from citrate_agent.config import AgentSettings
from citrate_agent.errors import AgentError, NotInstalledError, ToolArgumentError
from citrate_agent.tools import ToolRegistry, call_tool
from citrate_agent.tools import image as image_tools
from citrate_agent.tools.base import ToolContext


def make_png(width: int, height: int, seed: int) -> bytes:
    """A real 8-bit RGB PNG: a gradient that depends on `seed`."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + bytes((x + seed) % 256 for x in range(width)) * 3 for _ in range(height)
    )
    # Each row is a filter byte then width*3 bytes; the row above repeats a ramp per channel.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        image_tools.PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class FakeImageBackend:
    """Test double of an image model: draws a deterministic gradient PNG."""

    name = "test-gradient"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def generate(
        self, prompt: str, *, width: int, height: int, steps: int | None, seed: int | None
    ) -> bytes:
        self.calls.append({"prompt": prompt, "width": width, "height": height, "steps": steps})
        return make_png(width, height, seed or 0)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ToolContext]:
    settings = AgentSettings(workspace=str(tmp_path / "workspace"))
    context = ToolContext(
        chain=ChainClient("http://127.0.0.1:9"), settings=settings, data_dir=tmp_path
    )
    yield context
    context.close()


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(image_tools.TOOLS)


def test_no_backend_is_not_installed(ctx: ToolContext, registry: ToolRegistry) -> None:
    # Nothing in this environment registers `citrate.image_backends`.
    assert image_tools.find_image_backend() is None
    with pytest.raises(NotInstalledError) as info:
        call_tool(registry, ctx, "generate_image", {"prompt": "a lemon", "size": "256x256"})
    message = str(info.value)
    assert "no image model is installed" in message
    assert "nothing was generated" in message
    assert "citrate-compute" in message
    assert info.value.to_json()["error"]["type"] == "not_installed"
    assert not (ctx.workspace / image_tools.IMAGE_DIR).exists()


def test_registered_backend_writes_a_png(
    ctx: ToolContext, registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeImageBackend()
    monkeypatch.setattr(image_tools, "find_image_backend", lambda: backend)
    result = call_tool(
        registry, ctx, "generate_image", {"prompt": "a lemon", "size": "256x256", "seed": 7}
    )
    assert isinstance(result, dict)
    path = ctx.workspace / result["path"]
    assert path.is_file() and path.suffix == ".png"
    data = path.read_bytes()
    assert result["sha256"] == "0x" + hashlib.sha256(data).hexdigest()
    assert result["size"] == len(data)
    assert image_tools.png_size(data) == (256, 256) == (result["width"], result["height"])
    assert data == make_png(256, 256, 7)
    assert result["backend"] == "test-gradient"
    assert backend.calls == [{"prompt": "a lemon", "width": 256, "height": 256, "steps": None}]


def test_backend_returning_wrong_image_is_an_error(
    ctx: ToolContext, registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    class WrongSize(FakeImageBackend):
        def generate(self, prompt: str, **kw: Any) -> bytes:
            return make_png(8, 8, 0)

    class NotPng(FakeImageBackend):
        def generate(self, prompt: str, **kw: Any) -> bytes:
            return b"GIF89a......................."

    for backend, expected in ((WrongSize(), "returned 8x8, not 512x512"), (NotPng(), "PNG")):
        monkeypatch.setattr(image_tools, "find_image_backend", lambda b=backend: b)
        with pytest.raises(AgentError, match=expected):
            call_tool(registry, ctx, "generate_image", {"prompt": "x"})
    assert not any((ctx.workspace / image_tools.IMAGE_DIR).glob("*.png"))


def test_bad_size_is_refused(ctx: ToolContext, registry: ToolRegistry) -> None:
    with pytest.raises(ToolArgumentError, match="size"):
        call_tool(registry, ctx, "generate_image", {"prompt": "x", "size": "300x300"})


def test_entry_point_backend_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real module registered under the group, loaded the way an installed package would be.
    module = tmp_path / "citrate_test_image_backend.py"
    module.write_text(
        "class Backend:\n"
        "    name = 'from-entry-point'\n"
        "    def generate(self, prompt, *, width, height, steps, seed):\n"
        "        return b''\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "citrate_test_image_backend", raising=False)
    point = EntryPoint(
        name="test", value="citrate_test_image_backend:Backend", group=image_tools.ENTRY_POINT_GROUP
    )
    broken = EntryPoint(
        name="zz-broken", value="citrate_no_such_module:X", group=image_tools.ENTRY_POINT_GROUP
    )

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == image_tools.ENTRY_POINT_GROUP
        return [broken, point]

    monkeypatch.setattr(image_tools, "entry_points", fake_entry_points)
    backend = image_tools.find_image_backend()
    assert backend is not None and backend.name == "from-entry-point"

    monkeypatch.setattr(image_tools, "entry_points", lambda *, group: [broken])
    with pytest.raises(AgentError, match=r"`zz-broken`.*failed to load"):
        image_tools.find_image_backend()
