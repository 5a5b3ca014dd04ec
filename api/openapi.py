"""The OpenAPI 3.1 description served at ``/openapi.json``, generated from typed models.

Each operation is a row of :data:`api.operations.OPERATIONS`; its bodies are the pydantic
models of :mod:`api.models`, whose JSON Schema (2020-12, as OpenAPI 3.1 takes it) becomes
``components.schemas``, and its parameters are a model's fields. Nothing is written twice:
tests/integration/api/test_openapi.py runs schemathesis against the result.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.operations import JSON, OPERATIONS, Operation, Reply

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"


def _not_null(schema: Schema) -> Schema:
    """A parameter's schema without pydantic's ``anyOf [..., null]`` of an optional field: a
    query parameter is given or left out, never null."""
    options = [o for o in schema.pop("anyOf", ()) if o != {"type": "null"}]
    if len(options) == 1:
        schema = {**options[0], **schema}
    elif options:
        schema = {"anyOf": options, **schema}
    if schema.get("default", 0) is None:
        del schema["default"]
    schema.pop("title", None)
    return schema


def _parameters(model: type[BaseModel] | None, where: str) -> list[Schema]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = _not_null(dict(field))
        described = {"description": field.pop("description")} if "description" in field else {}
        parameters.append({"name": name, "in": where, "required": name in required, "schema": field,
                           **described})
    return parameters


def _content(media_type: str, schema: Schema) -> Schema:
    return {media_type: {"schema": schema}}


Refs = dict[tuple[Any, JsonSchemaMode], Schema]  # (model, mode) → its $ref


def _operation(op: Operation, refs: Refs) -> Schema:
    def reply(answer: Reply) -> Schema:
        if answer.body is None:
            return {"description": answer.description}
        if isinstance(answer.body, str):
            return {"description": answer.description, "content": _content(answer.body, {"type": "string"})}
        return {"description": answer.description,
                "content": _content(JSON, refs[(answer.body, "serialization")])}

    described: Schema = {"summary": op.summary}
    if op.operation_id:
        described["operationId"] = op.operation_id
    if op.description:
        described["description"] = op.description
    parameters = (_parameters(op.path_params, "path") + _parameters(op.query, "query")
                  + _parameters(op.headers, "header"))
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        body = refs[(op.body, "validation")]
        described["requestBody"] = {"required": True, "content": {
            media_type: {"schema": body} for media_type in op.body_types}}
    if op.security:
        described["security"] = [{scheme: []} for scheme in op.security]
    described["responses"] = {str(status): reply(answer) for status, answer in op.replies.items()}
    return described


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every body (validated as sent) and every answer (as serialised), each once."""
    used: set[tuple[type[BaseModel], JsonSchemaMode]] = {
        (op.body, "validation") for op in OPERATIONS if op.body is not None}
    used |= {(answer.body, "serialization") for op in OPERATIONS for answer in op.replies.values()
             if isinstance(answer.body, type)}
    return sorted(used, key=lambda pair: (pair[0].__name__, pair[1]))


@cache
def _build() -> Schema:
    refs, top = models_json_schema(_models(), ref_template=REF)
    paths: Schema = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamrec API", "version": "0.1.0",
                 "description": "Movie suggestions served from the table the streaming pipeline fills."},
        "paths": paths,
        "components": {
            "schemas": top["$defs"],
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "STREAMREC_ADMIN_TOKEN"},
                "adminSession": {"type": "apiKey", "in": "cookie", "name": "streamrec_admin",
                                 "description": "Set by POST /admin/login (the dashboard only)."},
            },
        },
    }


def build() -> Schema:
    """The description (made once per process: it depends on code only)."""
    return _build()
