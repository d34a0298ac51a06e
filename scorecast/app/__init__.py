"""The composition root: the `scorecast` command, its command groups and the demo.

It wires the base layer (the rest of `scorecast`: settings, errors, I/O, process set-up) and the feature
packages (schemas, scorers, streams, shadow, infra, lookup_api) together; none of them imports it
(tests/unit/layering checks that).
"""
