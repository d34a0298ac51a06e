"""The tee on real Kafka: a sampled share of entities, copied with key, value, timestamp and headers, once."""

from __future__ import annotations

from opentelemetry import trace

from schemas.dead_letters import header_pairs
from scorecast.app.produce_cli import produce_synthetic
from scorecast.settings import Settings
from scorecast.telemetry import configure
from shadow.sampling import EntitySampler
from shadow.tee import PRODUCED_HEADER, SOURCE_HEADER
from tests.integration.shadow.conftest import Spawn, finish, read_topic


def test_the_tee_copies_the_sampled_entities_unchanged_and_only_once(settings: Settings, spawn: Spawn) -> None:
    configure("test-shadow-tee")
    with trace.get_tracer("test").start_as_current_span("produce"):  # events carry W3C trace context
        produce_synthetic(settings, "transactions", count=6_000, seed=17, labels=False)
    out = " ".join(finish(spawn("shadow-tee", "--sample", "0.25", "--idle-exit", "5")).split())
    events = read_topic(settings, settings.topic("transactions", "events"))
    sampler = EntitySampler(0.25)
    kept = [m for m in events if sampler.keeps(m.key() or b"")]
    assert f"copied {len(kept)} of 6000 events" in out
    assert 0.15 < len({m.key() for m in kept}) / len({m.key() for m in events}) < 0.35

    copies = {
        dict(header_pairs(m))[SOURCE_HEADER]: m for m in read_topic(settings, settings.topic("transactions", "shadow"))
    }
    assert len(copies) == len(kept)
    for original in kept:
        copy = copies[b"%d:%d" % (original.partition() or 0, original.offset() or 0)]
        assert (copy.key(), copy.value(), copy.timestamp()) == (original.key(), original.value(), original.timestamp())
        headers, before = header_pairs(copy), header_pairs(original)
        assert headers[: len(before)] == before  # the original headers, trace context included, come first
        assert any(k == "traceparent" for k, _ in headers)
        assert dict(headers)[PRODUCED_HEADER] == b"%d" % original.timestamp()[1]

    # Restarted, the tee resumes after its last commit: nothing is copied twice.
    again = " ".join(finish(spawn("shadow-tee", "--sample", "0.25", "--idle-exit", "5")).split())
    assert "copied 0 of 0 events" in again
    assert len(read_topic(settings, settings.topic("transactions", "shadow"))) == len(kept)
