"""Citrate's compute network: lend a share of a GPU (or the CPU) for pay.

Lazy by design: importing the package loads neither torch, llama.cpp nor Ray.
"""

from __future__ import annotations
