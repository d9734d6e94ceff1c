"""The risk page for clinicians (`/app`), launched from the EHR with SMART on
FHIR (`/smart/launch`, `/smart/callback`), or standalone for local
development: the chart's values, the answer with its interval, reasons and
what measuring a missing input would do, and what-ifs. docs/smart-launch.md
tells the launch step by step.

Must not import the connection guards (`app.guards`), the Open Inference
Protocol (`app.v2`) or `app.main`.
"""

FORBIDDEN = ("app.guards", "app.v2", "app.main")
