"""`generate_image`: text to image through a pluggable backend.

No image backend ships with the agent: the compute package (`citrate-compute`) will provide
one. A backend is any object with the `ImageBackend` shape, made by a zero-argument callable
(a class works) that a package registers under the entry point group
``citrate.image_backends``, e.g. in its ``pyproject.toml``::

    [project.entry-points."citrate.image_backends"]
    stable-diffusion = "citrate_compute.image:StableDiffusionBackend"

`find_image_backend` loads the first one (by entry point name). Without any, the tool raises
`NotInstalledError` and nothing is generated: it never returns a placeholder picture.
"""

from __future__ import annotations

import hashlib
import struct
import time
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from citrate_agent.errors import AgentError, NotInstalledError
from citrate_agent.schema import object_schema
from citrate_agent.tools.base import Tool, ToolContext

ENTRY_POINT_GROUP = "citrate.image_backends"
SIZES = ("256x256", "512x512", "1024x1024")
IMAGE_DIR = "images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@runtime_checkable
class ImageBackend(Protocol):
    """What `generate_image` needs from an image model.

    `generate` returns the encoded PNG file (bytes) of a `width` x `height` image. `steps` and
    `seed` are None when the caller left them to the backend's defaults.
    """

    name: str

    def generate(
        self, prompt: str, *, width: int, height: int, steps: int | None, seed: int | None
    ) -> bytes: ...


def find_image_backend() -> ImageBackend | None:
    """The installed image backend, or None when no package registers one.

    Raises:
        AgentError: a registered backend fails to load or does not have the `ImageBackend`
            shape (the package that registers it is broken).
    """
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not found:
        return None
    point = found[0]
    try:
        backend = point.load()()
    except Exception as exc:
        raise AgentError(
            f"the image backend `{point.name}` ({point.value}) failed to load "
            f"({type(exc).__name__}: {exc})",
            hint="reinstall the package that provides it (`citrate-compute`)",
        ) from None
    if not isinstance(backend, ImageBackend):
        raise AgentError(
            f"the image backend `{point.name}` ({point.value}) has no `name` and `generate`",
            hint="update the package that provides it (`citrate-compute`)",
        )
    return backend


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of PNG `data`.

    Raises:
        ValueError: `data` is not a PNG file (signature, then an IHDR chunk).
    """
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def generate_image(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Generate an image from `prompt` and save it as a PNG in the workspace.

    Args:
        ctx: The tool context.
        args: `prompt`; optional `size` (default 512x512), `steps`, `seed`.

    Returns:
        path (relative to the workspace), sha256 (0x hex), size (bytes), width, height,
        backend, prompt, steps, seed.

    Raises:
        NotInstalledError: no image backend is installed (nothing is generated).
        AgentError: the backend failed or returned something that is not the requested PNG.
    """
    backend = find_image_backend()
    if backend is None:
        raise NotInstalledError(
            "no image model is installed, so nothing was generated; image generation arrives "
            "with the compute package (`citrate-compute`)",
            hint="install `citrate-compute` once it is released; until then no tool can make "
            "images",
        )
    width, height = (int(v) for v in str(args.get("size", "512x512")).split("x"))
    steps = args.get("steps")
    seed = args.get("seed")
    prompt = str(args["prompt"])
    try:
        data = backend.generate(prompt, width=width, height=height, steps=steps, seed=seed)
    except AgentError:
        raise
    except Exception as exc:
        raise AgentError(
            f"the image backend `{backend.name}` failed ({type(exc).__name__}: {exc})",
            hint="try again, or with fewer steps or a smaller size",
        ) from None
    try:
        got = png_size(bytes(data))
    except (TypeError, ValueError):
        raise AgentError(
            f"the image backend `{backend.name}` did not return a PNG file",
            hint="update the package that provides it",
        ) from None
    if got != (width, height):
        raise AgentError(
            f"the image backend `{backend.name}` returned {got[0]}x{got[1]}, not {width}x{height}",
            hint="update the package that provides it",
        )
    digest = hashlib.sha256(data).hexdigest()
    directory = ctx.workspace / IMAGE_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = directory / f"image-{stamp}-{digest[:12]}.png"
    if not path.resolve().is_relative_to(ctx.workspace):
        raise AgentError(
            f"`{IMAGE_DIR}` in the workspace points outside it",
            hint=f"remove the symlink `{IMAGE_DIR}` from the workspace",
        )
    path.write_bytes(data)
    return {
        "path": str(path.relative_to(ctx.workspace)),
        "sha256": "0x" + digest,
        "size": len(data),
        "width": width,
        "height": height,
        "backend": backend.name,
        "prompt": prompt,
        "steps": steps,
        "seed": seed,
    }


TOOLS: list[Tool] = [
    Tool(
        name="generate_image",
        category="image",
        description=(
            "Generate an image from a text prompt and save it as a PNG in the workspace; "
            "returns its path, sha256 and size. Needs an image model (from `citrate-compute`); "
            "without one it fails with a not_installed error."
        ),
        parameters=object_schema(
            {
                "prompt": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2000,
                    "description": "What the image should show.",
                },
                "size": {
                    "type": "string",
                    "enum": list(SIZES),
                    "description": "Width x height in pixels (default 512x512).",
                },
                "steps": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 150,
                    "description": "Denoising steps (default: the model's own).",
                },
                "seed": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 2**32 - 1,
                    "description": "Random seed, for a reproducible image (default: random).",
                },
            },
            required=("prompt",),
        ),
        run=generate_image,
        timeout=600.0,
    )
]

__all__ = [
    "ENTRY_POINT_GROUP",
    "SIZES",
    "TOOLS",
    "ImageBackend",
    "find_image_backend",
    "generate_image",
    "png_size",
]
