"""The Dockerfile passes hadolint; the Kubernetes manifests validate and say
what operators rely on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Server, free_port

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


def _credentials(container: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, str]:
    """{setting: file} for the key files, each checked to lie in a Secret
    volume that is required (no `optional: true`: no Secret, no pod)."""
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"] for v in volumes if "secret" in v}
    files = {}
    for setting in ("API_KEYS_FILE", "CDS_CLIENTS_FILE"):
        path = Path(env[setting])
        volume = mounts[str(path.parent)]
        assert volume in secrets and not secrets[volume].get("optional", False), setting
        files[setting] = str(path)
    return files


def test_every_shipped_manifest_fails_closed() -> None:
    """Keys and EHR clients come from a required Secret, in the Deployment
    and in the KServe runtime; no manifest has an optional credential or an
    API key in an environment variable (on main at c58ae8a the Deployment's
    Secret was optional: "without the Secret, /predict is open")."""
    for path in [*(ROOT / "deploy").glob("*.yaml"), *(ROOT / "deploy" / "kserve").glob("*.yaml")]:
        assert "optional: true" not in path.read_text(), path
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    runtime = yaml.safe_load((ROOT / "deploy" / "kserve" / "servingruntime.yaml").read_text())
    shipped = [(pod["containers"][0], pod["volumes"])]
    shipped.append((runtime["spec"]["containers"][0], runtime["spec"]["volumes"]))
    for container, volumes in shipped:
        assert "API_KEY" not in {e["name"] for e in container["env"]}
        assert _credentials(container, volumes) == {
            "API_KEYS_FILE": "/etc/heart-risk/api-keys",
            "CDS_CLIENTS_FILE": "/etc/heart-risk/cds-clients.json",
        }


def test_the_build_context_leaves_out_the_local_record() -> None:
    """var/ holds a local record, with patients' values."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "var" in ignored or "var/" in ignored


@pytest.mark.slow
def test_the_health_check_follows_port(
    live_server: Callable[..., AbstractContextManager[Server]],
) -> None:
    """The image's HEALTHCHECK, run as the container runs it, checks the port
    PORT names (the KServe runtime sets 8080; a check of 8000 failed there)."""
    text = (ROOT / "Dockerfile").read_text()
    check = re.search(r"^HEALTHCHECK .*\n\s*CMD (\[.*\])$", text, flags=re.MULTILINE)
    assert check is not None
    command = json.loads(check.group(1))
    with live_server() as server:
        env = {**os.environ, "PORT": str(server.port)}
        assert subprocess.run(command, env=env, check=False, timeout=10).returncode == 0
    closed = {**os.environ, "PORT": str(free_port())}
    failed = subprocess.run(command, env=closed, check=False, timeout=10, capture_output=True)
    assert failed.returncode != 0
