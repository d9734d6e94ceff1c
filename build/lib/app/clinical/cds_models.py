"""What the CDS Hooks routes accept and answer (CDS Hooks 2.0), as pydantic
models: the call, the feedback, and the discovery and card documents (for
the OpenAPI page; the card itself is built by `app.clinical.card`).

A call or feedback that breaks these rules is answered 400 naming the field
(`app.clinical.cds_routes`), as the spec's own errors are.
"""

# ruff: noqa: N815  (the field names are the CDS Hooks wire format's)
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"


def _not_null(data: Any, fields: tuple[str, ...]) -> Any:
    """CDS Hooks: "JSON elements SHALL NOT be null"; an optional one is left out."""
    if isinstance(data, dict):
        nulls = [f for f in fields if f in data and data[f] is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} must be left out, not null")
    return data


class Context(BaseModel):
    """The patient-view hook's context: the patient, and who is looking."""

    model_config = ConfigDict(extra="allow", strict=True)
    patientId: str = Field(pattern=FHIR_ID, description="The FHIR id of the patient in view.")
    userId: str | None = Field(None, description="Who is looking, e.g. Practitioner/123.")
    encounterId: str | None = None


class FhirAuthorization(BaseModel):
    """The bearer token for the EHR's FHIR server (never logged)."""

    model_config = ConfigDict(extra="allow", strict=True)
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks call (`hook` must be `patient-view`)."""

    # Extra fields allowed (e.g. `extension`, reserved by the spec); the
    # schema says what the checks below say: a token needs its server.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"dependentRequired": {"fhirAuthorization": ["fhirServer"]}},
    )
    hook: Literal["patient-view"]
    hookInstance: str = Field(min_length=1)
    context: Context
    fhirServer: AnyHttpUrl | SkipJsonSchema[None] = None
    fhirAuthorization: FhirAuthorization | SkipJsonSchema[None] = None
    prefetch: dict[str, Any] | None = Field(
        None, description="The prefetch keys the EHR filled: a resource, a Bundle, or null."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _not_null(data, ("fhirServer", "fhirAuthorization"))

    @model_validator(mode="after")
    def _server_with_token(self) -> CdsRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required with fhirAuthorization")
        return self


class Coding(BaseModel):
    model_config = ConfigDict(strict=True)
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(BaseModel):
    model_config = ConfigDict(strict=True)
    reason: Coding | None = None
    userComment: str | None = None


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(strict=True)
    id: str = Field(min_length=1)


class Feedback(BaseModel):
    """What the clinician did with a card."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"allOf": [{
        "if": {"properties": {"outcome": {"const": "accepted"}}},
        "then": {"required": ["acceptedSuggestions"], "not": {"required": ["overrideReason"]}},
        "else": {"not": {"required": ["acceptedSuggestions"]}},
    }]})  # fmt: skip
    card: str = Field(min_length=1, description="The card's uuid.")
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: (
        Annotated[list[AcceptedSuggestion], Field(min_length=1)] | SkipJsonSchema[None]
    ) = Field(None, description="Required for `accepted`, only for `accepted`.")
    overrideReason: OverrideReason | SkipJsonSchema[None] = Field(
        None, description="Only for `overridden`."
    )
    outcomeTimestamp: Annotated[AwareDatetime, Field(strict=False)]

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _not_null(data, ("acceptedSuggestions", "overrideReason"))

    @field_validator("outcomeTimestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(
                "outcomeTimestamp must be an RFC 3339 string, e.g. 2021-12-11T10:05:31Z"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is accepted")
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is only for an accepted outcome")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only for an overridden outcome")
        return self


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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


class Link(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = Field(
        None, description="Handed by the EHR to the launched app: the card's uuid."
    )


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    source: Source
    detail: str
    selectionBehavior: Literal["at-most-one"]
    suggestions: list[Suggestion]
    links: list[Link] | None = Field(
        None, description="With SMART_CLIENTS_FILE set: the risk page, as a SMART app to launch."
    )


class CdsResponse(BaseModel):
    cards: list[Card]
