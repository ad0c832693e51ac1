"""A textbook GhostDAG in plain Python, the cross-check for the Rust core (tests only).

Readable rather than fast: every block keeps its whole past and its whole blue set, and each
colouring decision counts anticones by brute force, exactly as the definitions read. The Rust core
(``citrate_chain::ghostdag``) computes the same thing incrementally, Kaspa's way; the tests assert
the two agree block by block.

Conventions (Kaspa's, see ``tests/vectors/ghostdag/README.md``):

- Every block carries work 1, so blue work equals blue score: the number of blue blocks in the
  block's past. The genesis has 0.
- Blocks are ordered by ``(blue score, hash)``; the selected parent is the greatest parent.
- The mergeset is the past of the block minus the past of its selected parent and the selected
  parent itself. Its members are coloured in ascending ``(blue score, hash)`` order against the
  blue set inherited from the selected parent (plus the selected parent): a candidate is blue iff
  at most ``k`` blues lie in its anticone and each of those blues has fewer than ``k`` blues in
  its own anticone (so that adding the candidate keeps every blue at ``k`` or fewer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RefData:
    """GhostDAG data of one block (the fields of ``citrate_native.GhostDagData``)."""

    hash: bytes
    blue_score: int
    selected_parent: bytes | None
    mergeset_blues: list[bytes]
    mergeset_reds: list[bytes]

    @property
    def blue_work(self) -> int:
        return self.blue_score


class ReferenceGhostDag:
    """GhostDAG with explicit past and blue sets (quadratic memory; for small DAGs only)."""

    def __init__(self, k: int, genesis: bytes) -> None:
        self.k = k
        self.genesis = genesis
        self.parents: dict[bytes, list[bytes]] = {genesis: []}
        self.past: dict[bytes, frozenset[bytes]] = {genesis: frozenset()}
        # The blue blocks in the past of each block.
        self.blue_set: dict[bytes, frozenset[bytes]] = {genesis: frozenset()}
        self.data: dict[bytes, RefData] = {genesis: RefData(genesis, 0, None, [], [])}
        self.children: dict[bytes, set[bytes]] = {genesis: set()}

    def __len__(self) -> int:
        return len(self.data)

    def key(self, block: bytes) -> tuple[int, bytes]:
        """The ``(blue work, hash)`` order."""
        return (self.data[block].blue_score, block)

    def in_anticone(self, a: bytes, b: bytes) -> bool:
        """Neither block is in the past of the other (and they differ)."""
        return a != b and a not in self.past[b] and b not in self.past[a]

    def colour(
        self, parents: Sequence[bytes]
    ) -> tuple[bytes, list[bytes], list[bytes], set[bytes]]:
        """Selected parent, mergeset blues and reds, and blue set of a block with these parents."""
        past: set[bytes] = set()
        for p in parents:
            past |= {p} | self.past[p]
        selected = max(parents, key=self.key)
        mergeset = sorted(
            (b for b in past if b != selected and b not in self.past[selected]), key=self.key
        )
        blue = set(self.blue_set[selected]) | {selected}
        blues, reds = [selected], []
        for candidate in mergeset:
            anticone = [b for b in blue if self.in_anticone(b, candidate)]
            fits = len(anticone) <= self.k and all(
                sum(1 for x in blue if self.in_anticone(b, x)) < self.k for b in anticone
            )
            if fits:
                blue.add(candidate)
                blues.append(candidate)
            else:
                reds.append(candidate)
        return selected, blues, reds, blue

    def add_block(self, block: bytes, parents: Sequence[bytes]) -> RefData:
        """Add a block whose parents are known (no validation: the tests feed valid DAGs)."""
        selected, blues, reds, blue = self.colour(parents)
        past: set[bytes] = set()
        for p in parents:
            past |= {p} | self.past[p]
            self.children[p].add(block)
        self.parents[block] = list(parents)
        self.past[block] = frozenset(past)
        self.blue_set[block] = frozenset(blue)
        self.children[block] = set()
        data = RefData(block, len(blue), selected, blues, reds)
        self.data[block] = data
        return data

    def tips(self) -> list[bytes]:
        """Blocks without children, ascending ``(blue work, hash)``."""
        return sorted((b for b, c in self.children.items() if not c), key=self.key)

    def ordered_mergeset(self, block: bytes) -> list[bytes]:
        """Selected parent first, then the other members ascending ``(blue work, hash)``."""
        data = self.data[block]
        if data.selected_parent is None:
            return []
        rest = sorted(data.mergeset_blues[1:] + data.mergeset_reds, key=self.key)
        return [data.selected_parent, *rest]

    def total_order(self) -> list[bytes]:
        """``G, M(C1), C1, ..., M(Cn), Cn, M(virtual)`` over the virtual's selected chain."""
        selected, blues, reds, _ = self.colour(self.tips())
        chain = [selected]
        while (parent := self.data[chain[-1]].selected_parent) is not None:
            chain.append(parent)
        order: list[bytes] = []
        for block in reversed(chain):
            order += self.ordered_mergeset(block)[1:]
            order.append(block)
        order += sorted(blues[1:] + reds, key=self.key)
        return order

    def virtual_reds(self) -> set[bytes]:
        """Blocks coloured red by the virtual block over all tips or by its selected chain."""
        selected, _, reds, _ = self.colour(self.tips())
        result = set(reds)
        block: bytes | None = selected
        while block is not None:
            result.update(self.data[block].mergeset_reds)
            block = self.data[block].selected_parent
        return result
