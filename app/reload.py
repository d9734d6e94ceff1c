"""Putting a new model (and new API keys) in service without a restart:
`kill -HUP` a worker.

On SIGHUP, a worker loads the artifact at MODEL_PATH again and checks it
exactly as at start-up (`load_checked`: SHA-256 sidecar, safe unpickling,
the shape checks, the self-test), off the event loop, then swaps it in with
one assignment to `app.state.predictor`. A request reads the predictor once,
when it starts, so it is answered wholly by the old model or wholly by the
new one. If any check fails, the worker keeps the model it has, logs one
line saying why, and counts the failure in `heart_model_reloads_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio

from app.observability.metrics import MODEL_INFO, RELOADS
from model.artifact import ArtifactError, load_artifact
from model.serving import Predictor

log = logging.getLogger("app")


V = TypeVar("V")


class RotatingFile(Generic[V]):
    """An operator's file of named entries (API keys, CDS clients, SMART
    clients): `read` at start-up by `load` (its ValueError stops the start),
    and again on SIGHUP by `reload`, where a file that cannot be used leaves
    the entries in force and the log says why. No file set: no entries."""

    what = "entries"  # in log lines: "API keys", "CDS clients", ...

    def __init__(self, path: Path | None) -> None:
        """Nothing is read yet: `load` reads the file (in the app's lifespan)."""
        self.path = path
        self.entries: dict[str, V] = {}

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def read(self, path: Path) -> dict[str, V]:
        raise NotImplementedError

    def load(self) -> None:
        if self.path is not None:
            self.entries = self.read(self.path)

    def reload(self) -> str | None:
        """Read the file again; None, or why the entries in force stay."""
        if self.path is None:
            return None
        try:
            self.entries = self.read(self.path)
        except ValueError as exc:
            log.error("%s not reloaded, those in force stay: %s", self.what, exc)
            return str(exc)
        log.info("%s reloaded from %s (%d)", self.what, self.path, len(self.entries))
        return None


def load_checked(path: Path) -> tuple[Predictor, str | None]:
    """The artifact at `path` as a Predictor, and its self-test's problem
    (None when it passed). ArtifactError when it cannot be loaded at all."""
    predictor = Predictor(load_artifact(path))
    return predictor, predictor.self_test()


def put_in_service(state: Any, predictor: Predictor) -> None:
    """Serve `predictor` from now on (one assignment: atomic for requests)."""
    old = getattr(state, "predictor", None)
    state.predictor = predictor
    state.readiness_problem = None
    if old is not None:
        with contextlib.suppress(KeyError):
            MODEL_INFO.remove(old.version, old.artifact.sha256)
    MODEL_INFO.labels(predictor.version, predictor.artifact.sha256).set(1)


class Reloader:
    """Reloads the model of the app whose `state` it is given, on SIGHUP."""

    def __init__(self, state: Any, path: Path, rotating: Sequence[RotatingFile[Any]] = ()) -> None:
        """`rotating`: the files read again on the same signal (the API
        keys, the CDS and SMART clients)."""
        self.state, self.path, self.rotating = state, path, rotating
        self._lock = asyncio.Lock()
        self._installed = False
        self._tasks: set[asyncio.Task[str | None]] = set()  # kept until done

    def install(self) -> None:
        """Handle SIGHUP in this worker's event loop (only possible in the
        main thread: under a test client, reload() is called directly)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_signal)
            self._installed = True
        except (RuntimeError, ValueError):
            log.debug("SIGHUP not handled: not the main thread")

    def uninstall(self) -> None:
        if self._installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._installed = False

    def _on_signal(self) -> None:
        for files in self.rotating:
            files.reload()
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> str | None:
        """Load, check and swap in the artifact; None, or why it was refused."""
        async with self._lock:  # one reload at a time; a second HUP waits
            problem: str | None
            try:
                predictor, problem = await anyio.to_thread.run_sync(load_checked, self.path)
            except ArtifactError as exc:
                problem = str(exc)
            if problem is not None:
                current = getattr(self.state.predictor, "version", None)
                log.error("model reload refused, still serving %s: %s", current, problem)
                RELOADS.labels("refused").inc()
                return problem
            put_in_service(self.state, predictor)
            RELOADS.labels("loaded").inc()
            log.info("model %s loaded from %s (reload)", predictor.version, self.path)
            return None
