"""checkov over the rendered overlays and the Dockerfiles: zero failed checks, every skip with a reason;
a manifest that breaks a policy is reported."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.tools.deploy.k8s import policy_findings, policy_report, render


def test_the_manifests_and_dockerfiles_pass_checkov_with_reasoned_skips(tmp_path: Path) -> None:
    k8s, docker = policy_report(tmp_path)
    assert k8s["failed"] == [] and docker["failed"] == []
    assert k8s["passed"] > 500 and docker["passed"] > 100
    assert all(reason.strip() for _, _, reason in k8s["skipped"] + docker["skipped"])


def test_a_privileged_root_container_is_reported(tmp_path: Path) -> None:
    (deployment,) = [
        d for d in render("dev") if d["kind"] == "Deployment" and d["metadata"]["name"] == "scorer"
    ]
    pod = deployment["spec"]["template"]["spec"]
    del pod["securityContext"]
    pod["containers"][0]["securityContext"] = {"privileged": True}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(deployment))
    failed = "\n".join(policy_findings({"broken": tmp_path}, "kubernetes")["failed"])
    assert "CKV_K8S_16" in failed, failed  # privileged
    assert "CKV_K8S_23" in failed, failed  # root allowed
