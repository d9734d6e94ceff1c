"""What the load test and the benchmark share: starting a server on one core,
driving it with wrk on another, reading its memory.

Everything stays on the loopback interface, every run is bounded in time,
and every process started here is stopped here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from model.features import EXAMPLE_PATIENT, FEATURE_NAMES

ROOT = Path(__file__).resolve().parent.parent


def model_path() -> Path:
    """The artifact the benchmarks serve: MODEL_PATH, else the trained one."""
    return Path(os.environ.get("MODEL_PATH", ROOT / "artifacts" / "model.pkl"))


SERVER_CORE = "0"
LOAD_CORE = "1"

BATCH = 100
"""Patients in one /predict/batch request of the load test and the benchmark."""
SINGLE_BODY = json.dumps(EXAMPLE_PATIENT).encode()
BATCH_BODY = json.dumps({"patients": [EXAMPLE_PATIENT] * BATCH}).encode()
ROW = [float(EXAMPLE_PATIENT[f]) for f in FEATURE_NAMES]
"""The example patient as a row, in FEATURE_NAMES order."""


def v2_body(tensor: str, n: int, outputs: list[dict[str, str]] | None = None) -> bytes:
    """An Open Inference Protocol (V2) JSON request: `n` example patients in
    one FP64 tensor named `tensor`, shape [n, 13]; every output when
    `outputs` is None."""
    request: dict[str, Any] = {
        "inputs": [{"name": tensor, "datatype": "FP64", "shape": [n, 13], "data": ROW * n}]
    }
    if outputs is not None:
        request["outputs"] = outputs
    return json.dumps(request).encode()


# wrk posts the body read from a file ...
WRK_POST = """
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"""
# ... and prints its summary as one JSON line.
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    """wrk's socket errors by kind: connect, read, write, timeout."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian's package)")
    return path


def cpu_pin(core: str) -> list[str]:
    """`taskset -c core` when the machine has taskset and more than one core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core]
    return []


def run_wrk(
    url: str, body: bytes | None, connections: int, seconds: int, timeout: str = "5s"
) -> Load:
    """Drive `url` with wrk (one thread, on LOAD_CORE): POST `body` as JSON,
    or GET when `body` is None; parse its summary."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body or b"")
        script.write_text((WRK_POST if body is not None else "") + WRK_DONE)
        out = subprocess.run(
            [
                *cpu_pin(LOAD_CORE),
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                timeout,
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
            env={**os.environ, "WRK_BODY": str(body_path)},
        ).stdout
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return Load(
        requests=stats["requests"],
        seconds=stats["duration_us"] / 1e6,
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        non_2xx=stats["non_2xx"],
        socket_errors=stats["socket_errors"],
        error_kinds={k: stats[k] for k in ("connect", "read", "write", "timeout") if stats[k]},
    )


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes, in MiB (Linux /proc)."""
    total_kib = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True
    ).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    seconds_to_first_answer: float

    @property
    def pids(self) -> list[int]:
        return process_tree(self.process.pid)


@contextmanager
def started(
    command: list[str],
    check: Any,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    pin: bool = True,
) -> Iterator[Started]:
    """Start `command` (pinned to SERVER_CORE), wait until `check()` is true,
    yield, then stop it with SIGTERM (SIGKILL after 15 s)."""
    begin = time.monotonic()
    process = subprocess.Popen(
        [*(cpu_pin(SERVER_CORE) if pin else []), *command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            try:
                if check():
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            if time.monotonic() - begin > timeout:
                raise TimeoutError(f"{' '.join(command)} did not answer in {timeout} s")
            time.sleep(0.02)
        yield Started(process, time.monotonic() - begin)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
