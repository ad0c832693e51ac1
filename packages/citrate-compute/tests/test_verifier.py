"""Which revealed jobs a verifier re-executes (the re-execution and the dispute run in
`tests/e2e/compute/test_dispute.py` on a real devnet)."""

from __future__ import annotations

import pytest

from citrate_compute.errors import ComputeValueError
from citrate_compute.verifier import VerifierConfig, picks

VERIFIER = bytes(range(32))  # a verifier's secret sample key
OTHER = bytes(32)


def test_the_pick_is_deterministic_per_job_and_secret_key() -> None:
    chosen = [j for j in range(1, 2001) if picks(j, VERIFIER, 0.25)]
    assert chosen == [j for j in range(1, 2001) if picks(j, VERIFIER, 0.25)]
    # About the share, and a different set for another verifier.
    assert 400 < len(chosen) < 600
    assert chosen != [j for j in range(1, 2001) if picks(j, OTHER, 0.25)]
    # A larger share keeps every job a smaller one picked.
    assert set(chosen) <= {j for j in range(1, 2001) if picks(j, VERIFIER, 0.5)}


def test_each_verifier_draws_its_own_secret_key() -> None:
    a, b = VerifierConfig(), VerifierConfig()
    assert len(a.sample_key) == 32 and a.sample_key != b.sample_key
    assert "sample_key" not in repr(a)


def test_share_bounds() -> None:
    assert not any(picks(j, VERIFIER, 0.0) for j in range(100))
    assert all(picks(j, VERIFIER, 1.0) for j in range(100))
    for bad in (-0.1, 1.01):
        with pytest.raises(ComputeValueError, match="verification share"):
            VerifierConfig(share=bad).validate()
