"""Replay: score any range of a stream's events topic with any registered versions, for backtests.

The range is resolved to explicit per-partition offsets (``bounds``, ``ranges``), read with ``assign()`` and
no group commits (``reader``), scored by the one scoring core (``scan``), checkpointed as immutable parts so
an interrupted replay continues (``checkpoint``), joined with late labels (``labels``), merged into a Parquet
file (``results``) and summarised as metrics, calibration and drift (``metrics``, ``report``).
"""
