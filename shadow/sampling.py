"""Which entities the shadow tee keeps: a deterministic hash of the entity id against a sampled fraction.

The decision is a pure function of (salt, entity id, fraction): the same entity is kept or skipped on every
restart, in every process and by every tee instance, so a challenger sees whole entity histories (velocity
features and per-entity comparisons stay meaningful). A smaller fraction keeps a subset of what a larger one
keeps, so raising the fraction never drops an entity already in the sample. BLAKE2b (not Python's ``hash``,
which is salted per process) spreads ids uniformly over 64 bits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_SPACE = 1 << 64
_PERSON = b"scorecast.shadow"  # domain separation: other entity hashes (canary splits) draw independently


def entity_point(entity_id: bytes, salt: bytes = b"") -> int:
    """The entity's fixed point in [0, 2**64)."""
    digest = hashlib.blake2b(entity_id, digest_size=8, salt=salt[:16], person=_PERSON).digest()
    return int.from_bytes(digest, "big")


class EntitySampler:
    """Keeps the entities whose point lies below ``fraction`` of the hash space."""

    def __init__(self, fraction: float, salt: str = "") -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"sample fraction must be within [0, 1], not {fraction}")
        self.fraction = fraction
        self._salt = salt.encode()[:16]
        self._bound = round(fraction * _SPACE)

    @property
    def everything(self) -> bool:
        return self._bound >= _SPACE

    def keeps(self, entity_id: bytes) -> bool:
        return self.everything or entity_point(entity_id, self._salt) < self._bound

    def mask(self, keys: Sequence[bytes | None]) -> list[bool]:
        """One decision per Kafka key; a message without a key is hashed as the empty id."""
        if self.everything:
            return [True] * len(keys)
        if self._bound == 0:
            return [False] * len(keys)
        bound, salt = self._bound, self._salt
        return [entity_point(key or b"", salt) < bound for key in keys]
