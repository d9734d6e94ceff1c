"""The KServe SDK's virtual environment for the tests (tests/kserve/.venv,
ignored by git): made from tests/kserve/requirements.lock the first time a
test needs it (about a minute, from PyPI), and made again when the lock
changes. `make test` makes it before pytest runs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "requirements.lock"
VENV = HERE / ".venv"
PYTHON = VENV / "bin" / "python"


def kserve_python() -> Path:
    """The environment's interpreter, made or remade as the lock requires."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    marker = VENV / ".installed"
    if not marker.exists() or marker.read_text() != digest:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(LOCK),
            ],
            check=True,
        )
        marker.write_text(digest)
    return PYTHON


if __name__ == "__main__":
    print(kserve_python())
