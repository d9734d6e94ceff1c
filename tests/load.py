"""A load for the record's fault tests: clients posting /predict in threads,
round-robin over one or more servers, until stopped; every answer kept."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import NamedTuple

import httpx

from model.features import EXAMPLE_PATIENT


class Answer(NamedTuple):
    url: str
    status: int
    request_id: str | None


class Load:
    """`with Load([url]) as load:` 8 clients until the block ends;
    `load.answers` holds every answer received (a connection refused, e.g.
    by a server killed on purpose, ends that client)."""

    def __init__(self, urls: list[str], clients: int = 8) -> None:
        self.urls, self.answers = urls, list[Answer]()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def _client(self, index: int) -> None:
        with httpx.Client(timeout=30) as http:
            turn = index
            while not self._stop.is_set():
                url = self.urls[turn % len(self.urls)]
                turn += 1
                try:
                    r = http.post(f"{url}/predict", json=EXAMPLE_PATIENT)
                except httpx.HTTPError:
                    return  # the server is gone
                self.answers.append(Answer(url, r.status_code, r.headers.get("x-request-id")))

    def ok(self) -> list[str]:
        """The request ids of the 200s received."""
        return [a.request_id for a in self.answers if a.status == 200 and a.request_id]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
