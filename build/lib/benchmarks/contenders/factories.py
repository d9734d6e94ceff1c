"""The contenders of `make bench`: how to start each server, and the shared
inputs they need (their own virtual environments, the pipeline that carries
this service's weights).

The modules beside this one are what those servers run; this one is what
starts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.harness import BATCH, BATCH_BODY, ROOT, ROW, SINGLE_BODY, v2_body
from model.artifact import load_artifact

ENVS = ROOT / "benchmarks" / ".envs"
CONTENDERS_DIR = Path(__file__).resolve().parent
EXTERNAL = {
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1"],
    "bentoml": ["bentoml==1.4.40", "scikit-learn"],
}


@dataclass
class Contender:
    name: str
    port: int
    command: list[str]
    env: dict[str, str]
    single: tuple[str, bytes]  # path, body
    batch: tuple[str, bytes] | None
    first_probability: Callable[[httpx.Response], float | None]
    pinned: bool = True
    cwd: Path = ROOT
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # by run

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def ensure_env(name: str) -> Path:
    """The contender's own virtual environment, created and filled once."""
    env = ENVS / name
    python = env / "bin" / "python"
    marker = env / ".installed"
    if not marker.exists():
        print(f"installing {name} into {env} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *EXTERNAL[name]], check=True
        )
        marker.write_text(" ".join(EXTERNAL[name]))
    return python


def build_pipeline(python: Path, weights: Path, out: Path) -> Path:
    subprocess.run(
        [str(python), str(CONTENDERS_DIR / "build_pipeline.py"), str(weights), str(out)], check=True
    )
    return out


def export_weights(artifact_path: Path, out: Path) -> Path:
    a = load_artifact(artifact_path)
    arrays = {"mean": a.scaler_mean, "scale": a.scaler_scale, **a.weights}
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out


def ours(port: int, model: Path, workers: int) -> Contender:
    return Contender(
        name=f"this service, {workers} worker{'s' if workers > 1 else ''}",
        port=port,
        command=[sys.executable, "-m", "app"],
        env={
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "MODEL_PATH": str(model),
            "WORKERS": str(workers),
            # the serving path alone, like the other servers (none keeps a record);
            # benchmarks.record measures the record's cost, on, beside this
            "AUDIT": "off",
            "AUDIT_DSN": f"sqlite:///{tempfile.gettempdir()}/heart-bench-audit.sqlite3",
        },
        single=("/predict", SINGLE_BODY),
        batch=("/predict/batch", BATCH_BODY),
        first_probability=lambda r: r.json()["probability"],
        pinned=workers == 1,
    )


def ours_v2(port: int, model: Path, loop: str = "asyncio") -> Contender:
    """This service (1 worker) answering V2 `infer`, JSON, every output
    (probability, class and the interval), on event loop `loop`
    (EVENT_LOOP; asyncio is the default)."""
    c = ours(port, model, 1)
    path = "/v2/models/heart-disease/infer"
    c.name = "this service, 1 worker, V2 infer (JSON)" + (
        f", EVENT_LOOP={loop}" if loop != "asyncio" else ""
    )
    c.env["MODEL_NAME"] = "heart-disease"
    c.env["EVENT_LOOP"] = loop
    c.single = (path, v2_body("patients", 1))
    c.batch = (path, v2_body("patients", BATCH))
    c.first_probability = lambda r: r.json()["outputs"][0]["data"][0]
    return c


def uvicorn_app(
    name: str,
    module: str,
    port: int,
    env: dict[str, str],
    probability: bool,
    loop: str = "auto",
) -> Contender:
    """A module's ASGI app under uvicorn's command line; `loop="asyncio"`
    for the apps this service is measured against (the ceiling, the raw
    limit), since `python -m app` runs asyncio's loop (EVENT_LOOP)."""
    return Contender(
        name=name,
        port=port,
        command=[
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--http",
            "httptools",
            "--loop",
            loop,
        ],
        env={"PYTHONPATH": str(ROOT), **env},
        single=("/predict", SINGLE_BODY),
        batch=("/predict/batch", BATCH_BODY),
        first_probability=(lambda r: r.json()["probability"]) if probability else (lambda r: None),
    )


def mlserver(port: int, pipeline: Path, workdir: Path) -> Contender:
    models = workdir / "mlserver"
    (models / "heart").mkdir(parents=True, exist_ok=True)
    (models / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": port + 1,
                "metrics_port": port + 2,
                "parallel_workers": 0,
                "debug": False,
                "metrics_endpoint": None,
            }
        )
    )
    (models / "heart" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "heart",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(pipeline), "version": "v1"},
            }
        )
    )

    def body(n: int) -> bytes:
        return v2_body("input-0", n, [{"name": "predict_proba"}])

    return Contender(
        name="MLServer 1.7 (sklearn runtime, V2, in-process)",
        port=port,
        command=[str(ENVS / "mlserver" / "bin" / "mlserver"), "start", str(models)],
        env={},
        single=("/v2/models/heart/infer", body(1)),
        batch=("/v2/models/heart/infer", body(BATCH)),
        first_probability=lambda r: r.json()["outputs"][0]["data"][1],
    )


def bentoml(port: int, pipeline: Path) -> Contender:
    return Contender(
        name="BentoML 1.4",
        port=port,
        command=[
            str(ENVS / "bentoml" / "bin" / "bentoml"),
            "serve",
            "bentoml_service:HeartService",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={"PIPELINE": str(pipeline), "BENTOML_DO_NOT_TRACK": "true"},
        single=("/predict", json.dumps({"rows": [ROW]}).encode()),
        batch=("/predict", json.dumps({"rows": [ROW] * BATCH}).encode()),
        first_probability=lambda r: r.json()[0],
        cwd=CONTENDERS_DIR,
    )
