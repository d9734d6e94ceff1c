"""What the service tells its operators: one event per answered request
(`events`, `telemetry`), JSON log lines (`logs`), Prometheus metrics and /metrics.

Must not import any other part of the app (everything may import this package).
"""

FORBIDDEN = (
    "app.api",
    "app.v2",
    "app.guards",
    "app.main",
    "app.config",
    "app.errors",
    "app.deps",
    "app.keys",
    "app.reload",
)
