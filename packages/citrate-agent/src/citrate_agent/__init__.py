"""Citrate's AI agent.

Public API:
    open_context: a `ToolContext` on the node, the content store and the user's wallet.
    default_registry, call_tool: every tool, usable without any LLM.
    Orchestrator: the function-calling loop over an LLM provider, with approvals.
Errors live in `citrate_agent.errors`.
"""

from __future__ import annotations

from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citrate_agent.orchestrator import Orchestrator
    from citrate_agent.session import open_context
    from citrate_agent.tools import Tool, ToolContext, ToolRegistry, call_tool, default_registry

__version__ = _dist_version("citrate-agent")

# Loaded on first use: `citrate` imports the agent's CLI for every command (even `citrate
# devnet`), and web3 plus the LLM SDKs take seconds to import.
_LAZY = {
    "Orchestrator": "citrate_agent.orchestrator",
    "open_context": "citrate_agent.session",
    "Tool": "citrate_agent.tools",
    "ToolContext": "citrate_agent.tools",
    "ToolRegistry": "citrate_agent.tools",
    "call_tool": "citrate_agent.tools",
    "default_registry": "citrate_agent.tools",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'citrate_agent' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Orchestrator",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "__version__",
    "call_tool",
    "default_registry",
    "open_context",
]
