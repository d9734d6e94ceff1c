"""The benchmark's own logic (not timings: those are `make bench`'s job)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from benchmarks import asgi, cds
from benchmarks.contenders import raw_asgi
from benchmarks.contenders.factories import Contender
from benchmarks.harness import Load
from benchmarks.report import table, verdicts
from benchmarks.side_by_side import combined


def _load(requests: int, seconds: float, p50: float, p99: float, non_2xx: int = 0) -> Load:
    return Load(requests, seconds, p50, p99, non_2xx, 0)


def test_alternating_slices_add_up_requests_and_take_median_latencies() -> None:
    slices = [
        _load(100, 1.0, 2.0, 9.0),
        _load(300, 1.0, 1.0, 5.0, non_2xx=1),
        _load(200, 2.0, 3.0, 4.0),
    ]
    total = combined(slices)
    assert (total.requests, total.seconds, total.rps) == (600, 4.0, 150.0)
    assert (total.p50_ms, total.p99_ms, total.non_2xx) == (2.0, 5.0, 1)


def _figures(rps: float, rows: float, p99: float, start: float, rss: float) -> dict[str, Any]:
    return {
        "single": _load(int(rps * 10), 10.0, 1.0, p99),
        "batch": _load(int(rows / 100 * 10), 10.0, 1.0, 1.0),
        "start_s": start,
        "rss_mib": rss,
    }


def test_verdicts_compare_ratios_with_the_targets() -> None:
    by_name = {
        "this service, 1 worker": _figures(4200, 130_000, 6.0, 0.5, 66),
        "ceiling": _figures(5000, 120_000, 5.0, 0.5, 50),
        "mlserver": _figures(1200, 100_000, 24.0, 2.0, 205),
        "this service, V2": _figures(3500, 140_000, 7.0, 0.5, 66),
    }
    lines = verdicts(by_name, {"speedup_1": 40.0})
    met = {
        line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
        for line in lines[2:]
    }
    assert met["/predict requests/s >= 0.85 x ceiling"] == "no"  # 0.84
    assert met["batch rows/s >= 1.2 x MLServer"] == "yes"  # 1.30
    assert met["/predict p99 <= 0.5 x MLServer"] == "yes"  # 0.25
    assert met["V2 infer, 1 patient, requests/s >= 3 x MLServer"] == "no"  # 2.92
    assert met["V2 infer, 100 patients, rows/s >= 1.5 x MLServer"] == "no"  # 1.40
    assert list(met.values()).count("no") == 3


def test_the_table_shows_each_rows_share_of_the_raw_asgi_limit() -> None:
    limit = Contender("raw", 1, [], {}, ("/", b""), ("/", b""), lambda r: None)
    ours = Contender("ours", 2, [], {}, ("/", b""), ("/", b""), lambda r: None)
    limit.results[0] = {**_figures(8000, 400_000, 3.0, 0.1, 30), "processes": 1}
    ours.results[0] = {**_figures(4000, 100_000, 6.0, 0.5, 66), "processes": 1}
    rows = table([ours, limit], 0, limit)
    assert rows[2].endswith("| 0.50 / 0.25 |")
    assert rows[3].endswith("| 1.00 / 1.00 |")


def test_the_raw_asgi_app_answers_any_request_after_reading_its_body() -> None:
    client = TestClient(raw_asgi.app)
    r = client.post("/v2/models/x/infer", content=b"x" * 100_000)
    assert r.status_code == 200 and r.json() == {"probability": 0.5, "class": 1}


@pytest.mark.slow
def test_the_asgi_benchmark_drives_both_apps_and_the_v2_route(artifact_path: Path) -> None:
    best = asgi.run(artifact_path, rounds=1)  # raises unless every answer is 200
    assert set(best) == {"ceiling app", "this service", "this service, V2 infer"}
    for figures in best.values():
        assert set(figures) == {"one patient", "batch of 100"}
        assert all(us > 0 for us in figures.values())
    assert asgi.table(best)[2].startswith("| ceiling app | ")


@pytest.mark.slow  # runs shap's explainers
def test_the_explain_benchmark_checks_agreement_and_reports_speedups(artifact_path: Path) -> None:
    from benchmarks import explain

    figures = explain.measure(artifact_path)  # asserts agreement with ExactExplainer itself
    assert figures["ours_s"] > 0 and figures["background"] >= 20
    assert figures["speedup_exact"] > 1  # an exact method that is not faster would be pointless
    assert figures["kernel_max_abs_error"] >= 0
    text = "\n".join(explain.table(figures))
    assert "ExactExplainer" in text and "KernelExplainer" in text


def test_the_cds_benchmark_calls_with_and_without_prefetch_and_judges_at_one_connection() -> None:
    calls, resources = cds.bodies("http://127.0.0.1:1")
    with_prefetch, without = (json.loads(b) for b in calls.values())
    assert "fhirServer" not in with_prefetch and len(with_prefetch["prefetch"]) == 12
    assert "prefetch" not in without and without["fhirServer"] == "http://127.0.0.1:1"
    kinds = sorted(r["resourceType"] for r in resources)
    assert kinds == ["Observation"] * 11 + ["Patient"]

    def load(p99: float) -> Load:
        return Load(requests=100, seconds=1.0, p50_ms=p99 / 2, p99_ms=p99, non_2xx=0,
                    socket_errors=0, error_kinds={})  # fmt: skip

    names = list(cds.TARGETS_MS)
    lines = cds.section({(names[0], 1): load(19.0), (names[0], 4): load(50.0),
                         (names[1], 1): load(101.0)})  # fmt: skip
    rows = [
        line
        for line in lines
        if line.startswith(f"| {names[0]}") or line.startswith(f"| {names[1]}")
    ]
    assert "<= 20 ms, met" in rows[0] and "<= 20 ms, -" in rows[1] and "NOT met" in rows[2]


def test_the_heavy_batch_section_judges_p99_503s_and_the_per_patient_cost() -> None:
    from benchmarks import heavy

    def result(p99: float, non_2xx: int, batched: float) -> dict[str, Any]:
        return {
            "alone": Load(10_000, 10.0, 0.5, 5.0, 0, 0),
            "beside": Load(5_000, 10.0, 0.9, p99, non_2xx, 0),
            "batch_seconds": 1.2, "batches": 8, "batch_statuses": [200],
            "in_process": {"batched": batched, "alone": 4 * batched},
        }  # fmt: skip

    good = "\n".join(heavy.section(result(40.0, 0, 0.25e-3)))
    assert "p99 beside the batches / alone: 8.00x" in good
    assert "no 503: met" in good and "batched: met" in good and "(4.0x)" in good
    assert "no 503: NOT met" in "\n".join(heavy.section(result(40.0, 3, 0.25e-3)))
    assert "no 503: NOT met" in "\n".join(heavy.section(result(140.0, 0, 0.25e-3)))
    assert "batched: NOT met" in "\n".join(heavy.section(result(40.0, 0, 0.35e-3)))


def test_the_record_section_judges_each_mode_and_reports_the_noise_control() -> None:
    from benchmarks import record

    def server(rps: float, rows: float) -> dict[str, Any]:
        batches = _load(int(rows / 10), 10.0, 1.0, 1.0)  # rows / 100 batches a second
        return {"single": _load(int(rps * 10), 10.0, 1.0, 5.0), "batch": batches}

    off, strict, behind, control = (
        server(*f) for f in ((1000, 5e4), (860, 29e3), (910, 36e3), (960, 52e3))
    )
    text = "\n".join(record.section([off, strict, behind, control], 16))
    assert (
        "Strict / off: /predict requests/s 0.86 (goal >= 0.85: met); batch rows/s 0.58 (goal"
        in text
    )
    assert (
        "Async / off: /predict requests/s 0.91 (goal >= 0.92: NOT met); batch rows/s 0.72" in text
    )
    assert "| off again (the noise control) | 960 |" in text and "PostgreSQL /" not in text
    assert "measured 0.96 of the first's /predict requests/s and 1.04 of its batch rows/s" in text
    postgres = server(700, 31e3)
    with_pg = "\n".join(record.section([off, strict, behind, postgres, control], 16))
    assert "Strict, PostgreSQL / off: /predict requests/s 0.70 (goal >= 0.85: NOT met)" in with_pg
    assert "measured 0.96 of the first's" in with_pg


def test_varied_rows_cycle_the_named_missing_patterns() -> None:
    from benchmarks.heavy import varied_rows
    from scripts.evaluate_missing import PATTERNS

    rows = varied_rows(16)
    named = [fields for fields in PATTERNS.values() if fields]
    assert [int(np.isnan(r).sum()) for r in rows[: len(named)]] == [len(f) for f in named]


def test_the_page_section_judges_p50s_and_gives_ratios_to_explain() -> None:
    from benchmarks import page

    times = {"callback to rendered page": [100.0] * 9 + [900.0],
             "what-if update": [20.0, 40.0, 40.0], "/explain": [20.0] * 5}  # fmt: skip
    rows = [line for line in page.section(times) if line.startswith("| ")][1:]
    assert rows[0].startswith("| callback to rendered page | 10 | 100.0 ms")
    assert "5.00x" in rows[0] and "<= 150 ms, met" in rows[0]
    assert "| 40.0 ms |" in rows[1] and "2.00x" in rows[1] and "<= 30 ms, NOT met" in rows[1]
    assert rows[2].startswith("| /explain (the baseline) | 5 | 20.0 ms")


def test_record_cpu_reads_each_threads_cpu_and_reports_against_the_record_off() -> None:
    import os

    from benchmarks.record_cpu import report, threads

    mine = threads(os.getpid())  # this process, read from /proc
    assert all(user >= 0 and system >= 0 for user, system in mine.values())
    assert sum(map(sum, mine.values())) > 0  # the tests have run for a while
    results = [
        {"server": "record off (AUDIT=off)", "load": "single", "rps": 100.0,
         "us": {"python": (300.0, 100.0)}},
        {"server": "record on, strict", "load": "single", "rps": 80.0,
         "us": {"python": (400.0, 100.0), "record-writer_0": (80.0, 20.0)}},
    ]  # fmt: skip
    off, strict = report(results)[2:]
    assert off.endswith("| 1.00 |") and "python 300 + 100" in off
    assert strict.endswith("| 1.50 |") and "record-writer_0 80 + 20" in strict


def test_record_append_times_each_phase_of_real_commits(tmp_path: Path) -> None:
    from app.record.sqlite import SqliteStore
    from benchmarks.record_append import PHASES, ROWS, phases, report

    spent = phases(tmp_path / "r.sqlite3", True, commits=3, before=2)
    assert list(spent) == list(PHASES) and all(us >= 0 for us in spent.values())
    assert sum(spent.values()) > 0
    store = SqliteStore(tmp_path / "r.sqlite3")
    store.open()
    assert store.verify() == (5 * ROWS, None)  # the commits measured are the record's own
    store.close()
    lines = report(dict.fromkeys(PHASES, 2.0), dict.fromkeys(PHASES, 1.0))
    assert lines[2] == "| lock | 2.0 | 1.0 | 0.50 |"
    assert lines[-1] == "| total | 10.0 | 5.0 | 0.50 |"
    header = report(spent, spent, ("synchronous=FULL", "synchronous=OFF"))[0]
    assert header == "| phase | synchronous=FULL, us a row | synchronous=OFF | ratio |"


def test_record_append_measures_unflushed_commits_of_whole_chained_rows(tmp_path: Path) -> None:
    from app.record.sqlite import SqliteStore
    from benchmarks.record_append import PHASES, ROWS, phases

    spent = phases(tmp_path / "off.sqlite3", True, commits=3, before=2, durable=False)
    assert list(spent) == list(PHASES) and sum(spent.values()) > 0
    store = SqliteStore(tmp_path / "off.sqlite3")
    store.open()
    assert store.verify() == (5 * ROWS, None)  # the same rows and chain, only not flushed
    store.close()


def test_each_contender_comes_after_each_other_equally_often() -> None:
    from collections import Counter

    from benchmarks.side_by_side import slice_order

    for n in (2, 3, 4, 5):
        rounds = n if n % 2 == 0 else 2 * n
        orders = [slice_order(n, k) for k in range(rounds)]
        assert all(sorted(o) == list(range(n)) for o in orders)  # each loaded once a slice
        after = Counter((o[i], o[i + 1]) for o in orders for i in range(n - 1))
        assert set(after) == {(a, b) for a in range(n) for b in range(n) if a != b}
        assert len(set(after.values())) == 1, (n, after)
    assert slice_order(1, 3) == [0]
