"""A small Dockerfile reader for the image checks (no Docker engine here, and no linter installs from the
registries): instructions with their continuation lines joined, grouped into build stages, ARG defaults
substituted into FROM lines."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, USER, ENTRYPOINT, ...
    value: str  # the rest of the instruction, continuation lines joined

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD, or None for the shell form."""
        if not self.value.startswith("["):
            return None
        parsed = json.loads(self.value)
        return [str(item) for item in parsed]


@dataclass
class Stage:
    base: str  # the FROM image with ARG defaults substituted
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue  # comments and parser directives; a comment inside a continuation is dropped below
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, value = whole.partition(" ")
            result.append(Instruction(keyword.upper(), value.strip()))
    if pending:
        raise ValueError("Dockerfile ends inside a continuation line")
    return result


def stages(path: Path) -> list[Stage]:
    """The build stages in order; global ARGs (before the first FROM) give FROM's defaults."""
    defaults: dict[str, str] = {}
    result: list[Stage] = []
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "ARG" and not result:
            name, _, default = instruction.value.partition("=")
            defaults[name] = default
        elif instruction.keyword == "FROM":
            words = instruction.value.split()
            image = _VARIABLE.sub(lambda m: defaults.get(m.group(1) or m.group(2), m.group(0)), words[0])
            result.append(Stage(image, words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif result:
            result[-1].instructions.append(instruction)
        else:
            raise ValueError(f"{instruction.keyword} before the first FROM")
    return result


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``repo:tag``), None when it has none (a registry port is no tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None
