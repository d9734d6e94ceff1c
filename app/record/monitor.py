"""What the model sees, from the record: each input's drift against the
training data (Kolmogorov-Smirnov or chi-squared, Bonferroni over the 13;
PSI as a figure), missing values, warnings, the probabilities given, and,
for answers with an outcome (POST /outcomes), AUC, Brier score and
calibration. No verdict from fewer than MIN_ROWS values. The methods:
docs/record.md, "Monitoring".

`report` is plain NumPy/SciPy on rows; `Monitor` runs it in the background
every MONITOR_INTERVAL seconds over the last MONITOR_WINDOW answers, never
on a request: GET /monitoring reads its latest report."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np

from app.observability.metrics import DRIFT_P, DRIFT_PSI
from app.record.answers import recent
from app.record.rows import answer_of, values_of
from app.record.store import Store, StoreError
from model.features import FEATURE_NAMES, FEATURES, THRESHOLD
from model.recalibration import calibration_intercept_slope

log = logging.getLogger("app")

ALPHA = 0.05
MIN_ROWS = 50
PSI_FLOOR = 1e-4  # a bin's share, at least, so that empty bins stay finite
NUMERIC = frozenset(f.name for f in FEATURES if f.codes is None)


def _stats() -> Any:
    """scipy.stats: imported as soon as the monitor starts (the record on),
    not by the first report with answers, whose import (most of a second of
    CPU) would stall a loaded worker; never with the record off."""
    from scipy import stats

    return stats


def report(
    rows: list[dict[str, Any]], reference: np.ndarray, outcomes: dict[str, int]
) -> dict[str, Any]:
    """The monitoring report of `rows` (the record's answers, one per
    patient, newest last: `app.record.answers.recent`) against
    `reference` (the training rows, FEATURE_NAMES order); `outcomes` maps
    recorded answer ids to what was later found."""
    inputs, probabilities, warnings, ids = _parsed(rows)
    drift = {
        name: _drift(name, reference[:, i], inputs[:, i]) for i, name in enumerate(FEATURE_NAMES)
    }
    counted = [d for d in drift.values() if d["drifted"] is not None]
    return {
        "computed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),  # as every time
        "rows": len(rows),
        "inputs_hashed": len(rows) > 0 and len(inputs) == 0,
        "alpha": ALPHA,
        "bonferroni_alpha": ALPHA / len(FEATURE_NAMES),
        "drift": drift,
        "drifted": [n for n, d in drift.items() if d["drifted"]] if counted else None,
        "missing_share": {
            name: (float(np.mean(np.isnan(inputs[:, i]))) if len(inputs) else None)
            for i, name in enumerate(FEATURE_NAMES)
        },
        "warning_share": {code: n / len(rows) for code, n in sorted(warnings.items())},
        "probabilities": _distribution(probabilities),
        "performance": _performance(ids, probabilities, outcomes),
    }


def _parsed(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, dict[str, int], list[str]]:
    values, probabilities, ids = [], [], []
    warnings: dict[str, int] = {}
    for row in rows:
        answer = answer_of(row["outputs"])
        if "probability" not in answer:
            continue
        probabilities.append(float(answer["probability"]))
        ids.append(row["id"])
        for w in answer.get("warnings", []):
            warnings[w["code"]] = warnings.get(w["code"], 0) + 1
        given = values_of(row["inputs"])
        if given is not None:
            values.append([np.nan if (v := given[n]) is None else float(v) for n in FEATURE_NAMES])
    matrix = np.array(values, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    return matrix, np.array(probabilities), warnings, ids


def _drift(name: str, reference: np.ndarray, live: np.ndarray) -> dict[str, Any]:
    live = live[~np.isnan(live)]
    if len(live) < MIN_ROWS:
        return {"test": None, "n": len(live), "p_value": None, "psi": None, "drifted": None}
    if name in NUMERIC:
        test, p = "ks", float(_stats().ks_2samp(reference, live).pvalue)
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, 11)[1:-1]))
        ref_share, live_share = _shares(np.digitize(reference, edges), np.digitize(live, edges))
    else:
        test = "chi2"
        ref_share, live_share = _shares(reference, live)
        codes = np.union1d(reference, live)
        table = np.array(
            [[np.sum(reference == c) for c in codes], [np.sum(live == c) for c in codes]]
        )
        table = table[:, table.sum(axis=0) > 0]
        p = float(_stats().chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    psi = float(np.sum((live_share - ref_share) * np.log(live_share / ref_share)))
    bonferroni = ALPHA / len(FEATURE_NAMES)
    return {"test": test, "n": len(live), "p_value": p, "psi": psi, "drifted": p < bonferroni}


def _shares(reference: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's share in the two samples (bins: the values seen in either)."""
    bins = np.union1d(reference, live)
    ref = np.array([np.mean(reference == b) for b in bins])
    now = np.array([np.mean(live == b) for b in bins])
    return np.maximum(ref, PSI_FLOOR), np.maximum(now, PSI_FLOOR)


