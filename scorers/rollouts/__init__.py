"""Deployment strategies: canary stages and A/B by a deterministic entity split, guardrails with automatic
rollback, and the controller that advances a rollout (blue-green switches are registry alias flips)."""
