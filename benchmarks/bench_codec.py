"""The event codec against plain fastavro, in one run: encode + produce events/s and batch decode records/s.

Baselines: fastavro ``schemaless_writer`` + the 5-byte header + ``Producer.produce`` (no validation, no trace
headers), and fastavro ``schemaless_reader`` per record + ``schemas.features.encode`` into a float32 matrix
(what a per-record scorer does). ``python -m benchmarks.bench_codec``
"""

from __future__ import annotations

import functools
import io
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from fastavro import schemaless_reader, schemaless_writer

from benchmarks.common import Measurement, measure, ratio
from infra.topics import ensure_topics
from schemas.batch import EventBatchDecoder
from schemas.codec import AvroCodec
from schemas.features import encode, load_feature_spec
from schemas.registry import LocalSchemaStore
from schemas.synthetic import TransactionGenerator
from scorecast.producer import PRODUCER_DEFAULTS, AvroProducer
from scorecast.settings import Settings

STREAM = "transactions"
DECODE_BATCH = 2_000


def _rate(n: int, work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return n / (time.perf_counter() - started)


def plain_encode(codec: AvroCodec, records: list[dict[str, Any]]) -> list[bytes]:
    header = struct.pack(">bI", 0, codec.schema_id)
    out = []
    for record in records:
        body = io.BytesIO()
        body.write(header)
        schemaless_writer(body, codec.schema, record)
        out.append(body.getvalue())
    return out


def plain_produce(settings: Settings, topic: str, codec: AvroCodec, records: list[dict[str, Any]]) -> None:
    producer = Producer({**settings.kafka_config(), **PRODUCER_DEFAULTS})
    header = struct.pack(">bI", 0, codec.schema_id)
    for record in records:
        body = io.BytesIO()
        body.write(header)
        schemaless_writer(body, codec.schema, record)
        while True:
            try:
                producer.produce(topic, body.getvalue(), record["entity_id"].encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("baseline producer did not deliver everything")


def sdk_produce(settings: Settings, topic: str, records: list[dict[str, Any]]) -> None:
    finite = frozenset(f.name for f in load_feature_spec(STREAM).features if f.avro_type == "double")
    with AvroProducer(settings, topic, f"{STREAM}.events", "entity_id", finite=finite) as producer:
        for record in records:
            producer.send(record)


def plain_decode(codec: AvroCodec, values: list[bytes]) -> None:
    spec = load_feature_spec(STREAM)
    schema = codec.reader_schema
    for start in range(0, len(values), DECODE_BATCH):
        rows = [schemaless_reader(io.BytesIO(v[5:]), schema, None) for v in values[start : start + DECODE_BATCH]]
        encode(spec, rows)  # type: ignore[arg-type]  # fastavro types a read record as any Avro value


def batch_decode(decoder: EventBatchDecoder, values: list[bytes]) -> None:
    for start in range(0, len(values), DECODE_BATCH):
        decoder.decode(values[start : start + DECODE_BATCH])


def run(settings: Settings, n: int = 100_000, repeats: int = 3) -> list[Measurement]:
    store = LocalSchemaStore()
    topic = f"{settings.topic_prefix}bench.codec.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], partitions=4)
    codec = AvroCodec(store, topic, f"{STREAM}.events")
    decoder = EventBatchDecoder(store, STREAM)
    records = TransactionGenerator(seed=1).generate(n).records
    values = plain_encode(codec, records)
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("encode: fastavro schemaless_writer", "rec/s", lambda: plain_encode(codec, records)),
        ("encode: AvroCodec.encode (validated)", "rec/s", lambda: [codec.encode(r) for r in records]),
        ("encode+produce: fastavro + Producer", "ev/s", lambda: plain_produce(settings, topic, codec, records)),
        ("encode+produce: EventProducer SDK", "ev/s", lambda: sdk_produce(settings, topic, records)),
        ("decode: fastavro schemaless_reader + encode", "rec/s", lambda: plain_decode(codec, values)),
        (f"decode: EventBatchDecoder ({DECODE_BATCH}/batch)", "rec/s", lambda: batch_decode(decoder, values)),
    ]
    try:
        return [measure(name, unit, functools.partial(_rate, n, work), repeats) for name, unit, work in cases]
    finally:
        admin = AdminClient(settings.kafka_config())
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result()


def report(measurements: list[Measurement]) -> list[str]:
    """The measurements, then each SDK figure over its plain-fastavro baseline (pairs: baseline, ours)."""
    lines = [str(m) for m in measurements]
    for base, ours in zip(measurements[::2], measurements[1::2], strict=True):
        lines.append(f"ratio {ours.name.split(':')[0]}: {ratio(ours, base):.2f}x plain fastavro")
    return lines


def main() -> None:
    for line in report(run(Settings())):
        print(line)


if __name__ == "__main__":
    main()
