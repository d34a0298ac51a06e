"""Library entry points name no demo stream or model by default: a caller that forgets one is told, rather
than silently registering against (or watching) the demo's "transactions" stream. CLI options may default."""

from __future__ import annotations

import dataclasses
import inspect

from scorers.registry import Registry
from scorers.rollouts.controller import ControllerConfig


def test_registering_a_model_needs_its_stream() -> None:
    assert inspect.signature(Registry.register).parameters["stream"].default is inspect.Parameter.empty


def test_the_rollout_controller_needs_its_model_and_stream() -> None:
    fields = {f.name: f for f in dataclasses.fields(ControllerConfig)}
    for name in ("model", "stream"):
        assert fields[name].default is dataclasses.MISSING, name
