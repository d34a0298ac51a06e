"""`scorecast produce`: events from a JSONL/CSV file or from the synthetic generator to a stream's topics.

Every record is validated before it is sent; a rejected record is reported with its line number and written
to the reject file, never skipped silently, and any rejection makes the command exit 1. A record Kafka
refuses for good (over the client's or the topic's message size) is rejected the same way, with Kafka's reason.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.errors import RecordValidationError, SchemaError
from schemas.registry import load_schema_file, schema_name
from schemas.sources import SourceLine, read_records
from schemas.synthetic import DriftConfig, TransactionGenerator, label_records
from scorecast.errors import ConfigError, PermanentError
from scorecast.producer import DeliveryError, EventProducer, LabelProducer
from scorecast.settings import Settings
from scorecast.telemetry import configure

SYNTHETIC_STREAMS = ("transactions",)
_CHUNK = 5_000


@dataclass
class ProduceResult:
    topic: str
    sent: int = 0
    labels: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"line", "error", "fields", "raw"}
    rejects_path: Path | None = None


class _Pacer:
    """Holds sending to ``rate`` events per second on average (no limit when rate is None)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start = time.monotonic()

    def wait(self, sent: int) -> None:
        if self.rate:
            ahead = sent / self.rate - (time.monotonic() - self.start)
            if ahead > 0:
                time.sleep(ahead)


def produce_file(
    settings: Settings,
    stream: str,
    *,
    path: Path,
    rejects: Path | None = None,
    rate: float | None = None,
    progress: bool = False,
) -> ProduceResult:
    schema = load_schema_file(schema_name(stream, "events"))
    rejects = rejects or path.with_name(path.name + ".rejects.jsonl")
    lines = list(read_records(path, schema))
    result = ProduceResult(settings.topic(stream, "events"), rejects_path=rejects)
    pacer = _Pacer(rate)
    # every refusal is kept, so each refused line is found again (a line is refused at most ~log2(n) times)
    kept = max(1_000, 64 * len(lines))
    try:
        producer = EventProducer(settings, stream, max_kept_failures=kept)
        producer.probe()  # an unreachable cluster is one error now, not a minute of retries
        with producer, _bar(progress, len(lines), "events") as advance:
            failed_before = producer.report.failed
            for line in lines:
                _send(producer, line, result)
                advance(1)
                if rate:
                    pacer.wait(result.sent)
            refused = _refused(producer, failed_before)
            result.sent -= len(refused)
            _send_again(producer, refused, result)
    finally:  # what was rejected before an error ended the run is still reported
        result.rejected.sort(key=lambda reject: reject["line"])
        _write_rejects(rejects, result.rejected)
    return result


def _send(producer: EventProducer, line: SourceLine, result: ProduceResult) -> None:
    if line.record is None:
        _reject(result, line, line.error)
        return
    try:
        producer.send(line.record, tag=line)
    except RecordValidationError as error:
        _reject(result, line, str(error), error.fields)
        return
    except PermanentError as error:  # Kafka refused it outright, e.g. over the client's message.max.bytes
        _reject(result, line, str(error))
        return
    result.sent += 1


def _reject(result: ProduceResult, line: SourceLine, error: str, fields: list[str] | None = None) -> None:
    result.rejected.append({"line": line.line, "error": error, "fields": fields or [], "raw": line.raw})


def _refused(producer: EventProducer, failed_before: int) -> list[tuple[SourceLine, str]]:
    """Flush; the lines Kafka refused for good with the reason. Any other failure raises the DeliveryError."""
    try:
        producer.flush()
    except DeliveryError as error:
        failed = producer.report.failed - failed_before
        refused = [(f.tag, f.reason) for f in error.permanent if isinstance(f.tag, SourceLine)]
        if len(refused) != failed:  # a retryable failure, or one we cannot trace back to its line
            raise
        return refused
    return []


def _send_again(producer: EventProducer, refused: list[tuple[SourceLine, str]], result: ProduceResult) -> None:
    """Send refused lines again, in halves, until every line still refused was refused alone: the broker
    refuses a whole batch for one message over the topic's max.message.bytes, batch-mates included."""
    groups = [refused] if refused else []
    while groups:
        group = groups.pop()
        if len(group) == 1:  # refused with no batch-mate refused beside it: it is the culprit
            line, reason = group[0]
            _reject(result, line, f"Kafka refused it: {reason}")
            continue
        middle = len(group) // 2
        for half in (group[:middle], group[middle:]):
            failed_before = producer.report.failed
            for line, _ in half:
                assert line.record is not None  # only lines that were sent can be refused
                producer.send(line.record, tag=line)
            again = _refused(producer, failed_before)
            result.sent += len(half) - len(again)
            if again:
                groups.append(again)


