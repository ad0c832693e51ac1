"""The agent's tools, by category. `default_registry()` holds every one of them."""

from __future__ import annotations

from citrate_agent.tools.base import (
    CATEGORIES,
    DeployedContract,
    Tool,
    ToolContext,
    ToolRegistry,
    call_tool,
)


def default_registry() -> ToolRegistry:
    """Every tool, in category order."""
    import citrate_agent.tools.blockchain as blockchain
    import citrate_agent.tools.contracts as contracts
    import citrate_agent.tools.image as image
    import citrate_agent.tools.ipfs as ipfs
    import citrate_agent.tools.marketplace as marketplace
    import citrate_agent.tools.models as models
    import citrate_agent.tools.terminal as terminal
    import citrate_agent.tools.wallet as wallet

    registry = ToolRegistry()
    for module in (blockchain, wallet, contracts, models, marketplace, terminal, ipfs, image):
        for tool in module.TOOLS:
            registry.add(tool)
    return registry


__all__ = [
    "CATEGORIES",
    "DeployedContract",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "call_tool",
    "default_registry",
]
