"""The Dockerfile, read without a Docker engine: a CPU image (the default target) and a GPU image on NVIDIA's
CUDA runtime, both non-root with the one `scorecast` entrypoint, base images pinned, and a wheel stage that
copies every package the wheel ships."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy.dockerfile import Stage, image_tag, instructions, stages

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
IMAGES = ("cpu", "gpu")  # the stages people build; the others only feed them


def _stages() -> dict[str, Stage]:
    return {s.name or f"#{i}": s for i, s in enumerate(stages(DOCKERFILE))}


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _installed_extras(stage: Stage) -> set[str]:
    """The extras of the scorecast wheel that a stage's RUN lines install (``scorecast-*.whl)[a,b]``)."""
    found = re.findall(r"scorecast-\*\.whl\)\[([a-z,-]+)\]", " ".join(i.value for i in stage.all("RUN")))
    assert found, "the stage installs no scorecast wheel"
    return {extra for group in found for extra in group.split(",")}


def test_stages_are_wheel_cpu_and_gpu_with_cpu_the_default_target() -> None:
    parsed = stages(DOCKERFILE)
    assert [s.name for s in parsed] == ["wheel", "cpu-venv", "gpu", "cpu"]
    assert parsed[-1].name == "cpu"  # `docker build .` without --target builds the last stage


@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_as_a_numeric_non_root_user(image: str) -> None:
    user = _stages()[image].last("USER")
    assert user is not None, f"{image} runs as root"
    uid = user.value.split(":", 1)[0]
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert int(uid) != 0


@pytest.mark.parametrize("image", IMAGES)
def test_image_has_the_one_scorecast_entrypoint(image: str) -> None:
    entrypoint = _stages()[image].last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.exec_form() == ["scorecast"], "exec form, so SIGTERM reaches scorecast (graceful stop)"
    scripts = _pyproject()["project"]
    assert isinstance(scripts, dict)
    assert "scorecast" in scripts["scripts"]


def test_every_base_image_is_pinned_by_a_tag_that_is_not_latest() -> None:
    names = {s.name for s in stages(DOCKERFILE)}
    for stage in stages(DOCKERFILE):
        if stage.base in names:
            continue  # FROM an earlier stage
        assert "$" not in stage.base, f"unresolved ARG in FROM {stage.base}"
        tag = image_tag(stage.base)
        assert tag, f"{stage.base} has no tag"
        assert not tag.startswith("latest"), stage.base


def test_gpu_image_is_on_the_cuda_runtime_with_the_gpu_extra_and_cpu_image_has_the_cpu_extra() -> None:
    by_name = _stages()
    gpu = by_name["gpu"]
    assert gpu.base.startswith("nvidia/cuda:")
    assert "runtime" in (image_tag(gpu.base) or ""), "the runtime flavour, not devel: no compilers in the image"
    assert "cudnn" in (image_tag(gpu.base) or ""), "onnxruntime-gpu's CUDA provider loads cuDNN"
    gpu_extras = _installed_extras(gpu)
    cpu_extras = _installed_extras(by_name["cpu-venv"])
    assert "gpu-system" in gpu_extras, "the base image brings CUDA and cuDNN: no nvidia-* wheels on top"
    assert "gpu" not in gpu_extras
    assert "cpu" not in gpu_extras, "the two onnxruntime wheels exclude each other"
    assert "cpu" in cpu_extras
    assert "gpu" not in cpu_extras
    assert "otlp" in gpu_extras & cpu_extras, "metrics and spans can be pushed to a collector"
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert gpu_extras | cpu_extras <= set(project["optional-dependencies"])


def test_cpu_image_copies_only_the_virtualenv_from_the_build_stages() -> None:
    cpu = _stages()["cpu"]
    copies = [i.value for i in cpu.all("COPY")]
    assert copies == ["--from=cpu-venv /opt/scorecast /opt/scorecast"]
    assert cpu.base == _stages()["cpu-venv"].base, "the venv's interpreter path must exist in the final image"


def test_wheel_stage_copies_every_package_the_wheel_ships_and_none_is_dockerignored() -> None:
    wheel = _stages()["wheel"]
    copied = {i.value.split()[0] for i in wheel.all("COPY")}
    tool = _pyproject()["tool"]
    assert isinstance(tool, dict)
    packages = tool["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in packages:
        top = package.split("/", 1)[0]
        assert top in copied, f"the wheel ships {package} but the Dockerfile does not copy {top}"
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f"{source} is .dockerignored"
    for local_state in (".git", ".venv", ".scorecast", ".env"):
        assert local_state in ignored


def test_reader_joins_continuations_and_skips_comments() -> None:
    parsed = instructions("# c\nFROM a:1 AS b\nRUN x \\\n  # inside\n  && y\nUSER 1\n")
    assert [(i.keyword, i.value) for i in parsed] == [("FROM", "a:1 AS b"), ("RUN", "x && y"), ("USER", "1")]
    assert image_tag("registry:5000/team/img") is None
    assert image_tag("registry:5000/team/img:1.2") == "1.2"
