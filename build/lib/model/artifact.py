"""The model artifact: one pickle file plus a SHA-256 sidecar.

Format (`artifacts/model.pkl`, format version 3), a dict with exactly these keys:

- ``"weights"``: ``{"W1": (13, h), "b1": (h,), "W2": (h, 1), "b2": (1,)}``,
  float64 NumPy arrays and nothing else (no activations, no patient data);
- ``"ensemble"``: the bootstrap members' weights stacked, ``{"W1": (m, 13, h),
  "b1": (m, h), "W2": (m, h, 1), "b2": (m, 1)}``, m >= 2 (same scaler);
- ``"background"``: (K, 13) raw training rows, the Shapley background;
- ``"donors"``: (n, 13) every raw training row, what answers with
  measurements missing average over (`model.missing`);
- ``"reference"``: ``{"minimum", "maximum", "mean": (13,), "precision":
  (13, 13), "threshold": float}``, what `model.typicality` compares with;
- ``"scaler"``: the fitted ``sklearn.preprocessing.StandardScaler``;
- ``"features"``: the 13 feature names in column order;
- ``"metadata"``: plain Python values only (str, int, float, bool, None,
  lists and dicts of them): format and model version, training time, data
  SHA-256, hyper-parameters, metrics, library versions, and ``"self_test"``
  (the probability the model gave `EXAMPLE_PATIENT` at training time).

``model.pkl.sha256`` holds the file's SHA-256 in ``sha256sum`` format.

Loading is safe by construction: the hash is checked before a single byte is
unpickled, and the unpickler admits only the handful of globals that NumPy
arrays need. The scaler is *not* rebuilt as a scikit-learn object: its
pickled state is read into `ScalerState`, so no scikit-learn code runs on
load and serving never imports scikit-learn. A pickle that names any other
global (the way a malicious pickle runs code) is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.features import FEATURE_NAMES
from model.propagation import PARAM_NAMES, Params
from model.typicality import Reference

FORMAT_VERSION = 3
ARTIFACT_KEYS = {
    *("weights", "ensemble", "background", "donors"),
    *("reference", "scaler", "features", "metadata"),
}
REFERENCE_ARRAYS = {"minimum": (13,), "maximum": (13,), "mean": (13,), "precision": (13, 13)}
FIX = "run `make train` to create it"


class ArtifactError(RuntimeError):
    """The artifact is missing, tampered with, unsafe or malformed.

    The message is one line naming the file, what is wrong and the fix.
    """


class ScalerState:
    """Stands in for a pickled StandardScaler: holds its fitted attributes.

    The pickle's BUILD step sets the instance ``__dict__`` (``mean_``,
    ``scale_``, ...) and nothing of scikit-learn is imported or run.
    """

    mean_: np.ndarray
    scale_: np.ndarray


_NUMPY_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_SCALER_GLOBAL = ("sklearn.preprocessing._data", "StandardScaler")


class _RestrictedUnpickler(pickle.Unpickler):
    """The Python docs' "Restricting Globals" pattern, with an allowlist."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == _SCALER_GLOBAL:
            return ScalerState
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden")


@dataclass(frozen=True)
class Artifact:
    """A loaded, checked artifact."""

    path: Path
    sha256: str
    weights: Params
    members: list[Params]  # the bootstrap ensemble, each like `weights`
    background: np.ndarray  # (K, 13) raw training rows
    donors: np.ndarray  # (n, 13) every raw training row
    reference: Reference
    scaler_mean: np.ndarray  # (13,)
    scaler_scale: np.ndarray  # (13,)
    features: tuple[str, ...]
    metadata: dict[str, Any]


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(
    path: str | Path,
    weights: Params,
    members: list[Params],
    background: np.ndarray,
    donors: np.ndarray,
    reference: Reference,
    scaler: Any,
    metadata: dict[str, Any],
) -> str:
    """Write the artifact and its sidecar (each atomically); return the SHA-256."""
    path = Path(path)
    payload = {
        "weights": {k: np.asarray(weights[k], dtype=np.float64) for k in PARAM_NAMES},
        "ensemble": {
            k: np.stack([np.asarray(m[k], dtype=np.float64) for m in members]) for k in PARAM_NAMES
        },
        "background": np.asarray(background, dtype=np.float64),
        "donors": np.asarray(donors, dtype=np.float64),
        "reference": {
            **{k: np.asarray(getattr(reference, k), dtype=np.float64) for k in REFERENCE_ARRAYS},
            "threshold": float(reference.threshold),
        },
        "scaler": scaler,
        "features": list(FEATURE_NAMES),
        "metadata": metadata,
    }
    data = pickle.dumps(payload, protocol=4)
    sha = hashlib.sha256(data).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, data)
    _atomic_write(sidecar_path(path), f"{sha}  {path.name}\n".encode())
    return sha


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_artifact(path: str | Path) -> Artifact:
    """Verify, unpickle safely and check an artifact; raise ArtifactError."""
    path = Path(path)
    data, sha = _read_verified(path)
    try:
        payload = _RestrictedUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # any unpickling failure is the file's fault
        raise ArtifactError(f"{path}: refused to load the artifact ({exc}); {FIX}") from None
    weights, scaler, metadata = _check_payload(path, payload)
    members, reference = _check_companions(path, payload, weights["W1"].shape[1])
    return Artifact(
        path=path,
        sha256=sha,
        weights=weights,
        members=members,
        background=payload["background"],
        donors=payload["donors"],
        reference=reference,
        scaler_mean=scaler.mean_,
        scaler_scale=scaler.scale_,
        features=tuple(payload["features"]),
        metadata=metadata,
    )


