"""Typer groups whose sub-commands are imported on first use, so running one command imports only its module.

The click pattern ("Lazily Loading Subcommands") on typer: the group's command mapping holds "module:attribute"
targets until a command is looked up. Listing names (typer's "did you mean") imports nothing; --help imports all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup
from typer.main import get_group

if TYPE_CHECKING:
    # typer vendors click; its Command and Context have no public names
    from typer._click import Command, Context


def lazy_group(commands: Mapping[str, str]) -> type[TyperGroup]:
    """A group class for `typer.Typer(cls=...)`: `commands` maps each name to "module:attribute", where the
    attribute is a `typer.Typer` (a sub-group, as `add_typer` makes it) or a command function."""

    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = _LazyCommands(commands, self.commands)

        def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
            # not Mapping.get: a KeyError raised while importing a command must not read as "No such command"
            return self.commands[cmd_name] if cmd_name in self.commands else None  # noqa: SIM401

    return LazyGroup


class _LazyCommands(MutableMapping[str, "Command"]):
    """Commands by name, in order; a "module:attribute" string is imported and replaced on first look-up."""

    def __init__(self, lazy: Mapping[str, str], loaded: Mapping[str, Command]) -> None:
        self._commands: dict[str, Command | str] = {**lazy, **loaded}

    def __getitem__(self, name: str) -> Command:
        command = self._commands[name]
        if isinstance(command, str):
            command = self._commands[name] = _load(name, command)
        return command

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def __setitem__(self, name: str, command: Command) -> None:
        self._commands[name] = command

    def __delitem__(self, name: str) -> None:
        del self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


def _load(name: str, target: str) -> Command:
    module, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module), attribute)
    # converted as an eager app would: add_typer keeps a one-command Typer a group, with this name
    holder = typer.Typer()
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
    else:
        holder.command(name)(obj)
    return get_group(holder).commands[name]
