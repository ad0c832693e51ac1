//! GhostDAG (placeholder; being written).
