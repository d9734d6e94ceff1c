"""The service's own HTTP API: the scoring and operations routes, what they
accept (`schemas`) and answer (`answer_models`, `answers`), and the error handlers.

Must not import the Open Inference Protocol (`app.v2` builds on this package) or `app.main`.
"""

FORBIDDEN = ("app.v2", "app.main")
