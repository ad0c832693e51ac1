"""Citrate system contracts."""
