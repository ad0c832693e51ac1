"""RPC conformance suite: one set of tests run against anvil and `citrate devnet`."""
