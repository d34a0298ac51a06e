"""Raw Kafka consume rate: confluent-kafka ``consume(num_messages)`` against faust-streaming ``take()``.

This is the measurement behind the scorer's transport choice (ARCHITECTURE.md): the same topic, the same
messages, each client draining it from the beginning in its own consumer group. faust-streaming is the
``faust`` extra (in ``dev``, so ``make bench`` has it); without it only confluent-kafka is measured.
Beside it, the replay reader's range read (``assign()`` + ``read_range``) of the same topic, per CPU-second of
the process and librdkafka's threads, with its own consumer settings and with librdkafka tuned for a bulk drain
(larger fetches and prefetch queue, shorter fetch waits, larger batches): whether the tuning pays.
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing
import os
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.common import Measurement, measure, ratio
from infra.topics import ensure_topics
from scorecast.io.read_policy import take_batch
from scorecast.io.reader import Span, read_range
from scorecast.settings import Settings
from scorers.replay.reader import replay_consumer

MESSAGE = os.urandom(180)  # about one Avro-encoded transaction event


def fill_topic(settings: Settings, topic: str, n: int) -> None:
    ensure_topics(settings, [topic], partitions=4)
    producer = Producer({**settings.kafka_config(), "linger.ms": 20, "batch.num.messages": 10000})
    for i in range(n):
        while True:
            try:
                producer.produce(topic, key=str(i % 5000).encode(), value=MESSAGE)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def confluent_rate(settings: Settings, topic: str, n: int, batch: int = 2000) -> float:
    consumer = Consumer(
        {**settings.kafka_config(), "group.id": f"bench-{uuid.uuid4()}", "auto.offset.reset": "earliest",
         "enable.auto.commit": False,
         # librdkafka pauses fetching 1 s once its prefetch queue is full, far longer than this drain takes
         # to empty it: the replay reader's setting
         "fetch.queue.backoff.ms": 20}
    )  # fmt: skip
    consumer.subscribe([topic])
    seen = 0
    started = None
    deadline = time.monotonic() + 120
    while seen < n and time.monotonic() < deadline:
        messages = take_batch(consumer, batch, 0.5)  # as the scorer takes them
        if messages and started is None:
            started = time.perf_counter()
        seen += sum(1 for m in messages if m.error() is None)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return seen / elapsed if elapsed > 0 else 0.0


# librdkafka settings for a bulk drain, against the replay reader's own (scorers.replay.reader.replay_consumer)
BULK_DRAIN: dict[str, Any] = {
    "max.partition.fetch.bytes": 16 << 20,
    "queued.max.messages.kbytes": 262144,
    "queued.min.messages": 1_000_000,
    "fetch.wait.max.ms": 10,
}
RANGE_READS: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("replay reader settings, batch 4000", {}, 4000),
    ("bulk-drain tuning, batch 4000", BULK_DRAIN, 4000),
    ("bulk-drain tuning, batch 20000", BULK_DRAIN, 20000),
)


def range_read_cpu_rate(settings: Settings, topic: str, tuning: dict[str, Any], batch: int) -> float:
    """Records per CPU-second (this process, librdkafka's threads included) of one range read of the topic."""
    consumer = replay_consumer(settings, tuning)
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(4)]
        spans = [Span(p, 0, end) for p, end in enumerate(ends)]
        seen = 0
        cpu = time.process_time()
        for read in read_range(consumer, topic, spans, batch=batch):
            values = [m.value() for m in read.messages]  # as the replay reader takes them
            seen += len(values)
        return seen / (time.process_time() - cpu)
    finally:
        consumer.close()


def faust_rate(settings: Settings, topic: str, n: int, batch: int = 2000, timeout_s: float = 180) -> float:
    """faust-streaming's drain rate, measured in a child process: faust's shutdown can hang on tasks that never
    finish cancelling, so the child reports its rate on a queue the moment it is known and is then killed."""
    context = multiprocessing.get_context("spawn")
    rates: multiprocessing.Queue[float] = context.Queue()
    child = context.Process(target=_faust_drain, args=(settings, topic, n, batch, rates), daemon=True)
    child.start()
    try:
        return rates.get(timeout=timeout_s)
    finally:
        child.kill()
        child.join(10)


def _faust_drain(settings: Settings, topic: str, n: int, batch: int, rates: multiprocessing.Queue[float]) -> None:
    import faust

    app = faust.App(
        f"bench-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
    )
    source = app.topic(topic, value_type=bytes, value_serializer="raw")
    state = {"seen": 0, "started": 0.0}

    @app.agent(source)
    async def drain(stream: faust.StreamT[bytes]) -> None:
        async for values in stream.take(batch, within=0.05):
            if not state["started"]:
                state["started"] = time.perf_counter()
            state["seen"] += len(values)
            if state["seen"] >= n:
                rates.put(state["seen"] / (time.perf_counter() - state["started"]))

    async def run() -> None:
        await app.start()
        await asyncio.sleep(3600)  # killed by the parent once the rate is known

    asyncio.run(run())


def run(settings: Settings, n: int = 200_000, repeats: int = 3) -> list[Measurement]:
    """confluent-kafka drains 5n messages (n takes it ~0.2 s: one fetch hiccup would be the figure), faust the
    first n of the same topic."""
    topic = f"bench.consume.{uuid.uuid4().hex[:8]}"
    fill_topic(settings, topic, 5 * n)
    measurements = [
        measure(
            CONFLUENT,
            "msg/s",
            lambda: confluent_rate(settings, topic, 5 * n),
            repeats,
        )
    ]
    for name, tuning, batch in RANGE_READS:
        rates = [range_read_cpu_rate(settings, topic, tuning, batch) for _ in range(repeats)]
        measurements.append(Measurement.of(f"kafka range read: {name} (per CPU-second)", "msg/CPU-s", rates))
    if faust_installed():
        measurements.append(measure(FAUST, "msg/s", lambda: faust_rate(settings, topic, n), repeats))
    return measurements


CONFLUENT = "kafka consume: confluent-kafka consume(2000)"
FAUST = "kafka consume: faust-streaming take(2000)"


def report(measurements: list[Measurement]) -> list[str]:
    """The ratios behind the two choices: confluent-kafka over faust-streaming (the scorer's transport), each
    range-read tuning over the replay reader's own settings (whether bulk-drain tuning pays)."""
    by_name = {m.name: m for m in measurements}
    lines = []
    if CONFLUENT in by_name and FAUST in by_name:
        lines.append(f"confluent-kafka / faust-streaming: {ratio(by_name[CONFLUENT], by_name[FAUST]):.1f}x")
    range_reads = [m for m in measurements if m.name.startswith("kafka range read: ")]
    if range_reads:
        baseline = range_reads[0]
        lines += [
            f"range read per CPU-second, {_tuning(m)} / {_tuning(baseline)}: {ratio(m, baseline):.2f}x"
            for m in range_reads[1:]
        ]
    return lines


def _tuning(measurement: Measurement) -> str:
    return measurement.name.removeprefix("kafka range read: ").removesuffix(" (per CPU-second)")


def faust_installed() -> bool:
    return importlib.util.find_spec("faust") is not None


def main() -> None:
    """``python -m benchmarks.bench_consume [n]``: this section alone (the topic holds 5n messages)."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    for result in run(Settings(), n=n):
        print(result)


if __name__ == "__main__":
    main()
