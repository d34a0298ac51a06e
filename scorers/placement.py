"""Where a session's nodes actually run, read from ORT's profile of one run.

``session.get_providers()`` lists the providers a session registered, not where its nodes run: a model whose
ops the CUDA provider has no kernel for runs on the CPU provider inside a "CUDA" session (ORT's only word on
it is a warning). The profile of one run names the provider of every node that executed (chrome-trace events
of category ``Node`` with ``args.provider``), after graph optimisation and partitioning, so it is what serves.
Memcpy nodes, which ORT inserts to move tensors between host and device, are counted apart; shape
arithmetic that ORT places on the CPU on purpose (``Shape``, ``Size``) does not count against a GPU session.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CPU = "CPUExecutionProvider"
COPY_OPS = frozenset({"MemcpyFromHost", "MemcpyToHost"})
SHAPE_OPS = frozenset({"Shape", "Size"})
KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class Placement:
    """Nodes per execution provider in one profiled run; host<->device copies and CPU op types apart."""

    nodes: Mapping[str, int] = field(default_factory=dict)
    copies: int = 0
    cpu_ops: tuple[str, ...] = ()  # op types that ran on the CPU (not shape arithmetic), for messages

    @property
    def total(self) -> int:
        return sum(self.nodes.values())

    def share(self, provider: str) -> float:
        """Fraction of the nodes that ran on ``provider`` (0 when nothing ran)."""
        return self.nodes.get(provider, 0) / self.total if self.total else 0.0

    def describe(self) -> str:
        """One line: e.g. ``CUDAExecutionProvider 14/14 nodes, 2 copies``."""
        if not self.total:
            return "no node ran"
        parts = [f"{p} {n}/{self.total} nodes" for p, n in sorted(self.nodes.items(), key=lambda item: -item[1])]
        copies = f", {self.copies} host<->device cop{'y' if self.copies == 1 else 'ies'}" if self.copies else ""
        on_cpu = f" (on CPU: {', '.join(self.cpu_ops)})" if self.cpu_ops and len(self.nodes) > 1 else ""
        return ", ".join(parts) + copies + on_cpu


def parse_profile(events: Iterable[Mapping[str, Any]]) -> Placement:
    """The placement in ORT profile events; a node that ran several times counts once."""
    providers: dict[str, str] = {}
    ops: dict[str, str] = {}
    for event in events:
        name = str(event.get("name", ""))
        args = event.get("args")
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX) or not isinstance(args, Mapping):
            continue
        provider = args.get("provider")
        if not provider:
            continue
        node = name.removesuffix(KERNEL_SUFFIX)
        providers[node] = str(provider)
        ops[node] = str(args.get("op_name", ""))
    nodes: Counter[str] = Counter()
    copies = 0
    cpu_ops: set[str] = set()
    for node, provider in providers.items():
        op = ops[node]
        if op in COPY_OPS:
            copies += 1
        elif not (op in SHAPE_OPS and provider == CPU):
            nodes[provider] += 1
            if provider == CPU:
                cpu_ops.add(op)
    return Placement(dict(nodes), copies, tuple(sorted(cpu_ops)))


def profile_directory() -> str:
    """A new temporary directory for one session's profile (``SessionOptions.profile_file_prefix`` inside it).

    ORT opens the profile file when it constructs the session, before it parses the model, so a load that fails
    leaves a file behind; one directory per session is removed whole, whatever happened (``discard_profile``).
    """
    return tempfile.mkdtemp(prefix="scorecast-placement-")


def discard_profile(directory: str) -> None:
    """Delete a profile directory and whatever ORT wrote there."""
    shutil.rmtree(directory, ignore_errors=True)


def end_profiling(session: Any, directory: str | None = None) -> Placement:
    """Stop the session's profiling and read the profile it wrote; the file (or its ``directory``) is deleted."""
    path = session.end_profiling()
    try:
        with open(path) as file:
            events = json.load(file)
    finally:
        if directory is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            discard_profile(directory)
    return parse_profile(events if isinstance(events, list) else events.get("traceEvents", []))