def _read_verified(path: Path) -> tuple[bytes, str]:
    """The file's bytes and SHA-256, once they match the sidecar. The bytes
    that were hashed are the bytes unpickled: the file is read only once."""
    if not path.is_file():
        raise ArtifactError(f"{path}: model artifact not found; {FIX}")
    side = sidecar_path(path)
    if not side.is_file():
        raise ArtifactError(
            f"{path}: checksum file {side.name} not found, refusing to unpickle; {FIX}"
        )
    expected = side.read_text(errors="replace").split()[:1]
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if expected != [actual]:
        raise ArtifactError(
            f"{path}: SHA-256 does not match {side.name} (tampered or corrupt), "
            f"refusing to unpickle; {FIX} again"
        )
    return data, actual


def _bad(path: Path) -> Any:
    def bad(what: str) -> ArtifactError:
        return ArtifactError(f"{path}: malformed artifact: {what}; {FIX} again")

    return bad


def _check_payload(path: Path, payload: Any) -> tuple[Params, ScalerState, dict[str, Any]]:
    bad = _bad(path)

    if not isinstance(payload, dict) or set(payload) != ARTIFACT_KEYS:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise bad(f"expected a dict with keys {sorted(ARTIFACT_KEYS)}, got {keys}")
    if list(payload["features"]) != list(FEATURE_NAMES):
        raise bad(f"features must be {list(FEATURE_NAMES)}, got {payload['features']!r}")
    if not isinstance(payload["metadata"], dict):
        raise bad("metadata must be a dict")

    weights = payload["weights"]
    if not isinstance(weights, dict) or set(weights) != set(PARAM_NAMES):
        raise bad(f"weights must hold exactly {list(PARAM_NAMES)}")
    d = len(FEATURE_NAMES)
    h = np.shape(weights["W1"])[-1] if np.ndim(weights["W1"]) == 2 else -1
    shapes = {"W1": (d, h), "b1": (h,), "W2": (h, 1), "b2": (1,)}
    for name, shape in shapes.items():
        _check_array(bad, f"weights[{name!r}]", weights[name], shape)
    if h < 1:
        raise bad("the hidden layer must have at least one unit")

    scaler = payload["scaler"]
    if not isinstance(scaler, ScalerState):
        raise bad(f"scaler must be a StandardScaler, got {type(scaler).__name__}")
    for attr in ("mean_", "scale_"):
        _check_array(bad, f"scaler.{attr}", getattr(scaler, attr, None), (d,))
    if np.any(scaler.scale_ <= 0):
        raise bad("scaler.scale_ must be > 0")
    return weights, scaler, payload["metadata"]


def _check_companions(
    path: Path, payload: dict[str, Any], h: int
) -> tuple[list[Params], Reference]:
    """The ensemble, the background, the donors and the reference, checked
    like the weights."""
    bad, d = _bad(path), len(FEATURE_NAMES)
    stacked = payload["ensemble"]
    if not isinstance(stacked, dict) or set(stacked) != set(PARAM_NAMES):
        raise bad(f"ensemble must hold exactly {list(PARAM_NAMES)}")
    m = np.shape(stacked["W1"])[0] if np.ndim(stacked["W1"]) == 3 else -1
    if m < 2:
        raise bad("ensemble must hold at least 2 members")
    shapes = {"W1": (m, d, h), "b1": (m, h), "W2": (m, h, 1), "b2": (m, 1)}
    for name, shape in shapes.items():
        _check_array(bad, f"ensemble[{name!r}]", stacked[name], shape)
    members = [{k: stacked[k][i] for k in PARAM_NAMES} for i in range(m)]

    for name in ("background", "donors"):
        rows = payload[name]
        k = np.shape(rows)[0] if np.ndim(rows) == 2 else -1
        _check_array(bad, name, rows, (max(k, 1), d))

    ref = payload["reference"]
    if not isinstance(ref, dict) or set(ref) != {*REFERENCE_ARRAYS, "threshold"}:
        raise bad(f"reference must hold exactly {sorted({*REFERENCE_ARRAYS, 'threshold'})}")
    for name, shape in REFERENCE_ARRAYS.items():
        _check_array(bad, f"reference[{name!r}]", ref[name], shape)
    threshold = ref["threshold"]
    if type(threshold) is not float or not np.isfinite(threshold) or threshold <= 0:
        raise bad("reference['threshold'] must be a positive float")
    try:
        np.linalg.cholesky(ref["precision"])
    except np.linalg.LinAlgError:
        raise bad("reference['precision'] must be positive definite") from None
    arrays = {name: ref[name] for name in REFERENCE_ARRAYS}
    return members, Reference(**arrays, threshold=threshold)


def _check_array(bad: Any, name: str, value: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(value, np.ndarray) or value.dtype != np.float64:
        raise bad(f"{name} must be a float64 NumPy array, got {type(value).__name__}")
    if value.shape != shape:
        raise bad(f"{name} has shape {value.shape}, expected {shape}")
    if not np.all(np.isfinite(value)):
        raise bad(f"{name} holds non-finite values")
