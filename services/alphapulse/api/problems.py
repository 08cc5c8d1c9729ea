"""Errors as RFC 9457 problem documents (``application/problem+json``) with the right status.

400 malformed input (``errors`` lists each field), 401 no or expired session, 403 role too low,
404 unknown resource, 409 state conflict, 422 a well-formed request refused by a rule (risk
checks), 429 throttled (with ``Retry-After``), 503 a dependency is down, 500 our bug (logged,
detail withheld).
"""

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import Components, OpenAPI, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ExceptionHandlersMap

__all__ = ("PROBLEM_MEDIA_TYPE", "RuleViolation", "document_problems", "exception_handlers", "problem")

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"


class RuleViolation(HTTPException):
    """A well-formed request that a business rule refuses (e.g. a risk check): 422."""

    status_code = 422


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    if exc.status_code >= 500:
        log.error("server error", extra={"path": request.url.path, "detail": exc.detail})
    return problem(exc.status_code, exc.detail, headers=exc.headers, **extra)


def _data_error(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[dict[str, Any]]:
    # Validation should stop these first; a value PostgreSQL cannot hold is still the client's input.
    log.warning("database refused a value", extra={"path": request.url.path, "error": str(exc)})
    return problem(400, "a value is out of range or malformed")


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("dependency unavailable", extra={"path": request.url.path, "error": repr(exc)})
    return problem(503, "a backing service (database or Redis) is unavailable", headers={"Retry-After": "5"})


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", extra={"path": request.url.path}, exc_info=exc)
    return problem(500, "internal server error")


exception_handlers: ExceptionHandlersMap = {
    HTTPException: _http,
    asyncpg.DataError: _data_error,
    asyncpg.InterfaceError: _unavailable,
    asyncpg.PostgresConnectionError: _unavailable,
    asyncpg.exceptions.OperatorInterventionError: _unavailable,  # shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError: _unavailable,  # too many connections, disk full
    # raised on connect while a database refuses connections (ALLOW_CONNECTIONS false, being dropped)
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError: _unavailable,
    OSError: _unavailable,
    redis.exceptions.ConnectionError: _unavailable,
    redis.exceptions.TimeoutError: _unavailable,
    Exception: _internal,
}


_PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT), description="malformed input"),
        "reason": Schema(type=OpenAPIType.STRING, description="why a rule (risk check) refused the request"),
    },
    description="RFC 9457 problem document",
)
_METHODS = ("get", "put", "post", "delete", "patch")


def document_problems(openapi: OpenAPI, secured: set[tuple[str, str]]) -> None:
    """Make the OpenAPI document say what errors really look like.

    Litestar documents its own error shape (``status_code``/``detail``/``extra``); this API sends
    problem documents (see the module docstring). Every 4xx response is re-pointed at the
    ``Problem`` schema, and operations behind the session cookie (``secured``: path and lower-case
    method) also list 401, so a client generated from the document handles errors as they arrive.
    """
    components = openapi.components
    assert isinstance(components, Components)  # create_app sets it (security schemes)
    components.schemas = {**(components.schemas or {}), "Problem": _PROBLEM_SCHEMA}
    content = {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for path, path_item in (openapi.paths or {}).items():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            if operation is None or operation.responses is None:
                continue
            for status, response in operation.responses.items():
                if isinstance(response, OpenAPIResponse) and status.isdigit() and 400 <= int(status) < 600:
                    response.content = dict(content)
            if (path, method) in secured and "401" not in operation.responses:
                operation.responses["401"] = OpenAPIResponse(
                    description="not logged in, or the session ended", content=dict(content)
                )
