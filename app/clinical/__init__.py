"""Clinical integration: the service's inputs read from FHIR resources as an
EHR holds them (`fhir_inputs`); CDS Hooks and FHIR routes will live here too.

Must not import the connection guards (`app.guards`), the Open Inference
Protocol (`app.v2`) or `app.main`.
"""

FORBIDDEN = ("app.guards", "app.v2", "app.main")
