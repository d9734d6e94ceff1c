"""The reference pages in `docs/` (and the README) say what the code does:
each table against the code it documents, and every path, link, make target
and module they name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import errors
from app.config import Settings
from model.features import FEATURES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _page(name: str) -> str:
    return (DOCS / name).read_text()


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _table_rows(text: str) -> list[list[str]]:
    lines = [line.strip() for line in text.splitlines()]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in lines
        if line.startswith("| ") and not line.startswith("|---")
    ]


def test_fields_table_lists_every_feature_in_order_with_its_codes() -> None:
    text = _page("api.md")
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", text, flags=re.MULTILINE)
    fields = [(name, cells) for name, cells in rows if name in {f.name for f in FEATURES}]
    assert [name for name, _ in fields] == [f.name for f in FEATURES]
    for feature, (_, cells) in zip(FEATURES, fields, strict=True):
        for code, meaning in (feature.codes or {}).items():
            assert f"{code} = {meaning}" in cells
        if feature.minimum is not None:
            assert f"{feature.minimum:g} \N{EN DASH} {feature.maximum:g}" in cells


def test_routes_table_lists_every_documented_route(shared_client: TestClient) -> None:
    table = _page("api.md").split("\n## ", 1)[0]
    spec = shared_client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if path.startswith("/v2"):
            continue  # the V2 routes have their own section
        for method in operations:
            assert f"`{method.upper()} {path}`" in table, (method, path)
    assert "`GET /v2`" in table and "POST .../infer" in table


def test_errors_table_lists_every_problem_with_its_status() -> None:
    rows = _table_rows(_section(_page("api.md"), "Errors"))
    documented = {
        (status.strip(), code.strip("` "))
        for row in rows
        for statuses, codes in [(row[0].split("/"), row[1].split("/"))]
        for status, code in zip(statuses, codes, strict=True)
    }
    problems = [p for p in vars(errors).values() if isinstance(p, errors.Problem)]
    assert len(problems) >= 12
    for problem in problems:
        assert (str(problem.status), problem.code) in documented, problem


def test_configuration_lists_every_setting_with_its_default() -> None:
    rows = {row[0]: row for row in _table_rows(_page("configuration.md"))}
    names = {
        name.strip("` "): cells
        for variables, cells in rows.items()
        for name in variables.split(",")
    }
    for field, info in Settings.model_fields.items():
        variable = field.upper()
        assert variable in names, variable
        default = (
            info.default.get_secret_value()
            if hasattr(info.default, "get_secret_value")
            else info.default
        )
        shown = names[variable][1]
        if default is None:
            assert shown == "unset", variable
        else:
            assert str(default).lower() in shown.lower() or f"{default:g}" in shown, variable


def test_operations_names_exactly_the_metrics_the_service_exports(
    shared_client: TestClient,
) -> None:
    shared_client.get("/health")
    text = shared_client.get("/metrics").text
    helped = re.findall(r"^# HELP (heart_\w+) ", text, flags=re.MULTILINE)
    exported = {name for name in helped if not name.endswith("_created")}  # client's own
    documented = set(re.findall(r"`(heart_\w+)[{`]", _page("operations.md")))
    assert exported and documented == exported


def test_model_card_figures_are_the_evaluation_reports() -> None:
    report = (ROOT / "reports" / "evaluation.md").read_text()
    card = _table_rows(_page("model-card.md"))
    evaluated = [row for row in card if row[0].startswith(("NeuralNet", "sklearn"))]
    assert len(evaluated) == 4
    for row in evaluated:
        assert "| " + " | ".join(row) + " |" in report, row[0]


def _named_paths(text: str) -> set[str]:
    """Repository paths a page names in backticks (e.g. `app/v2/routes.py`)."""
    found = set()
    for name in re.findall(r"`([\w./-]+)`", text):
        top = name.split("/")[0]
        if "/" in name and (ROOT / top).exists() and not name.startswith("/"):
            found.add(name.rstrip("/"))
    return found


def _ignored(name: str) -> bool:
    """Whether git ignores `name`: a path that a command makes, not the repository's."""
    for candidate in (name, name + "/"):  # a directory's pattern ends with /
        check = subprocess.run(["git", "check-ignore", "-q", candidate], cwd=ROOT, check=False)
        if check.returncode == 0:
            return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_link_target_and_module_a_page_names_exists(page: Path) -> None:
    text = page.read_text()
    for name in _named_paths(text):
        made_by_a_command = _ignored(name)  # e.g. benchmarks/.envs, artifacts/model.pkl
        assert (ROOT / name).exists() or made_by_a_command, f"{page.name}: {name}"
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (page.parent / link).exists(), f"{page.name}: link {link}"
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)", text):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"{page.name}: {target}"
    for module in re.findall(r"python -m ([\w.]+)", text):
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").exists() or path.is_dir(), f"{page.name}: {module}"


