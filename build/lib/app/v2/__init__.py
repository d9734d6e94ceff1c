"""The Open Inference Protocol (V2, REST): tensors in and out, the routes,
their OpenAPI; each row validated by `app.api.schemas` as /predict validates it.

Must not import the connection guards (`app.guards`) or `app.main`.
"""

FORBIDDEN = ("app.guards", "app.main")
