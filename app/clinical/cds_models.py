"""What the CDS Hooks routes accept and answer (CDS Hooks 2.0), as pydantic
models: the call, the feedback, and the discovery and card documents (for
the OpenAPI page; the card itself is built by `app.clinical.card`).

A call or feedback that breaks these rules is answered 400 naming the field
(`app.clinical.cds_routes`), as the spec's own errors are.
"""

# ruff: noqa: N815  (the field names are the CDS Hooks wire format's)
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"


class Context(BaseModel):
    """The patient-view hook's context: the patient, and who is looking."""

    model_config = ConfigDict(extra="allow")
    patientId: str = Field(pattern=FHIR_ID, description="The FHIR id of the patient in view.")
    userId: str | None = Field(None, description="Who is looking, e.g. Practitioner/123.")
    encounterId: str | None = None


class FhirAuthorization(BaseModel):
    """The bearer token for the EHR's FHIR server (never logged)."""

    model_config = ConfigDict(extra="allow")
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks call (`hook` must be `patient-view`)."""

    model_config = ConfigDict(extra="allow")  # e.g. `extension`, reserved by the spec
    hook: Literal["patient-view"]
    hookInstance: str = Field(min_length=1)
    context: Context
    fhirServer: AnyHttpUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    prefetch: dict[str, Any] | None = Field(
        None, description="The prefetch keys the EHR filled: a resource, a Bundle, or null."
    )

    @model_validator(mode="after")
    def _server_with_token(self) -> CdsRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required with fhirAuthorization")
        return self


class Coding(BaseModel):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(BaseModel):
    reason: Coding | None = None
    userComment: str | None = None


class AcceptedSuggestion(BaseModel):
    id: str = Field(min_length=1)


class Feedback(BaseModel):
    """What the clinician did with a card."""

    model_config = ConfigDict(extra="forbid")
    card: str = Field(min_length=1, description="The card's uuid.")
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(None, min_length=1)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime

    @model_validator(mode="after")
    def _consistent(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is accepted")
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is only for an accepted outcome")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only for an overridden outcome")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp needs a time zone (UTC, e.g. ...T10:05:31Z)")
        return self


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedback: list[Feedback] = Field(min_length=1, max_length=100)


class FeedbackReceived(BaseModel):
    received: int = Field(description="How many feedback entries were recorded.")


class Service(BaseModel):
    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str]
    usageRequirements: str


class Discovery(BaseModel):
    services: list[Service]


class Source(BaseModel):
    label: str
    url: str


class Action(BaseModel):
    type: Literal["create"]
    description: str
    resource: dict[str, Any]


class Suggestion(BaseModel):
    label: str
    uuid: str
    actions: list[Action]


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    source: Source
    detail: str
    selectionBehavior: Literal["at-most-one"]
    suggestions: list[Suggestion]


class CdsResponse(BaseModel):
    cards: list[Card]
