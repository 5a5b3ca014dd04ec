"""Admin routes behind ``Authorization: Bearer <STREAMREC_ADMIN_TOKEN>``.

No header or another scheme → 401; a wrong token → 403 (compared in constant time);
no token configured → 403 ``admin_disabled`` whatever is sent (:mod:`api.auth`). Activation and rollback
change the active row, then announce it on ``model-events`` so the fan-out agent
recomputes everyone's suggestions (Kafka is checked first: no change without the event).
A version whose artifact is missing or fails its sha256 check is refused (409) and the
active model keeps serving. The API reads artifacts as workers do: its own
STREAMREC_MODEL_DIR (a cache) first, else Postgres's copy.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.auth import admin_services
from api.errors import ApiError
from api.models import ActiveModel, Models, ModelVersion, RetrainRequested, json_response
from api.services import Services
from infra.repositories import models as models_repo
from infra.repositories.models import UnknownModelVersion
from infra.shared_models import SharedModelStore
from ml.errors import InvalidModelVersion, ModelIntegrityError
from ml.model_store import ModelStore
from streams import model_admin

# The artifact of the version to activate failed its check: nothing changed.
REFUSED = (ModelIntegrityError, InvalidModelVersion)


def _store(services: Services) -> SharedModelStore:
    return SharedModelStore(ModelStore(services.settings.model_dir, keep=services.settings.models_to_keep),
                            services.pool)


def _refused(err: ModelIntegrityError | InvalidModelVersion) -> ApiError:
    return ApiError(409, "model_refused", f"not activated: {err.message}", hint=err.hint)


def _described(version: models_repo.ModelVersion) -> ModelVersion:
    """The version as the CLI shows it (``as_json``), held to the API's contract."""
    return ModelVersion.model_validate(version.as_json())


def _authorised(request: Request) -> Services:
    return admin_services(request)


async def list_models(request: Request) -> JSONResponse:
    services = _authorised(request)
    async with (await services.pool()).acquire() as conn:
        versions = await models_repo.list_versions(conn)
    active = next((v.version_name for v in versions if v.is_active), None)
    return json_response(Models(active=active, models=[_described(v) for v in versions]))


async def activate(request: Request) -> JSONResponse:
    services = _authorised(request)
    version = request.path_params["version"]
    pool, publisher = await services.pool(), await services.publisher()
    try:
        activated = await model_admin.activate(pool, publisher, _store(services), version)
    except REFUSED as err:
        raise _refused(err) from err
    except UnknownModelVersion as err:
        async with pool.acquire() as conn:
            known = [v.version_name for v in await models_repo.list_versions(conn)]
        raise ApiError(404, "unknown_model_version", err.message, hint=err.hint, known=known) from err
    return json_response(ActiveModel(model=_described(activated)))


async def rollback(request: Request) -> JSONResponse:
    services = _authorised(request)
    pool, publisher = await services.pool(), await services.publisher()
    try:
        activated = await model_admin.rollback(pool, publisher, _store(services))
    except REFUSED as err:
        raise _refused(err) from err
    except UnknownModelVersion as err:
        raise ApiError(409, "nothing_to_roll_back", err.message, hint=err.hint) from err
    return json_response(ActiveModel(model=_described(activated)))


async def retrain(request: Request) -> JSONResponse:
    services = _authorised(request)
    made = await (await services.publisher()).request_retrain("manual")
    return json_response(RetrainRequested(request_id=made.request_id, reason="manual",
                                          requested_at=made.requested_at), 202)


routes = [
    Route("/api/admin/models", list_models, methods=["GET"]),
    Route("/api/admin/models/rollback", rollback, methods=["POST"]),
    Route("/api/admin/models/{version}/activate", activate, methods=["POST"]),
    Route("/api/admin/retrain", retrain, methods=["POST"]),
]
