"""`rtloop k8s topics|validate`: the KafkaTopic resources from infra/topics.yaml, offline manifest checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from services.tools.cli.app import app, console, friendly, settings

__all__ = ["k8s_app"]

k8s_app = typer.Typer(help="The Kubernetes manifests under k8s/.", no_args_is_help=True)
app.add_typer(k8s_app, name="k8s")
TOPICS_YAML = Path("base") / "topics.yaml"
HEADER = "# Generated from infra/topics.yaml by `rtloop k8s topics`: edit that file, not this one.\n"


@k8s_app.command("topics")
@friendly
def topics_cmd(
    check: Annotated[bool, typer.Option(help="fail if k8s/base/topics.yaml is not current")] = False,
) -> None:
    """Write k8s/base/topics.yaml (Strimzi KafkaTopic resources) from infra/topics.yaml."""
    from services.tools.deploy.k8s import K8S, kafka_topics

    text = HEADER + yaml.safe_dump_all(kafka_topics(settings().topics_file), sort_keys=False)
    path = K8S / TOPICS_YAML
    if check:
        if not path.is_file() or path.read_text() != text:
            raise ValueError(f"{path} is not current: run `rtloop k8s topics`")
        console.print("k8s topics are current")
        return
    path.write_text(text)
    console.print(f"wrote {path}")


@k8s_app.command("validate")
@friendly
def validate_cmd(
    overlay: Annotated[
        list[str] | None, typer.Option(help="overlay (repeatable); default base and all")
    ] = None,
) -> None:
    """Render every overlay and validate it offline (strict built-in kinds, CRD kinds, scaling rules)."""
    from services.tools.deploy.k8s import OVERLAYS, crd_schemas, render, validate

    crds = crd_schemas(settings().k8s_crds)
    failed = False
    for name in overlay or ["base", *OVERLAYS]:
        docs = render(name)
        problems = validate(docs, crds)
        failed |= bool(problems)
        for p in problems:
            console.print(f"[red]{name}[/red] {p}", soft_wrap=True)
        if not problems:
            console.print(f"{name}: {len(docs)} resources valid")
    if failed:
        raise typer.Exit(1)


@k8s_app.command("policy")
@friendly
def policy_cmd() -> None:
    """checkov over every rendered overlay and every Dockerfile: zero failed checks, each skip with its
    reason (annotations `checkov.io/skipN` in k8s/, `# checkov:skip=` comments in Dockerfiles)."""
    import tempfile

    from services.tools.deploy.k8s import policy_report

    with tempfile.TemporaryDirectory() as tmp, console.status("checkov (k8s overlays, Dockerfiles)…"):
        k8s, docker = policy_report(Path(tmp))
    failed = k8s["failed"] + docker["failed"]
    for check_id, resource, reason in k8s["skipped"] + docker["skipped"]:
        console.print(
            f"skipped {check_id} on {resource}: {reason or '[red]no reason given[/red]'}", soft_wrap=True
        )
    for line in failed:
        console.print(f"[red]failed[/red] {line}", soft_wrap=True)
    unexplained = [s for s in k8s["skipped"] + docker["skipped"] if not s[2].strip()]
    console.print(
        f"checkov: {k8s['passed'] + docker['passed']} passed, {len(failed)} failed, "
        f"{len(k8s['skipped']) + len(docker['skipped'])} skipped ({len(unexplained)} without a reason)"
    )
    if failed or unexplained:
        raise typer.Exit(1)
