"""The Dockerfile passes hadolint; the Kubernetes manifests validate and say
what operators rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_dockerfile_passes_hadolint_and_is_multi_stage_non_root_with_healthcheck() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) == 2
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in text
    assert re.search(r"^USER 10001$", text, flags=re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/health", text, flags=re.MULTILINE)
    assert "EXPOSE 8000" in text


def test_manifests_validate_against_kubernetes_schemas() -> None:
    files = sorted(str(p) for p in (ROOT / "deploy").glob("*.yaml"))
    assert len(files) == 3
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 3


def test_deployment_probes_resources_and_security() -> None:
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e for e in container["env"]}
    assert env["AUDIT_DSN"]["valueFrom"]["secretKeyRef"]["name"] == "heart-risk-record"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}  # the root is read-only:
    assert str(Path(env["AUDIT_SPOOL"]["value"]).parent) in mounts  # the spool needs a volume
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in (ROOT / "deploy").glob("*.yaml")}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler"}
