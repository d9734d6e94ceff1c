"""`app/` in rooms: each package's `FORBIDDEN` imports are never imported by
any of its modules (at the top or inside a function), `app.errors` imports
nothing of the app, and docs/layout.md names every package and module."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
PACKAGES = sorted(p.parent.name for p in APP.glob("*/__init__.py"))


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((APP / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_every_package_says_what_it_owns_and_must_not_import() -> None:
    assert PACKAGES == ["api", "clinical", "guards", "observability", "page", "record", "v2"]
    for package in PACKAGES:
        module = importlib.import_module(f"app.{package}")
        assert module.__doc__ and "Must not import" in module.__doc__, package
        assert module.FORBIDDEN, package
        assert _violations(package, module.FORBIDDEN) == [], package


def test_the_import_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The rule's own check: a function-level import is found too."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from app.api.schemas import Patient\n")
    assert "app.api.schemas" in _imports(module)
    assert "app.v2.routes" in _imports(APP / "main.py")


@pytest.mark.parametrize("leaf", ["errors", "config"])
def test_shared_leaves_import_nothing_of_the_app(leaf: str) -> None:
    assert {m for m in _imports(APP / f"{leaf}.py") if m.split(".")[0] == "app"} == set()


def test_the_layout_page_names_every_package_and_module() -> None:
    page = (ROOT / "docs" / "layout.md").read_text()
    layout = page[page.index("\n## Layout\n") :]
    layout = layout[: layout.find("\n## ", 1)]
    rows = {
        line.split("|")[1].strip(): line
        for line in layout.splitlines()
        if line.startswith("| `app/")
    }
    for path in sorted(APP.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        package = path.parent.relative_to(ROOT).as_posix()
        row = rows.get(f"`{package}/`")
        assert row is not None, package
        assert f"`{path.name}`" in row, path.relative_to(ROOT)


def test_the_service_starts_without_training_or_monitoring_libraries() -> None:
    """The serving image has no pandas or scikit-learn; scipy.stats (0.7 s,
    about 65 MiB) is imported only by a worker that keeps the record."""
    heavy = "{'pandas', 'sklearn', 'scipy.stats'}"
    code = f"import sys, app.main; print(sorted({heavy} & set(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr


@pytest.mark.parametrize(("audit", "imported", "wait"), [("on", True, 30), ("off", False, 3)])
def test_monitoring_imports_scipy_as_the_worker_starts(
    audit: str, imported: bool, wait: int, tmp_path: Path, artifact_path: Path
) -> None:
    """With the record on, scipy.stats is imported as the worker starts,
    with no answer recorded yet, so that the first report with answers does
    not stall a worker under load for most of a second; with it off, never."""
    code = (
        "import sys, time; from fastapi.testclient import TestClient\n"
        "from app.main import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    ready = client.get('/ready').status_code\n"
        f"    end = time.monotonic() + {wait}\n"
        "    while 'scipy.stats' not in sys.modules and time.monotonic() < end:\n"
        "        time.sleep(0.05)\n"
        "    print(ready, 'scipy.stats' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "AUDIT": audit,
        "AUDIT_DSN": f"sqlite:///{tmp_path / 'record.sqlite3'}",
        "MODEL_PATH": str(artifact_path),
        "MONITOR_INTERVAL": "3600",  # no report with answers while the test runs
    }
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert found.stdout.split() == ["200", str(imported)], found.stdout + found.stderr
