"""Reading a replay's labels: the label window resolved once (pinned in the manifest), then read and decoded
in a thread beside the scan (labels do not depend on scores) and kept in the checkpoint; with a label cache,
only the spans it does not hold yet are read from Kafka, and then added to it."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from schemas.registry import open_store
from scorecast.settings import Settings
from scorers.replay.checkpoint import Checkpoint, Manifest
from scorers.replay.errors import ReplayError, ReplayInterruptedError
from scorers.replay.label_cache import LabelCache, topic_identity
from scorers.replay.labels import LabelColumns, LabelDecoder, label_ranges
from scorers.replay.progress import ProgressSink
from scorers.replay.ranges import PartitionRange, ReplayRange
from scorers.replay.reader import KafkaTopicView, RangeReader


def label_window(
    settings: Settings, stream: str, replay: ReplayRange, horizon_ms: int
) -> tuple[PartitionRange, ...] | None:
    try:
        view = KafkaTopicView(settings, settings.topic(stream, "labels"))
    except ReplayError:
        return None  # a stream without a labels topic: metrics need labels, scores and drift do not
    try:
        return label_ranges(view, replay.start_ms, replay.end_ms + horizon_ms)
    finally:
        view.close()


class LabelFetch(threading.Thread):
    """Reads and decodes the label window beside the scan (labels do not depend on scores), into the checkpoint."""

    def __init__(
        self, settings: Settings, stream: str, manifest: Manifest, checkpoint: Checkpoint, progress: ProgressSink,
        stop: threading.Event, cache: Path | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="replay-labels", daemon=True)
        self._settings = settings
        self._topic = settings.topic(stream, "labels")
        self._ranges = manifest.labels or ()
        self._checkpoint = checkpoint
        self._cache_root = cache
        self._progress = progress
        self._halt = stop
        self._cancelled = threading.Event()
        self._result: tuple[pa.Table, int] | None = checkpoint.labels()
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._result = self._read()
        except BaseException as error:  # handed to the caller of result(): a thread cannot raise to it
            self._error = error

    def _read(self) -> tuple[pa.Table, int] | None:
        columns = LabelColumns()
        cache = self._cache()
        gaps = list(self._ranges)
        if cache is not None:
            cached, gaps = cache.lookup(self._ranges)
            for rows in cached:
                columns.add(rows)
        advance = self._progress.phase("labels", sum(r.events for r in self._ranges))
        advance(sum(r.events for r in self._ranges) - sum(r.events for r in gaps))
        decoder = LabelDecoder(open_store(self._settings), self._topic)
        while gaps:  # a round reads at most one span per partition
            spans = {g.partition: g for g in reversed(gaps)}
            gaps = [g for g in gaps if spans[g.partition] is not g]
            fresh = LabelColumns()
            at = {r.partition: r.start for r in spans.values()}
            for raw in RangeReader(self._settings, self._topic, tuple(spans.values()), batch=20_000):
                fresh.add(decoder.rows(raw.values, raw.partitions, raw.offsets))
                advance(sum(n - at[p] for p, n in raw.advanced.items()))
                at.update(raw.advanced)
                if self._halt.is_set() or self._cancelled.is_set():
                    return None
            rows = fresh.rows()
            for span in spans.values():
                mine = rows.filter(pc.equal(rows.column("partition"), span.partition))
                if cache is not None and span.events:
                    cache.store(span, mine)
                columns.add(mine)
        table = columns.table()
        self._checkpoint.save_labels(table, columns.unreadable)
        return table, columns.unreadable

    def _cache(self) -> LabelCache | None:
        if self._cache_root is None or not self._ranges:
            return None
        identity = topic_identity(self._settings, self._topic)
        return None if identity is None else LabelCache(self._cache_root, identity[0], self._topic, identity[1])

    def begin(self) -> LabelFetch:
        if self._result is None:  # else a previous run of this replay read them already
            self.start()
        return self

    def cancel(self) -> None:
        """Stop reading at the next batch and wait: nothing may write to the checkpoint after a replay returns."""
        self._cancelled.set()
        if self.is_alive():
            self.join()

    def result(self) -> tuple[pa.Table, int]:
        if self.is_alive():
            self.join()
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise ReplayInterruptedError("interrupted while reading labels; rerun the same command to continue")
        return self._result
