"""Dependencies the routes declare: the predictor. (Who may call a route is
its policy, `app.policy`; the content type and size of a body are checked
earlier, by `app.guards.middleware.JsonBodyGuard`. The prediction routes call
`get_predictor` themselves rather than declare it: solving a dependency
costs a noticeable part of a request; see docs/performance.md.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.errors import NOT_LOADED, ApiError
from model.serving import Predictor


async def get_predictor(request: Request) -> Predictor:
    predictor: Predictor | None = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise ApiError(NOT_LOADED)
    return predictor


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
