"""`scorecast produce` against real Kafka: synthetic volume with labels, a file with malformed or oversized lines."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]
from typer.testing import CliRunner

from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast.app.cli import app
from scorecast.settings import Settings
from tests.integration.producer.reading import read_topic


def _env(settings: Settings) -> dict[str, str]:
    return {"SCORECAST_TOPIC_PREFIX": settings.topic_prefix, "SCORECAST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap}


@pytest.mark.slow
def test_synthetic_100k_events_all_arrive_and_decode(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["produce", "--stream", "transactions", "--synthetic", "100000"], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    assert f"sent 100000 events and 100000 labels to {settings.topic('transactions', 'events')}" in result.output
    assert "rejected 0" in result.output

    messages = read_topic(settings, settings.topic("transactions", "events"), 100_000)
    assert len(messages) == 100_000
    store = LocalSchemaStore()
    decoder = EventBatchDecoder(store, "transactions")
    values = [m.value() or b"" for m in messages]
    batch = decoder.decode(values)
    assert batch.failures == []
    assert len(batch) == 100_000
    assert len(set(batch.event_ids)) == 100_000
    assert all(m.key() == e.encode() for m, e in zip(messages, batch.entity_ids, strict=True))  # keyed by entity
    # Spot-check the vectorised decode against fastavro on the same bytes.
    codec = AvroCodec(store, settings.topic("transactions", "events"), "transactions.events")
    assert [codec.decode(v)["event_id"] for v in values[:50]] == batch.event_ids[:50]

    labels = read_topic(settings, settings.topic("transactions", "labels"), 100_000)
    assert len(labels) == 100_000
    label_codec = AvroCodec(store, settings.topic("transactions", "labels"), "labels")
    decoded = [label_codec.decode(m.value() or b"") for m in labels[:1000]]
    event_times = dict(zip(batch.event_ids, batch.event_times.tolist(), strict=True))
    assert all(d["label_time"] > event_times[d["event_id"]] for d in decoded)  # known after the event
    assert {d["label"] for d in decoded} <= {0, 1}


def test_a_file_with_malformed_lines_sends_the_rest_and_reports_them(settings: Settings, tmp_path: Path) -> None:
    records = TransactionGenerator(seed=5).generate(20).records
    lines = [json.dumps(r) for r in records]
    lines[3] = '{"event_id": "broken json", '  # line 4: not JSON
    missing = dict(records[9])
    del missing["amount"]
    lines[9] = json.dumps(missing)  # line 10: a required field is missing
    lines[15] = json.dumps(records[15] | {"hour_of_day": "noon"})  # line 16: wrong type
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(app, ["produce", "--stream", "transactions", "--file", str(path)], env=_env(settings))
    assert result.exit_code == 1
    assert "sent 17 events" in result.output
    assert "rejected 3" in result.output
    for line, detail in ((4, "not JSON"), (10, "amount: missing"), (16, "hour_of_day: 'noon' is not a valid int")):
        assert f"line {line}: " in result.output
        assert detail in result.output

    rejects = [json.loads(x) for x in (tmp_path / "events.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [4, 10, 16]
    assert rejects[1]["fields"] == ["amount"]
    assert rejects[0]["raw"] == lines[3]

    messages = read_topic(settings, settings.topic("transactions", "events"), 17, timeout_s=30)
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode([m.value() or b"" for m in messages])
    sent = {r["event_id"] for i, r in enumerate(records) if i not in (3, 9, 15)}
    assert set(batch.event_ids) == sent
    assert len(messages) == 17


def test_a_csv_file_is_converted_by_field_type(settings: Settings, tmp_path: Path) -> None:
    records = TransactionGenerator(seed=6).generate(5).records
    names = list(records[0])
    rows = [",".join(names)]
    for r in records:
        rows.append(",".join(str(r[n]).lower() if isinstance(r[n], bool) else str(r[n]) for n in names))
    path = tmp_path / "events.csv"
    path.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(app, ["produce", "--stream", "transactions", "--file", str(path)], env=_env(settings))
    assert result.exit_code == 0, result.output
    messages = read_topic(settings, settings.topic("transactions", "events"), 5, timeout_s=30)
    codec = AvroCodec(LocalSchemaStore(), settings.topic("transactions", "events"), "transactions.events")
    assert sorted((codec.decode(m.value() or b"") for m in messages), key=lambda r: r["event_id"]) == sorted(
        records, key=lambda r: r["event_id"]
    )


def test_produce_needs_exactly_one_source(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["produce", "--stream", "transactions"], env=_env(settings))
    assert result.exit_code != 0


def test_rate_holds_sending_back(settings: Settings) -> None:
    started = time.monotonic()
    args = ["produce", "--stream", "transactions", "--synthetic", "300", "--rate", "500", "--no-labels"]
    result = CliRunner().invoke(app, args, env=_env(settings))
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.5  # 300 events at 500/s take at least 0.6 s
    assert "sent 300 events to" in result.output
    assert len(read_topic(settings, settings.topic("transactions", "events"), 300, timeout_s=30)) == 300
    assert read_topic(settings, settings.topic("transactions", "labels"), 0, timeout_s=3) == []


def _file_with_an_oversized_middle_line(tmp_path: Path, padding: str) -> tuple[Path, list[dict[str, object]]]:
    """Nine valid events; line 5 carries ``padding`` in ``stream``, a string field no rule bounds."""
    records = TransactionGenerator(seed=8).generate(9).records
    lines = [json.dumps(r) for r in records]
    lines[4] = json.dumps(records[4] | {"stream": padding})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, records


def _assert_only_line_5_rejected(settings: Settings, path: Path, records: list[dict[str, object]]) -> None:
    result = CliRunner().invoke(app, ["produce", "--stream", "transactions", "--file", str(path)], env=_env(settings))
    assert result.exit_code == 1, result.output
    assert "sent 8 events" in result.output
    assert "rejected 1" in result.output
    assert "line 5: " in result.output
    rejects = [json.loads(x) for x in path.with_name(path.name + ".rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [5]
    assert "too large" in rejects[0]["error"]
    messages = read_topic(settings, settings.topic("transactions", "events"), 8, timeout_s=30)
    batch = EventBatchDecoder(LocalSchemaStore(), "transactions").decode([m.value() or b"" for m in messages])
    assert sorted(batch.event_ids) == sorted(str(r["event_id"]) for i, r in enumerate(records) if i != 4)


def test_a_line_over_the_clients_message_size_is_rejected_and_the_rest_sent(settings: Settings, tmp_path: Path) -> None:
    # librdkafka refuses it in produce() itself: more than message.max.bytes (1,000,000) uncompressed
    path, records = _file_with_an_oversized_middle_line(tmp_path, "x" * 1_100_000)
    _assert_only_line_5_rejected(settings, path, records)


def test_a_line_over_the_topics_message_size_is_rejected_and_the_rest_sent(settings: Settings, tmp_path: Path) -> None:
    # The broker refuses it, and with it every message batched together with it; those are sent again
    topic = settings.topic("transactions", "events")
    admin = AdminClient(settings.kafka_config())
    limit = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "8000", incremental_operation=AlterConfigOpType.SET)])  # fmt: skip
    admin.incremental_alter_configs([limit])[limit].result(timeout=30)
    path, records = _file_with_an_oversized_middle_line(tmp_path, secrets.token_urlsafe(15_000))  # lz4 can't shrink it
    _assert_only_line_5_rejected(settings, path, records)
