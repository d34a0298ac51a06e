"""Exactly the requested offsets are read; a stream without labels still replays; the horizon decides labels."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
from confluent_kafka import Producer

from schemas.synthetic import TransactionGenerator
from scorecast.settings import Settings
from scorers.registry import ModelVersion
from tests.integration.replay.conftest import START_MS, STREAM, Produce, Replay, champion, read_results


def test_an_offset_range_reads_exactly_those_offsets(
    registered: list[ModelVersion], produce: Produce, replay: Replay
) -> None:
    produce(6_000, labels=False)
    outcome = replay("0:100,1:50", "0:1100,1:1050", (champion(registered),), batch=333)
    results = read_results(outcome.results)
    for partition, start in ((0, 100), (1, 50)):
        offsets = results.filter(results.column("partition").to_numpy() == partition).column("offset").to_pylist()
        assert offsets == list(range(start, start + 1000))
    assert results.column("label").null_count == results.num_rows  # no labels were produced
    assert outcome.findings.labelled == 0
    assert outcome.findings.overall[("fraud", 1)].auc is None
    everything = replay("earliest", "latest", (champion(registered),), name="all")
    assert read_results(everything.results).num_rows == 6_000


def test_a_label_counts_only_if_it_came_within_the_horizon(
    registered: list[ModelVersion], produce: Produce, replay: Replay
) -> None:
    produced = produce(8_000, seed=6)
    outcome = replay(*produced.window, (champion(registered),), horizon_ms=12 * 3_600_000)
    results = read_results(outcome.results)
    batch = TransactionGenerator(seed=6, start_ms=START_MS).generate(8_000)
    delay = dict(zip((r["event_id"] for r in batch.records), batch.label_delays_ms.tolist(), strict=True))
    truth = dict(zip((r["event_id"] for r in batch.records), batch.labels.tolist(), strict=True))
    ids = results.column("event_id").to_pylist()
    labels = results.column("label").to_pylist()
    within = np.array([delay[i] <= 12 * 3_600_000 for i in ids])
    assert np.array_equal(np.array([x is not None for x in labels]), within)
    assert 0 < within.sum() < len(ids)  # fraud is reported within hours, good transactions after days
    assert all(label == truth[i] for i, label in zip(ids, labels, strict=True) if label is not None)


def test_events_the_live_scorer_would_dead_letter_are_listed_with_their_reason(
    pipeline_settings: Settings, registered: list[ModelVersion], produce: Produce, replay: Replay
) -> None:
    produce(2_000, labels=False)
    producer = Producer(pipeline_settings.kafka_config())
    topic = pipeline_settings.topic(STREAM, "events")
    for i in range(10):
        producer.produce(topic, b"not avro" if i % 2 else b"\x00\x00\x0f\x42\x40garbage", key=f"bad-{i}".encode())
    assert producer.flush(30) == 0
    outcome = replay("earliest", "latest", (champion(registered),))
    assert read_results(outcome.results).num_rows == 2_000
    assert outcome.findings.rejects == {"bad-header": 5, "unknown-schema-id": 5}
    assert outcome.rejects is not None
    rejects = pq.read_table(outcome.rejects)
    assert rejects.num_rows == 10
    assert set(rejects.column_names) == {"partition", "offset", "reason", "detail"}
    assert all(offset >= 0 for offset in rejects.column("offset").to_pylist())