def _distribution(p: np.ndarray) -> dict[str, Any]:
    if len(p) == 0:
        return {"n": 0}
    counts, _ = np.histogram(p, bins=10, range=(0.0, 1.0))
    q10, q50, q90 = (float(v) for v in np.quantile(p, [0.1, 0.5, 0.9]))
    return {
        "n": len(p),
        "mean": float(np.mean(p)),
        "p10": q10,
        "median": q50,
        "p90": q90,
        "histogram": [int(c) for c in counts],
        "share_presence": float(np.mean(p >= THRESHOLD)),
    }


def _performance(ids: list[str], p: np.ndarray, outcomes: dict[str, int]) -> dict[str, Any]:
    known = [(prob, outcomes[i]) for i, prob in zip(ids, p, strict=True) if i in outcomes]
    out: dict[str, Any] = {"n": len(known)}
    y = np.array([o for _, o in known], dtype=np.float64)
    if len(known) < MIN_ROWS or y.min() == y.max():
        return out  # no verdict: too few, or one class only
    q = np.clip(np.array([prob for prob, _ in known]), 1e-12, 1 - 1e-12)
    out["auc"] = float(
        _stats().mannwhitneyu(q[y == 1], q[y == 0]).statistic / (y.sum() * (1 - y).sum())
    )
    out["brier"] = float(np.mean((q - y) ** 2))
    out["calibration_intercept"], out["calibration_slope"] = calibration_intercept_slope(y, q)
    return out


class Monitor:
    """The latest report over the last `window` answers, computed every
    `interval` seconds in a worker thread; Prometheus gauges follow it."""

    def __init__(
        self,
        store: Store | None,
        window: int,
        interval: float,
        reference: Callable[[], np.ndarray | None],
    ) -> None:
        """`reference()`: the training rows of the model in service (or None)."""
        self.store, self.window, self.interval = store, window, interval
        self.reference = reference
        self.latest: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        if self.store is not None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        """Stop once a report being computed is done: never cancelled in the
        middle, since its worker thread would go on using a connection of
        the store, which is closed next (and SQLite would crash)."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None

    async def refresh(self) -> dict[str, Any]:
        """Compute the report now (the background loop calls this)."""
        reference = self.reference()
        if self.store is None or reference is None:
            raise ValueError("no record, or no model in service")
        rows, outcomes = await anyio.to_thread.run_sync(recent, self.store, self.window)
        latest = await anyio.to_thread.run_sync(report, rows, reference, outcomes)
        latest["window"] = self.window
        self.latest = latest
        for name, d in latest["drift"].items():
            if d["p_value"] is not None:
                DRIFT_P.labels(name).set(d["p_value"])
                DRIFT_PSI.labels(name).set(d["psi"])
        return latest

    async def _forever(self) -> None:
        await anyio.to_thread.run_sync(_stats)  # now, not under load (`_stats`)
        while not self._stop.is_set():
            try:
                await self.refresh()
            except (StoreError, ValueError, KeyError) as exc:
                log.warning("monitoring not refreshed: %s", exc)
            with anyio.move_on_after(self.interval):
                await self._stop.wait()
