"""The garbage collector, told what lives as long as the app, and how often
to look at what requests make.

`freeze()`, called once start-up is done (the modules, the routes, the
model), moves every object then alive into the collector's permanent
generation (`gc.freeze`): a full collection then walks only what requests
made since, not the libraries' and the model's objects, and no longer
pauses every request in flight for tens of milliseconds. It also raises
the youngest generation's threshold to YOUNG_THRESHOLD allocations: a
request waiting for its record's commit keeps its objects alive across
collections, and at Python's default (700) that made a young collection
every few milliseconds under load, each walking every request in flight.
`thaw()`, at shutdown, gives both back, so that an app stopped inside a
longer-lived process (the tests') can be collected. What they buy:
docs/performance.md ("The garbage collector").
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
_DEFAULT = gc.get_threshold()


def freeze() -> None:
    """Collect what start-up left, freeze what remains, and collect the
    young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *_DEFAULT[1:])


def thaw() -> None:
    """Make the frozen objects collectable again, at the default thresholds."""
    gc.unfreeze()
    gc.set_threshold(*_DEFAULT)
