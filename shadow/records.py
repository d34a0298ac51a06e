"""Prediction records decoded for the joiner: challengers' from ``<stream>.shadow-predictions`` into columns,
champions' from ``<stream>.predictions`` into scores by event.

Values decode with the predictions codec; the tee's headers (shadow.tee) give each challenger prediction's
origin on the events topic and its produce time. An undecodable challenger record becomes a
``DecodeFailure`` for the dead-letter topic; a record of another model is left to that model's joiner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import Message

from schemas.batch import DecodeFailure
from schemas.codec import AvroCodec
from schemas.dead_letters import header_pairs
from schemas.errors import SchemaError
from shadow.champion import ChampionScore
from shadow.tee import PRODUCED_HEADER, SOURCE_HEADER


@dataclass
class ShadowPredictions:
    event_ids: list[str] = field(default_factory=list)
    entity_ids: list[str] = field(default_factory=list)
    event_times: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    scored_at: list[int] = field(default_factory=list)
    produced_at: list[int | None] = field(default_factory=list)
    sources: list[tuple[int, int] | None] = field(default_factory=list)  # (events partition, offset)
    failures: list[DecodeFailure] = field(default_factory=list)
    other_models: int = 0

    def __len__(self) -> int:
        return len(self.event_ids)


def decode_predictions(codec: AvroCodec, model: str, messages: Sequence[Message]) -> ShadowPredictions:
    out = ShadowPredictions()
    for position, message in enumerate(messages):
        try:
            record = codec.decode(message.value() or b"")
        except SchemaError as error:
            out.failures.append(DecodeFailure(position, "undecodable", str(error)))
            continue
        if record["model"] != model:
            out.other_models += 1
            continue
        produced, source = _origin(header_pairs(message))
        out.event_ids.append(record["event_id"])
        out.entity_ids.append(record["entity_id"])
        out.event_times.append(record["event_time"])
        out.versions.append(record["version"])
        out.scores.append(record["score"])
        out.scored_at.append(record["scored_at"])
        out.produced_at.append(produced)
        out.sources.append(source)
    return out


def _origin(headers: list[tuple[str, str | bytes | None]]) -> tuple[int | None, tuple[int, int] | None]:
    produced: int | None = None
    source: tuple[int, int] | None = None
    for key, value in headers:
        if value is None:
            continue
        raw = value.encode() if isinstance(value, str) else value
        try:
            if key == PRODUCED_HEADER:
                produced = int(raw)
            elif key == SOURCE_HEADER:
                partition, offset = raw.split(b":")
                source = (int(partition), int(offset))
        except (TypeError, ValueError):  # a foreign or damaged header: the origin is unknown, not fatal
            continue
    return produced, source


def decode_champions(codec: AvroCodec, model: str, messages: Sequence[Message]) -> tuple[dict[str, ChampionScore], int]:
    """(event_id -> the champion's score, undecodable count) of champion records of ``model``."""
    found: dict[str, ChampionScore] = {}
    bad = 0
    for message in messages:
        try:
            record = codec.decode(message.value() or b"")
        except SchemaError:
            bad += 1
            continue
        if record["model"] == model and record["variant"] == "champion":
            found[record["event_id"]] = ChampionScore(record["version"], record["score"], record["scored_at"])
    return found, bad
