"""The garbage collector, told what lives as long as the app.

`freeze()`, called once start-up is done (the modules, the routes, the
model), moves every object then alive into the collector's permanent
generation (`gc.freeze`): a full collection then walks only what requests
made since, not the libraries' and the model's objects, and no longer
pauses every request in flight for tens of milliseconds. `thaw()`, at
shutdown, gives them back, so that an app stopped inside a longer-lived
process (the tests') can be collected. What it buys: docs/performance.md
("The garbage collector").
"""

from __future__ import annotations

import gc


def freeze() -> None:
    """Collect what start-up left, then freeze what remains."""
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """Make the frozen objects collectable again."""
    gc.unfreeze()
