"""The garbage collector, told what lives as long as the app, and how often
to look at what requests make.

`freeze()`, once start-up is done, moves every object then alive into the
permanent generation (`gc.freeze`), so that a full collection walks only
what requests made, and raises the young generation's threshold to
YOUNG_THRESHOLD (requests waiting for their record's commit keep objects
alive across collections). `thaw()`, at shutdown, undoes both. What they
buy: docs/performance.md, "The garbage collector"."""

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
