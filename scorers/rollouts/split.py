"""Which variant an entity is served during a rollout: a deterministic hash of its id against the stage's share.

The hash is the shadow tee's (``shadow.sampling.entity_point``) with the same salt by default, so an entity
lies at one fixed point of [0, 2**64) in every process, across restarts and whatever the candidate version.
An entity is served the candidate when its point is below ``fraction`` of the space; a larger stage keeps
every entity of a smaller one (monotone stages: an entity in the 5% is still in at 25%). With the tee's salt,
the canary's entities are also a subset of the shadow sample whenever the stage is at most the tee's
fraction, so every entity served the candidate has the candidate's prediction precomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shadow.sampling import entity_point

SPACE = 1 << 64
CANDIDATE = "candidate"
CHAMPION = "champion"


@dataclass(frozen=True)
class TrafficSplit:
    fraction: float  # share of entities served the candidate, 0..1
    salt: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"a split's fraction must be within [0, 1], not {self.fraction}")

    @property
    def bound(self) -> int:
        return round(self.fraction * SPACE)

    def serves_candidate(self, entity_id: str) -> bool:
        bound = self.bound
        if bound >= SPACE:
            return True
        return bound > 0 and entity_point(entity_id.encode(), self.salt.encode()[:16]) < bound

    def variant(self, entity_id: str) -> str:
        return CANDIDATE if self.serves_candidate(entity_id) else CHAMPION

    def counts(self, entity_ids: Iterable[str]) -> dict[str, int]:
        """How many of ``entity_ids`` (one per event) each variant is served."""
        candidate = total = 0
        for entity_id in entity_ids:
            total += 1
            candidate += self.serves_candidate(entity_id)
        return {CANDIDATE: candidate, CHAMPION: total - candidate}
