"""Replay: score any range of a stream's events topic with any registered versions, for backtests.

``bounds`` parses --from/--to; ``ranges`` resolves them to per-partition offsets and refuses bad ranges;
``reader`` reads exactly those offsets with ``assign()`` and no group commits; ``versions`` pins the versions;
``scan`` scores batches through the one scoring core into checkpoint parts (``checkpoint``), in one process or
several (``parallel``); ``label_fetch``/``labels`` read and join late labels within a horizon; ``results``
merges the parts into Parquet; ``metrics``/``findings`` compute the backtest; ``report`` and ``cli`` show it.
"""
