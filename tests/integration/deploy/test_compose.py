"""compose.yaml and the Dockerfiles, offline: the compose-spec schema, references between services, the
house rules of every image, and each image's dependency set built into a venv and imported."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.tools.config import PROJECT_ROOT
from services.tools.deploy.compose import (
    COMPOSE,
    IMAGE_CHECKS,
    build_image_venv,
    dockerfile_problems,
    load_compose,
    validate_compose,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE)


def test_compose_validates_and_wires_the_whole_loop(compose: dict[str, Any]) -> None:
    assert validate_compose(compose) == []
    services = compose["services"]
    expected = {"kafka", "topic-init", "redis", "otel-collector", "jaeger", "prometheus", "grafana"}
    expected |= {"feast-apply", "ingest", "features", "scorer", "monitor", "train", "scorer-gpu"}
    assert expected <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:") and "healthcheck" in kafka
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, single node"
    for name in ("ingest", "features", "scorer", "monitor"):
        svc = services[name]
        assert svc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", "wired by service name"
        assert svc["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    gpu = services["scorer-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert services["scorer-gpu"]["build"]["dockerfile"].endswith("Dockerfile.cuda")


def test_a_broken_compose_file_fails_with_the_place_named(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["scorer"]["replicas_typo"] = 2
    broken["services"]["monitor"]["depends_on"]["schema-registry"] = {"condition": "service_started"}
    broken["services"]["features"]["volumes"] = ["lakes:/data"]
    problems = "\n".join(validate_compose(broken))
    assert "services/scorer" in problems and "replicas_typo" in problems
    assert "no service 'schema-registry'" in problems
    assert "volume 'lakes' is not declared" in problems


@pytest.mark.parametrize("dockerfile", sorted(IMAGE_CHECKS))
def test_every_dockerfile_is_multi_stage_pinned_and_non_root(dockerfile: str) -> None:
    assert dockerfile_problems(PROJECT_ROOT / dockerfile) == []


def test_a_root_or_unpinned_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text('FROM python:latest AS build\nRUN true\nFROM python\nUSER root\nENTRYPOINT ["x"]\n')
    problems = "\n".join(dockerfile_problems(path))
    assert "python:latest is not pinned" in problems and "python is not pinned" in problems
    assert "runs as root" in problems


@pytest.mark.slow
@pytest.mark.parametrize("dockerfile", sorted(IMAGE_CHECKS))
def test_each_image_dependency_set_imports_what_its_entrypoint_needs(dockerfile: str, tmp_path: Path) -> None:
    python = build_image_venv(PROJECT_ROOT / dockerfile, tmp_path / "venv")
    modules, absent = IMAGE_CHECKS[dockerfile]
    code = (
        "import importlib, services\n"
        f"assert services.__file__.startswith({str(tmp_path)!r}), services.__file__\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
    )
    done = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    present = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.util as u; print([m for m in {list(absent)!r} if u.find_spec(m)])",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert present == "[]", f"the image carries other services' dependencies: {present}"
