"""`python -m app`: serve the app with uvicorn, configured from the
environment (HOST, PORT, WORKERS), with JSON logs, no access log (the app
logs every request itself) and the connection guards as uvicorn's HTTP
protocol (`app.guards.connections`).

With WORKERS > 1 the Prometheus multiprocess directory is prepared first,
so this module must not import `app.main` or `app.observability.metrics`
at the top: the directory has to be in the environment before
prometheus_client is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from app.config import get_settings
from app.observability.logs import UVICORN_LOG_CONFIG


def prepare_metrics_dir(workers: int) -> None:
    """Point prometheus_client at an empty directory when several workers share it."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        shutil.rmtree(path, ignore_errors=True)  # stale samples from an earlier run
        path.mkdir(parents=True, exist_ok=True)
    elif workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="heart-metrics-")


def main() -> None:
    settings = get_settings()
    prepare_metrics_dir(settings.workers)
    from app.guards.connections import (
        GuardedHttpToolsProtocol,
    )  # imports app.observability.metrics: after the dir

    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=UVICORN_LOG_CONFIG,
        access_log=False,
        http=GuardedHttpToolsProtocol,
        loop=settings.event_loop,  # asyncio by default: see EVENT_LOOP in docs/configuration.md
        timeout_keep_alive=int(max(1, settings.keep_alive_timeout)),
    )


if __name__ == "__main__":
    main()