def produce_synthetic(
    settings: Settings,
    stream: str,
    *,
    count: int,
    seed: int = 0,
    rate: float | None = None,
    labels: bool = True,
    progress: bool = False,
    start_ms: int | None = None,
    drift: DriftConfig | None = None,
) -> ProduceResult:
    """``count`` synthetic events (and their labels, label_time = event_time + delay): paced ones start now, unpaced
    ones end about now, so that no event time lies beyond the allowed clock skew (schemas.rules). ``drift``: the
    data and concept drift to inject (event indexes count from this call's first event)."""
    if stream not in SYNTHETIC_STREAMS:
        raise SchemaError(f"synthetic data exists for {', '.join(SYNTHETIC_STREAMS)} only, not {stream!r}")
    events_per_s = rate or 200.0
    start = start_ms if start_ms is not None else int((time.time() - (0 if rate else count / events_per_s)) * 1000)
    generator = TransactionGenerator(seed=seed, start_ms=start, events_per_s=events_per_s, drift=drift)
    result = ProduceResult(settings.topic(stream, "events"))
    pacer = _Pacer(rate)
    label_sink = LabelProducer(settings, stream) if labels else nullcontext()
    producer = EventProducer(settings, stream)
    producer.probe()  # an unreachable cluster is one error now, not a minute of retries
    with (
        producer,
        label_sink as label_producer,
        _bar(progress, count, "events") as advance,
    ):
        for size in _chunks(count):
            batch = generator.generate(size)
            for record in batch.records:
                producer.send(record)
                result.sent += 1
                if rate and result.sent % 50 == 0:
                    pacer.wait(result.sent)
            if isinstance(label_producer, LabelProducer):
                for label in label_records(batch):
                    label_producer.send(label)
                result.labels += len(batch)
            advance(size)
    return result


def _chunks(count: int) -> Iterator[int]:
    for start in range(0, count, _CHUNK):
        yield min(_CHUNK, count - start)


@contextmanager
def _bar(enabled: bool, total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar when wanted; yields ``advance(n)``."""
    columns = (TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not enabled, console=Console(stderr=True)) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _write_rejects(path: Path, rejected: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for reject in rejected:
            out.write(json.dumps(reject) + "\n")


def produce(
    *,
    stream: Annotated[str, typer.Option(help="stream name, e.g. transactions")],
    file: Annotated[Path | None, typer.Option(help="events as .jsonl or .csv")] = None,
    synthetic: Annotated[int | None, typer.Option(help="generate this many synthetic events instead", min=1)] = None,
    rate: Annotated[
        float | None, typer.Option(help="events per second (default: as fast as possible)", min=0.001)
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the synthetic generator")] = 0,
    labels: Annotated[bool, typer.Option(help="with --synthetic, also send labels to the labels topic")] = True,
    drift_at: Annotated[
        int | None, typer.Option(help="with --synthetic: event index from which the --shift features move", min=0)
    ] = None,
    shift: Annotated[
        list[str] | None,
        typer.Option(help="feature=standard deviations moved from --drift-at (repeatable; default amount=1)"),
    ] = None,
    concept_drift_at: Annotated[
        int | None, typer.Option(help="with --synthetic: event index from which the fraud truth changes", min=0)
    ] = None,
    rejects: Annotated[Path | None, typer.Option(help="reject file (default: <file>.rejects.jsonl)")] = None,
) -> None:
    """Send events to <stream>.events, validated against the stream's schema; rejects are listed and exit 1."""
    if (file is None) == (synthetic is None):
        raise SchemaError("give exactly one of --file and --synthetic")
    if synthetic is None and (drift_at is not None or shift or concept_drift_at is not None):
        raise ConfigError("--drift-at, --shift and --concept-drift-at need --synthetic")
    if shift and drift_at is None:
        raise ConfigError("--shift needs --drift-at: the event index from which the features move")
    try:
        drift = DriftConfig.of(drift_at, shift or (), concept_drift_at)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    configure("scorecast-producer")  # OTEL_TRACES_EXPORTER set: each event's trace starts with its send span
    settings = Settings()
    if synthetic is not None:
        result = produce_synthetic(
            settings, stream, count=synthetic, seed=seed, rate=rate, labels=labels, progress=True, drift=drift
        )
    else:
        assert file is not None
        result = produce_file(settings, stream, path=file, rejects=rejects, rate=rate, progress=True)
    label_note = f" and {result.labels} labels" if result.labels else ""
    print(f"sent {result.sent} events{label_note} to {result.topic}; rejected {len(result.rejected)}")
    if result.rejected:
        for reject in result.rejected[:20]:
            print(f"line {reject['line']}: {reject['error']}", file=sys.stderr)
        if len(result.rejected) > 20:
            print(f"... and {len(result.rejected) - 20} more", file=sys.stderr)
        print(f"rejected records written to {result.rejects_path}", file=sys.stderr)
        raise typer.Exit(1)
