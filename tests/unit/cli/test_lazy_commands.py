"""The `scorecast` command loads sub-commands lazily: running one imports its own module, not every area's."""

from __future__ import annotations

import re
import subprocess
import sys

from typer.testing import CliRunner

from scorecast.app.cli import app

COMMANDS = (
    *("infra", "models", "api", "api-keys", "schemas", "produce", "replay", "worker"),
    *("signals", "shadow", "rollout", "init", "demo"),
)
WORKERS = ("score", "drift", "promotion", "shadow-tee", "challengers", "shadow-join", "rollout")
CLI_MODULES = {
    *("infra.cli", "scorers.cli", "lookup_api.cli", "schemas.cli", "scorecast.app.produce_cli", "scorers.replay.cli"),
    *("scorers.worker_cli", "streams.cli", "shadow.worker_cli", "shadow.cli", "scorers.rollouts.cli"),
}


def python(code: str) -> subprocess.CompletedProcess[str]:
    """A clean interpreter: this process has imported everything already."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_a_worker_imports_its_own_module_only() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from scorecast.app.cli import app\n"
        "result = CliRunner().invoke(app, ['worker', 'score', '--help'])\n"
        "assert result.exit_code == 0 and '--batch-max' in result.output, result.output\n"
        "print(*sys.modules)\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    modules = set(result.stdout.split())
    assert "scipy" not in modules
    assert modules & CLI_MODULES == {"scorers.worker_cli"}


def test_help_lists_every_command_with_its_help() -> None:
    for args, names in (([], COMMANDS), (["worker"], WORKERS)):
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        for name in names:
            assert re.search(rf"^\W*{re.escape(name)}  +\w", result.output, re.MULTILINE), (name, result.output)


def test_an_error_in_a_lazily_loaded_command_ends_as_one_line() -> None:
    result = python(
        "import sys; sys.argv = ['scorecast', 'produce', '--stream', 'transactions']\n"
        "from scorecast.app.cli import main; main()"
    )
    assert result.returncode == 1
    assert result.stderr == "error: give exactly one of --file and --synthetic\n"


def test_one_shot_commands_import_no_scipy() -> None:
    # scipy is ~1 s of CPU to import: on a busy two-core machine signals show and rollout status took 2-6 s to
    # fail on a bad setting (the fail-fast bound is 10 s). Only the workers that test statistics need it.
    commands = (["signals", "show"], ["rollout", "status"], ["models", "list"], ["shadow", "report"], ["replay"])
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from scorecast.app.cli import app\n"
        f"for command in {commands!r}:\n"
        "    result = CliRunner().invoke(app, [*command, '--help'])\n"
        "    assert result.exit_code == 0, result.output\n"
        "    print(*command, 'scipy' in sys.modules)\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.endswith("True")] == []
