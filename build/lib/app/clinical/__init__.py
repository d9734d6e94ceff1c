"""Clinical integration: the service's inputs read from FHIR resources as an
EHR holds them (`fhir_inputs`), the answer as a FHIR RiskAssessment and a
CDS Hooks card, and the CDS Hooks and FHIR routes with the EHR's signed JWTs.

Must not import the connection guards (`app.guards`), the Open Inference
Protocol (`app.v2`) or `app.main`.
"""

FORBIDDEN = ("app.guards", "app.v2", "app.main")
