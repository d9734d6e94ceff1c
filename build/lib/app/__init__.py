"""The FastAPI service. The ASGI app is `app.main:app`; `python -m app` serves it.

One package per concern, each with its own rule on what it must not import
(`FORBIDDEN` in its `__init__`, held by tests/test_layout.py):

- `app.api`: the service's own routes (/predict, /explain, /model, /health,
  /ready, the docs page), their request and answer models, error handlers.
- `app.v2`: the Open Inference Protocol (V2): tensors, routes, OpenAPI.
- `app.guards`: what protects the app from clients (uvicorn's HTTP protocol
  with timeouts and shedding at the door, admission, middleware, hostile bodies).
- `app.observability`: request log lines, JSON logs, Prometheus metrics.
- `app.clinical`: clinical integration: FHIR inputs, CDS Hooks, `$assess`.
- `app.record`: the durable record of every answer, and its monitoring.

Beside them, shared by all: `config` (settings), `errors` (the one error
shape; imports nothing of the app), `policy` (every route's declared
policy, and `enforce`), `keys` and `deps` (API keys, the predictor),
`reload` (SIGHUP), and `main`, which wires it all.
"""
