"""Reading Prometheus exposition text in tests."""

from __future__ import annotations


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the first sample `name{...}` whose labels include
    `labels`; 0.0 when there is none (a counter not yet incremented)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
