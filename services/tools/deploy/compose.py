"""Offline checks of compose.yaml and the services' Dockerfiles (no Docker engine here): the compose-spec
JSON schema check-jsonschema ships, references between services, pinned multi-stage non-root images, and
each image's dependency set built into a venv the way its Dockerfile builds it."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import ConfigError
from services.tools.config import PROJECT_ROOT, child_environment, uv_command

__all__ = [
    "COMPOSE",
    "IMAGE_CHECKS",
    "build_image_venv",
    "dockerfile_problems",
    "image_extras",
    "validate_compose",
]

COMPOSE = PROJECT_ROOT / "compose.yaml"
# what each image's entrypoint needs at run time (imported in a venv built like the image), and what
# belongs to other images only (must be absent: the images stay slim)
IMAGE_CHECKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "services/ingest/Dockerfile": (
        ("pyspark", "delta", "services.ingest.main"),
        ("onnxruntime", "evidently", "lightgbm"),
    ),
    "services/features/Dockerfile": (
        ("feast", "duckdb", "deltalake", "services.features.main", "services.tools.cli"),
        ("pyspark", "onnxruntime", "evidently", "lightgbm"),
    ),
    "services/scorer/Dockerfile": (
        ("onnxruntime", "feast", "services.scorer.main"),
        ("pyspark", "evidently", "lightgbm"),
    ),
    "services/scorer/Dockerfile.cuda": (
        ("onnxruntime", "feast", "services.scorer.main"),
        ("pyspark", "evidently", "lightgbm"),
    ),
    "services/monitor/Dockerfile": (
        ("evidently", "services.monitor.main"),
        ("pyspark", "onnxruntime", "lightgbm"),
    ),
    "services/training/Dockerfile": (
        ("sklearn", "lightgbm", "skl2onnx", "feast", "services.training.main", "services.tools.cli"),
        ("pyspark", "evidently"),
    ),
}


def _schema() -> dict[str, Any]:
    """The compose-spec schema check-jsonschema vendors (read as a file: its CLI needs a newer click)."""
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or spec.origin is None:
        raise ConfigError("check-jsonschema is missing: install the deploy extra (make venv)")
    path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def validate_compose(doc: dict[str, Any], root: Path = PROJECT_ROOT) -> list[str]:
    """Every problem of a compose document, as `where: what` lines (empty: valid)."""
    import jsonschema

    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [
        f"compose.yaml {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    services: dict[str, Any] = doc.get("services") or {}
    volumes = set(doc.get("volumes") or {})
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        depends = svc.get("depends_on") or {}
        for other in depends if isinstance(depends, (dict, list)) else ():
            if other not in services:
                problems.append(f"compose.yaml services/{name}/depends_on: no service {other!r}")
        for mount in svc.get("volumes") or ():
            source = str(mount).split(":", 1)[0] if isinstance(mount, str) else str(mount.get("source", ""))
            if source.startswith((".", "/")):
                if not (root / source).exists():
                    problems.append(f"compose.yaml services/{name}/volumes: {source} does not exist")
            elif source and source not in volumes:
                problems.append(f"compose.yaml services/{name}/volumes: volume {source!r} is not declared")
        build = svc.get("build")
        if (
            isinstance(build, dict)
            and not (root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file()
        ):
            problems.append(f"compose.yaml services/{name}/build: no Dockerfile {build.get('dockerfile')}")
    return problems


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    """compose.yaml as a document (YAML anchors and merge keys resolved)."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def dockerfile_problems(path: Path) -> list[str]:
    """What breaks the house rules: multi-stage, every base image pinned to a version, a non-root final
    user, an entrypoint."""
    lines = _logical_lines(path.read_text())
    args = {m[1]: m[2] for ln in lines if (m := re.match(r"ARG (\w+)=(\S+)", ln))}
    stages = [ln for ln in lines if ln.upper().startswith("FROM ")]
    problems = []
    if len(stages) < 2:
        problems.append(f"{path.name}: one stage; build in a stage, copy the result into a slim one")
    names = {m[1] for s in stages if (m := re.search(r" AS (\S+)$", s, re.IGNORECASE))}
    for stage in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), stage.split()[1])
        if image in names:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if "@sha256:" not in image and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            problems.append(f"{path.name}: base image {image} is not pinned to a version")
    final = lines[lines.index(stages[-1]) :] if stages else lines
    users = [ln.split()[1] for ln in final if ln.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        problems.append(f"{path.name}: the final stage runs as root; add USER with a non-root uid")
    if not any(ln.upper().startswith(("ENTRYPOINT ", "CMD ")) for ln in final):
        problems.append(f"{path.name}: no ENTRYPOINT or CMD")
    return problems


def image_extras(path: Path) -> list[str]:
    """The extras of the last `uv sync` of a Dockerfile: the image's dependency set."""
    syncs = [ln for ln in _logical_lines(path.read_text()) if "uv sync" in ln]
    if not syncs:
        raise ConfigError(f"{path}: no `uv sync` step")
    return re.findall(r"--extra (\S+)", syncs[-1])


def build_image_venv(dockerfile: Path, dest: Path, timeout_s: float = 900) -> Path:
    """A venv with the image's dependency set (uv.lock, frozen, the project as a wheel): its python."""
    cmd = [
        *uv_command(),
        "sync",
        "--frozen",
        "--no-editable",
        "--reinstall-package=rtloop",  # rebuilt from the sources now (uv caches it by pyproject.toml only)
        "--refresh-package=rtloop",
        "--python",
        "3.11",
        *[f"--extra={e}" for e in image_extras(dockerfile)],
    ]
    env = child_environment(UV_PROJECT_ENVIRONMENT=str(dest), UV_LINK_MODE="copy")
    done = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise ConfigError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return dest / "bin" / "python"