def test_security_table_is_every_routes_own_policy(artifact_path: Path) -> None:
    """docs/security.md's route table, row for row, is what the routes declare."""
    from app.main import create_app
    from app.policy import policy_of, routes

    who = {"OPEN": "anyone", "SCORE": "a `score` key", "AUDIT": "an `audit` key",
           "EHR": "an EHR's JWT", "PAGE": "a SMART launch's page session"}  # fmt: skip
    app = create_app(Settings(model_path=artifact_path, audit="off"))
    declared = set()
    for route in routes(app):
        policy = policy_of(route)
        assert policy is not None
        methods = sorted(m for m in (getattr(route, "methods", None) or ["GET"]) if m != "HEAD")
        flags = ("yes" if f else "no" for f in (policy.recorded, policy.sheddable, policy.heavy))
        declared.add((f"`{route.path}`", ", ".join(methods), who[policy.caller.name], *flags))  # type: ignore[attr-defined]
    text = (DOCS / "security.md").read_text()
    table = text[text.index("| route | method | who may call |") :]
    shown = {tuple(c.strip() for c in line.strip("|").split("|"))
             for line in table.splitlines()[2:] if line.startswith("| `")}  # fmt: skip
    assert shown == declared


def _needs(column: int) -> dict[str, str]:
    """docs/deployment.md's "What each needs": row name -> the column's cell."""
    rows = _table_rows(_section(_page("deployment.md"), "What each needs"))
    return {row[0]: row[column] for row in rows[1:]}


def _container_spec(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the pod spec, its one container) of a shipped manifest."""
    import yaml

    (doc,) = [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
    (container,) = spec["containers"]
    return spec, container


def test_the_deployment_page_says_what_the_image_declares() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    needs = _needs(1)
    (volume,) = re.findall(r"^VOLUME (\S+)$", dockerfile, flags=re.MULTILINE)
    (user,) = re.findall(r"^USER (\d+)$", dockerfile, flags=re.MULTILINE)
    (port,) = re.findall(r"^EXPOSE (\d+)$", dockerfile, flags=re.MULTILINE)
    assert re.findall(r"`(/[\w/-]+)`", needs["writable paths"]) == ["/tmp", volume]
    assert f"`{volume}/audit.sqlite3`" in needs["the record"]
    assert f"uid {user}" == needs["user"] and needs["port"].startswith(port)
    assert "/health" in needs["health"] and "HEALTHCHECK" in dockerfile


MANIFESTS = [(2, "deploy/deployment.yaml"), (3, "deploy/kserve/servingruntime.yaml")]
"""Each shipped manifest with a pod, and its column in "What each needs"."""


@pytest.mark.parametrize(("column", "path"), MANIFESTS)
def test_the_deployment_page_says_what_each_manifest_mounts_and_needs(
    column: int, path: str
) -> None:
    needs = {k: v.replace("as Kubernetes", _needs(2)[k]) for k, v in _needs(column).items()}
    spec, container = _container_spec(path)
    writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
    assert re.findall(r"`(/[\w/-]+)`", needs["writable paths"]) == writable
    secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    secrets |= {
        e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e
    }
    assert secrets == set(
        re.findall(r"Secret `([\w-]+)`", needs["the record"] + needs["credentials"])
    )
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert f"`{env['AUDIT_SPOOL']}`" in needs["the record"]
    assert needs["port"].startswith(str(container["ports"][0]["containerPort"]))
    user = (
        spec.get("securityContext", {}).get("runAsUser")
        or container["securityContext"]["runAsUser"]
    )
    assert needs["user"] == f"uid {user}"
    if "livenessProbe" in container:  # KServe's probes are in the InferenceService
        probes = [container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")]
        assert all(f"`{p}`" in needs["health"] for p in probes)
