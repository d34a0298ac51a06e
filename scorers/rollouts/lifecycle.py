"""Starting, pausing, resuming and aborting a rollout: the registry's aliases and the rollout row together.

Starting points the canary alias at the candidate (and makes it a challenger, so the shadow path
precomputes it) before the rollout row appears; ending it removes the canary alias first, so the lookup
API stops serving the candidate at the next alias refresh even before the row says so.
"""

from __future__ import annotations

from dataclasses import replace

from scorecast.errors import ScorecastError
from scorers.aliases import AliasAction, single
from scorers.registry import Registry
from scorers.rollouts.spec import RolloutSpec
from scorers.rollouts.status import RolloutStatus
from scorers.rollouts.store import Rollout, RolloutStore, new_rollout

ACTOR = "scorecast-rollout"


class RolloutError(ScorecastError):
    """A rollout command cannot be carried out as asked."""


def start(
    registry: Registry, store: RolloutStore, model: str, candidate: int, spec: RolloutSpec, salt: str, now_ms: int
) -> Rollout:
    current = store.latest(model)
    if current is not None and current.active:
        raise RolloutError(f"{model} already has a {current.status} rollout of v{current.candidate}; abort it first")
    registry.get(model, candidate)
    aliases = registry.aliases(model)
    champion = single(aliases, "champion")
    if champion is None:
        raise RolloutError(f"{model} has no champion to roll out against")
    if champion == candidate:
        raise RolloutError(f"v{candidate} is already the champion of {model}")
    reason = f"{spec.strategy} rollout of v{candidate}"
    if candidate not in aliases.get("challenger", ()):
        registry.set_alias(model, "challenger", candidate, reason=reason, actor=ACTOR)
    registry.set_alias(model, "canary", candidate, reason=reason, actor=ACTOR)
    return store.create(new_rollout(model, candidate, champion, spec, salt, now_ms), now_ms)


def require(store: RolloutStore, model: str) -> Rollout:
    rollout = store.latest(model)
    if rollout is None:
        raise RolloutError(f"{model} has no rollout")
    return rollout


def pause(store: RolloutStore, model: str, reason: str, now_ms: int) -> Rollout:
    r = require(store, model)
    if r.status != RolloutStatus.RUNNING:
        raise RolloutError(f"the rollout of {model} is {r.status}, not running")
    return _change(store, r, replace(r, status=RolloutStatus.PAUSED, reason=reason or "paused"), "pause", now_ms)


def resume(store: RolloutStore, model: str, reason: str, now_ms: int) -> Rollout:
    """The stage's clock restarts: time spent paused (perhaps investigating) does not count toward it."""
    r = require(store, model)
    if r.status != RolloutStatus.PAUSED:
        raise RolloutError(f"the rollout of {model} is {r.status}, not paused")
    after = replace(r, status=RolloutStatus.RUNNING, stage_started_ms=now_ms, reason=reason or "resumed")
    return _change(store, r, after, "resume", now_ms)


def abort(registry: Registry, store: RolloutStore, model: str, reason: str, now_ms: int) -> Rollout:
    r = require(store, model)
    if not r.active:
        raise RolloutError(f"the rollout of {model} is already {r.status}")
    end_canary(registry, r, reason or "rollout aborted", action=AliasAction.UNSET)
    return _change(store, r, replace(r, status=RolloutStatus.ABORTED, reason=reason or "aborted"), "abort", now_ms)


def end_canary(registry: Registry, rollout: Rollout, reason: str, action: AliasAction) -> None:
    if rollout.candidate in registry.aliases(rollout.model).get("canary", ()):
        registry.unset_alias(rollout.model, "canary", rollout.candidate, reason, ACTOR, action=action)


def _change(store: RolloutStore, before: Rollout, after: Rollout, action: str, now_ms: int) -> Rollout:
    if not store.transition(before, after, action, now_ms):
        raise RolloutError(f"the rollout of {before.model} changed meanwhile; look at `rollout status` and retry")
    return after
