"""`scorecast schemas check` and `register` against a schema registry: each topic's subject and its schema.

Subjects follow the configured naming strategy over the topics of each stream (``<prefix><stream>.<kind>``),
so a schema shared by several topics (predictions, say) is registered under each topic's subject with
TopicNameStrategy and once with RecordNameStrategy. Registering first makes sure the subject's compatibility
level is at least the asked mode (set when the subject has none of its own), so the registry enforces it for
every later producer too; checking asks the registry's own compatibility endpoint, whose verdict and messages
are reported as they come.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.compat import Mode
from schemas.evolution import SchemaStatus
from schemas.features import AVRO_DIR
from schemas.registry import KIND_SCHEMAS, RegistrySchemaStore, schema_name
from schemas.registry_client import RegistryIncompatibleError
from scorecast.errors import ConfigError

if TYPE_CHECKING:
    from scorecast.settings import Settings

LEVEL_OF_MODE = {"backward": "BACKWARD", "forward": "FORWARD", "full": "FULL"}
# What each level guarantees between a new version and the versions before it.
_GUARANTEES = {
    "NONE": set(),
    "BACKWARD": {"backward"},
    "FORWARD": {"forward"},
    "FULL": {"backward", "forward"},
    "BACKWARD_TRANSITIVE": {"backward", "backward_all"},
    "FORWARD_TRANSITIVE": {"forward", "forward_all"},
    "FULL_TRANSITIVE": {"backward", "forward", "backward_all", "forward_all"},
}


@dataclass(frozen=True)
class Target:
    """One subject and the schema file registered under it (for one of the topics that carry it)."""

    subject: str
    name: str
    topic: str


def streams_with_schemas() -> list[str]:
    """Every stream that has an events schema file."""
    return sorted(p.name.removesuffix(".events.avsc") for p in AVRO_DIR.glob("*.events.avsc"))


def targets(
    settings: Settings, store: RegistrySchemaStore, streams: Iterable[str], names: Iterable[str] = ()
) -> list[Target]:
    """The subjects of every topic of ``streams`` (only those carrying ``names``, when given), each once."""
    wanted = set(names)
    found: dict[str, Target] = {}
    for stream in streams:
        for kind in KIND_SCHEMAS:
            name = schema_name(stream, kind)
            if wanted and name not in wanted:
                continue
            topic = settings.topic(stream, kind)
            subject = store.subject(topic, name)
            found.setdefault(subject, Target(subject, name, topic))
    unknown = wanted - {t.name for t in found.values()}
    if unknown:
        raise ConfigError(f"no topic of streams {', '.join(streams)} carries {', '.join(sorted(unknown))}")
    return list(found.values())


def covers(level: str, mode: Mode) -> bool:
    """Whether a subject at ``level`` enforces at least ``mode`` (FULL_TRANSITIVE covers full, say)."""
    return _GUARANTEES[LEVEL_OF_MODE[mode]] <= _GUARANTEES.get(level, set())


def ensure_level(store: RegistrySchemaStore, subject: str, mode: Mode) -> str:
    """Give the subject the mode's level if it has none of its own; refuse one that enforces less."""
    own = store.client.level(subject)
    if own is None:
        store.client.set_level(subject, LEVEL_OF_MODE[mode])
        return LEVEL_OF_MODE[mode]
    if not covers(own, mode):
        raise ConfigError(
            f"subject {subject} has compatibility {own} in the registry, which does not enforce {mode}: "
            f"change the subject's level, or pass --mode matching it"
        )
    return own


def register(store: RegistrySchemaStore, target: Target, mode: Mode) -> tuple[int, bool]:
    """The schema's id under the subject, and whether it was added now (after the level was made sure of)."""
    text = store.text(target.name)
    existing = store.client.lookup(target.subject, text)
    if existing is not None:
        return existing, False
    ensure_level(store, target.subject, mode)
    try:
        return store.client.register(target.subject, text), True
    except RegistryIncompatibleError:
        # The registry's 409 says only "incompatible"; its compatibility endpoint says why.
        verdict = store.client.check(target.subject, text)
        why = "; ".join(verdict.messages) if verdict is not None and verdict.messages else "no reason given"
        raise RegistryIncompatibleError(f"{target.subject}: {target.name} is incompatible: {why}") from None


def status(store: RegistrySchemaStore, target: Target) -> SchemaStatus:
    """registered (the current file is a version), new (no subject yet), changed (compatible, not registered
    yet) or incompatible, with the registry's messages."""
    text = store.text(target.name)
    existing = store.client.lookup(target.subject, text)
    if existing is not None:
        return SchemaStatus(target.name, "registered", existing)
    verdict = store.client.check(target.subject, text)
    if verdict is None:
        return SchemaStatus(target.name, "new", None)
    if not verdict.compatible:
        return SchemaStatus(target.name, "incompatible", None, verdict.messages or ("the registry gave no reason",))
    return SchemaStatus(target.name, "changed", None)
