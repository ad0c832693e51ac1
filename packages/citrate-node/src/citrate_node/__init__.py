"""Citrate devnet node: GhostDAG + revm (Rust core) behind Ethereum JSON-RPC."""

from __future__ import annotations
