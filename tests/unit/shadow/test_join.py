"""The join handler: joins what the champion has written, waits for what it has not, and gives up only when
the champion has passed an event or the wait is over; nothing is written twice or dropped silently."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Message

from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from shadow.champion import ChampionScore
from shadow.join import ChampionBehindError, JoinConfig, JoinHandler
from shadow.tee import PRODUCED_HEADER, SOURCE_HEADER
from tests.unit.shadow.fakes import Clock, FakeDeadLetters, FakeLookup, FakeProgress, FakeWriter

TOPIC = "transactions.shadow-predictions"
CHAMPION_TOPIC = "transactions.predictions"
CODEC = AvroCodec(LocalSchemaStore(), TOPIC, "predictions")


class World:
    def __init__(self, max_wait_s: float = 60.0) -> None:
        self.log: list[str] = []
        self.lookup = FakeLookup(self.log)
        self.progress = FakeProgress(self.log)
        self.writer = FakeWriter()
        self.dead_letters = FakeDeadLetters()
        self.clock = Clock()
        self.handler = JoinHandler(
            JoinConfig(stream="transactions", model="fraud", max_wait_s=max_wait_s), CODEC, CHAMPION_TOPIC, lambda: [1],
            self.lookup, self.progress, self.writer, self.dead_letters, self.clock,
        )  # fmt: skip

    def champion(self, event: int, score: float = 0.25) -> None:
        self.lookup.rows[f"e{event}"] = ChampionScore(1, score, 5_000 + event)


def prediction(
    event: int, version: int, score: float = 0.5, model: str = "fraud", variant: str = "challenger"
) -> Message:
    record: dict[str, Any] = {
        "event_id": f"e{event}", "entity_id": f"card-{event}", "event_time": 1_000 + event, "model": model,
        "version": version, "score": score, "outputs": {}, "scored_at": 9_000 + event, "variant": variant,
    }  # fmt: skip
    return Message(
        topic=TOPIC if variant == "challenger" else CHAMPION_TOPIC, partition=0, offset=event,
        key=f"card-{event}".encode(), value=CODEC.encode(record),
        headers=[("traceparent", b"x"), (SOURCE_HEADER, b"%d:%d" % (event % 2, 10 * event)),
                 (PRODUCED_HEADER, b"%d" % (2_000 + event))],
    )  # fmt: skip


def test_each_challenger_prediction_is_joined_with_the_champions_row() -> None:
    world = World()
    for e in range(3):
        world.champion(e, score=e / 10)
    world.handler([prediction(e, v, score=0.5 + e / 10) for v in (2, 3) for e in range(3)])()
    got = {(r.challenger_version, r.event_id): r for r in world.writer.rows}
    assert len(got) == len(world.writer.rows) == 6
    row = got[(3, "e2")]
    assert (row.event_time, row.entity_id, row.champion_version, row.champion_score) == (1_002, "card-2", 1, 0.2)
    assert (row.challenger_score, row.challenger_scored_at, row.champion_scored_at, row.produced_at) == (
        0.7,
        9_002,
        5_002,
        2_002,
    )
    assert world.lookup.calls == [["e0", "e1", "e2"]]  # one read per event, not per challenger version
    assert (world.handler.stats.received, world.handler.stats.joined) == (6, 6)


def test_a_champion_behind_is_waited_for_and_nothing_is_written_twice() -> None:
    world = World()
    world.champion(0)
    deliver = world.handler([prediction(e, 2) for e in range(3)])
    with pytest.raises(ChampionBehindError, match="2 events"):
        deliver()
    assert [r.event_id for r in world.writer.rows] == ["e0"]  # what could be joined already is
    world.champion(1)
    world.champion(2)
    deliver()  # the BatchConsumer's retry
    assert sorted(r.event_id for r in world.writer.rows) == ["e0", "e1", "e2"]
    assert world.lookup.calls == [["e0", "e1", "e2"], ["e1", "e2"]]


def test_an_event_the_champion_passed_without_scoring_is_counted_at_once() -> None:
    world = World()
    world.champion(0)
    world.progress.offsets = {1: 11}  # event 1 came from partition 1, offset 10: the champion is past it
    world.handler([prediction(0, 2), prediction(1, 2), prediction(1, 3)])()
    assert [r.event_id for r in world.writer.rows] == ["e0"]
    assert (world.handler.stats.champion_missing, world.handler.stats.unmatched) == (2, 0)
    assert world.log == ["progress", "lookup"]  # progress first, so a row written before the commit is seen


def test_after_the_longest_wait_the_rest_is_counted_unmatched() -> None:
    world = World(max_wait_s=30)
    world.champion(0)
    deliver = world.handler([prediction(0, 2), prediction(1, 2)])
    with pytest.raises(ChampionBehindError):
        deliver()
    world.clock.now += 31
    deliver()
    assert [r.event_id for r in world.writer.rows] == ["e0"]
    assert (world.handler.stats.joined, world.handler.stats.unmatched) == (1, 1)


def test_a_later_batch_with_another_version_reuses_the_champion_read() -> None:
    world = World()
    world.champion(4)
    world.handler([prediction(4, 2)])()
    world.handler([prediction(4, 3)])()
    assert world.lookup.calls == [["e4"]]
    assert [(r.challenger_version, r.champion_score) for r in world.writer.rows] == [(2, 0.25), (3, 0.25)]


def test_undecodable_records_go_to_dead_letters_and_other_models_are_left_alone() -> None:
    world = World()
    world.champion(0)
    bad = Message(topic=TOPIC, partition=0, offset=99, key=b"k", value=b"\x00garbage")
    batch = [prediction(0, 2), bad, prediction(1, 2, model="risk")]
    deliver = world.handler(batch)
    deliver()
    deliver()  # a retry does not send the dead letter again
    assert [(m.offset(), f.reason) for m, f in world.dead_letters.sent] == [(99, "undecodable")]
    assert (world.handler.stats.dead_lettered, world.handler.stats.other_models) == (1, 1)
    assert [r.event_id for r in world.writer.rows] == ["e0"]


def test_champion_records_on_the_predictions_topic_spare_the_read() -> None:
    world = World()
    world.champion(1)  # in Cassandra too, as always: the topic record is produced after the row is written
    batch = [prediction(0, 1, 0.125, variant="champion"), prediction(1, 1, variant="canary"), prediction(0, 2)]
    world.handler([*batch, prediction(1, 2)])()
    assert [(r.event_id, r.champion_score) for r in world.writer.rows] == [("e0", 0.125), ("e1", 0.25)]
    assert world.lookup.calls == [["e1"]]  # a canary's record is no champion's: e1 is read
    assert (world.handler.stats.champion_records, world.handler.stats.champion_reads) == (1, 1)
