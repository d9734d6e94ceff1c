"""Helpers for tests that build good and bad artifacts by hand."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from model.artifact import sidecar_path


def copy_artifact(source: Path, folder: Path) -> Path:
    """A copy of the artifact and its sidecar in `folder`, as model.pkl."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / "model.pkl"
    shutil.copy(source, dest)
    shutil.copy(sidecar_path(source), sidecar_path(dest))
    return dest


def read_payload(path: Path) -> dict[str, Any]:
    """The artifact's dict, with the plain unpickler (trusted: the test wrote it)."""
    with path.open("rb") as f:
        return dict(pickle.load(f))


def write_with_matching_hash(path: Path, payload: Any) -> None:
    """Write `payload` as the artifact *with a matching hash*, as an attacker could."""
    data = pickle.dumps(payload, protocol=4)
    path.write_bytes(data)
    sidecar_path(path).write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")


class RunsCode:
    """Unpickling this calls os.system: what a malicious artifact does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))
