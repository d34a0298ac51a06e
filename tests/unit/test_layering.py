"""The layers hold: nothing imports the composition root (scorecast.app), and the base layer imports no feature.

Layers, bottom up: the base (`scorecast` outside `scorecast.app`: settings, errors, I/O, process set-up, the
producer SDK) with the contracts it builds on (`schemas`); the feature packages; the composition root, which
wires them into the `scorecast` command and the demo. Read from the source with `ast`, so an import inside a
function (the lazy ones) or under TYPE_CHECKING counts too, and so does a "module:attribute" string naming the
root (how the CLI names lazily loaded commands).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = "scorecast.app"
FEATURES = ("scorers", "streams", "shadow", "infra", "lookup_api")
PACKAGE_DIRS = {
    "scorecast": ROOT / "scorecast",
    "schemas": ROOT / "schemas",
    **{name: ROOT / name for name in FEATURES if name != "lookup_api"},
    "lookup_api": ROOT / "lookup-api" / "lookup_api",
}


def module_name(path: Path) -> str:
    for package, folder in PACKAGE_DIRS.items():
        if path.is_relative_to(folder):
            parts = (package, *path.relative_to(folder).with_suffix("").parts)
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def source_files(package: str) -> list[Path]:
    return sorted(PACKAGE_DIRS[package].rglob("*.py"))


def is_root(path: Path) -> bool:
    # `python -m scorecast` runs scorecast/__main__.py; nothing imports it, so it is an entry point like the CLI
    name = module_name(path)
    return name == "scorecast.__main__" or within(name, COMPOSITION_ROOT)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imported_modules(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in a module's source, relative ones resolved, `from a import b` as a
    and a.b."""
    here = module.split(".")
    package = here if is_package else here[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "module:attribute" (lazy commands) or a dotted name handed to importlib
            target = node.value.partition(":")[0]
            if within(target, COMPOSITION_ROOT):
                yield node.lineno, target


def violations(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for package in packages:
        for path in source_files(package):
            if is_root(path):
                continue
            source = path.read_text()
            for line, module in imported_modules(source, module_name(path), path.name == "__init__.py"):
                if any(within(module, name) for name in forbidden):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_the_source_tree_is_what_this_test_reads() -> None:
    # a moved package must not turn this test into one that reads nothing
    for package in PACKAGE_DIRS:
        assert source_files(package), package
    assert any(is_root(path) for path in source_files("scorecast"))
    assert module_name(ROOT / "scorecast" / "app" / "cli.py") == "scorecast.app.cli"


@pytest.mark.parametrize("package", ["scorecast", "schemas", *FEATURES])
def test_nothing_below_the_composition_root_imports_it(package: str) -> None:
    assert violations((package,), (COMPOSITION_ROOT,)) == []


def test_the_base_layer_imports_no_feature_package() -> None:
    # the base may build on the contracts (schemas), never on what is built on it
    assert violations(("scorecast", "schemas"), FEATURES) == []


def test_a_violation_is_found() -> None:
    """The reader sees the forms an import of the root can take, so the tests above can fail."""
    lines = (
        "from scorecast.app.cli import main",
        "import scorecast.app.demo",
        "from scorecast import app",
        "from .. import app",
        "def f():\n    from scorecast.app import produce_cli",
        "COMMANDS = {'x': 'scorecast.app.cli:worker_app'}",
    )
    for line in lines:
        found = [name for _, name in imported_modules(line, "scorecast.io.sample") if within(name, COMPOSITION_ROOT)]
        assert found, line
    lookalike = imported_modules("from scorecast import application", "scorers.sample")
    assert not [name for _, name in lookalike if within(name, COMPOSITION_ROOT)]


# The demo's stream and model. Commands may default to them (a user runs the demo first); library code may not,
# or a caller that forgets an argument silently reads or writes the demo's topics and tables.
DEMO_NAMES = frozenset({"transactions", "fraud"})
# modules of the demo domain itself: the synthetic stream and the example models trained on it
DEMO_DOMAIN = frozenset({"schemas.synthetic", "scorers.training"})


def is_command_module(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ("cli", "worker_cli") or within(name, COMPOSITION_ROOT)


def demo_defaults(source: str) -> Iterator[tuple[int, str]]:
    """(line, name) of each parameter or class field whose default is a demo name, written out or through a
    module-level constant."""
    tree = ast.parse(source)
    constants = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Constant)
        and node.value.value in DEMO_NAMES
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        defaults: list[tuple[str, ast.expr | None]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            paired = zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True)
            defaults += [(a.arg, d) for a, d in paired]
            defaults += [(a.arg, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    defaults.append((item.target.id, item.value))
        for name, default in defaults:
            if (isinstance(default, ast.Constant) and default.value in DEMO_NAMES) or (
                isinstance(default, ast.Name) and default.id in constants
            ):
                yield default.lineno, name


def test_library_code_has_no_demo_names_as_defaults() -> None:
    found = []
    for package in ("scorecast", "schemas", *FEATURES):
        for path in source_files(package):
            name = module_name(path)
            if is_command_module(name) or name in DEMO_DOMAIN or is_root(path):
                continue
            found += [f"{name}:{line} {param}" for line, param in demo_defaults(path.read_text())]
    assert found == []


def test_a_demo_default_is_found() -> None:
    source = (
        "MODEL = 'fraud'\n"
        "def f(stream: str = 'transactions', *, model='fraud', name=MODEL, other=OTHER): ...\n"
        "class Config:\n    model: str = 'fraud'\n    other: str = 'x'\n"
    )
    assert sorted(name for _, name in demo_defaults(source)) == ["model", "model", "name", "stream"]
