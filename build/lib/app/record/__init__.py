"""The record: every scoring answer kept, durable before it leaves
(`recorder`, group commit), in a hash chain (`store`).

Must not import the HTTP API (`app.api` records through this package), the
clinical routes, the connection guards, the Open Inference Protocol or
`app.main`.
"""

FORBIDDEN = ("app.api", "app.clinical", "app.guards", "app.v2", "app.main")
