"""OpenAPI pieces: the API-key security schemes, shared parameters, error responses, headers."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .idempotency import MAX_KEY_LENGTH

ERRORS = {
    400: "Invalid request: a field error (missing_field, invalid_field, invalid_phone), bad JSON "
         "(parse_error), too many items (too_many_items) or a malformed Idempotency-Key.",
    401: "Missing, invalid or revoked API key, or an inactive partner.",
    404: "No such lead among the leads this key can see.",
    409: "Duplicate lead (duplicate), closed campaign (campaign_closed), or a request with the same "
         "Idempotency-Key still in progress (idempotency_in_progress; retry after Retry-After seconds).",
    422: "The number is on the do-not-call list (dnc), the lead misses what one of the campaign's vendors "
         "needs (vendor_requirements; see GET /api/v1/campaigns/), or the Idempotency-Key was used for a "
         "different request (idempotency_key_reused).",
    429: "Too many requests for this API key; retry after Retry-After seconds.",
}


def error_responses(*codes: int) -> dict:
    from .serializers import ErrorSerializer

    return {code: OpenApiResponse(ErrorSerializer, description=ERRORS[code]) for code in codes}


DRY_RUN_PARAM = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, OpenApiParameter.QUERY, required=False,
    description="Validate and report exactly what would happen; save nothing.",
)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}, OpenApiParameter.HEADER, required=False,
    description=(
        "Any unique string (a UUID is ideal), at most %d characters. Retrying with the same key and the same "
        "request replays the first response for 24 h (header Idempotent-Replayed: true); the same key with a "
        "different request is a 422 idempotency_key_reused." % MAX_KEY_LENGTH
    ),
)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "campaigns.api.authentication.ApiKeyAuthentication"
    name = ["ApiKeyAuth", "BearerAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKeyAuth": []}, {"BearerAuth": []}]  # either one

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key",
             "description": "Your API key, lh_xxxxxxxx.<secret>, as issued (shown once)."},
            {"type": "http", "scheme": "bearer", "description": "The same key as a bearer token."},
        ]


class DeliveryChoicesExtension(OpenApiSerializerFieldExtension):
    """Delivery status and operation as the enums they are, read from the pipeline when the
    document is built (ENUM_NAME_OVERRIDES names them DeliveryStatusEnum, DeliveryOperationEnum)."""

    target_class = "campaigns.api.serializers.DeliveryChoiceField"

    def map_serializer_field(self, auto_schema, direction):
        from drf_spectacular.plumbing import build_choice_field
        from rest_framework.serializers import ChoiceField

        from .deliveries import delivery_choices

        choices = delivery_choices(self.target.field_name)
        return build_choice_field(ChoiceField(choices=choices)) if choices else {"type": "string"}


_HEADERS = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "Retry-After-409": {"description": "Sent with idempotency_in_progress: seconds to wait before retrying "
                                       "the same request with the same Idempotency-Key.",
                        "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "How to authenticate.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "true when this is the stored response to an earlier request "
                                           "with the same Idempotency-Key.",
                            "schema": {"type": "string", "enum": ["true"]}},
}


def document_headers(result, generator, request, public):
    """Postprocessing hook: response headers every endpoint shares."""
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                if code == "429":
                    headers["Retry-After"] = _HEADERS["Retry-After"]
                elif code == "401":
                    headers["WWW-Authenticate"] = _HEADERS["WWW-Authenticate"]
                elif method == "post" and code.startswith(("2", "4")):
                    headers["Idempotent-Replayed"] = _HEADERS["Idempotent-Replayed"]
                    if code == "409":  # idempotency_in_progress says when to try again
                        headers["Retry-After"] = _HEADERS["Retry-After-409"]
                if not headers:
                    del response["headers"]
    return result


NULL_ENUM = {"enum": [None]}


BODY_ERRORS = {
    "413": "The request body is over the size limit (request_too_large; the message states the limit): "
           "send fewer items per request.",
    "415": "The body is not JSON (unsupported_media_type): send Content-Type: application/json.",
}


def document_body_errors(result, generator, request, public):
    """Postprocessing hook: every POST can be refused for its body's size or type (413, 415)."""
    for path in result.get("paths", {}).values():
        operation = path.get("post")
        if not isinstance(operation, dict):
            continue
        for code, description in BODY_ERRORS.items():
            operation["responses"].setdefault(code, {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                "description": description,
            })
    return result


def nullable_references(result, generator, request, public):
    """Postprocessing hook: a nullable reference that OpenAPI 3.0 readers honour.

    drf-spectacular writes a nullable nested object as ``allOf: [$ref]`` plus
    ``nullable: true``; OpenAPI 3.0.3 applies ``nullable`` only beside a ``type``,
    so strict validators (and generated clients) read it as "never null". The
    pattern that does mean "this object or null" is ``oneOf: [$ref, NullEnum]``,
    as drf-spectacular already writes for nullable enums. Applied to the whole
    document, so every nullable reference, present or future, gets it.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})

    def fix(node):
        if isinstance(node, dict):
            all_of = node.get("allOf")
            if node.get("nullable") is True and isinstance(all_of, list) and len(all_of) == 1 and "type" not in node:
                node["oneOf"] = [node.pop("allOf")[0], {"$ref": "#/components/schemas/NullEnum"}]
                schemas.setdefault("NullEnum", dict(NULL_ENUM))
            for value in list(node.values()):
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(result)
    return result


ADDED_LATER = {"type": "string", "description": "A value added after this version of the document: "
                                               "treat it as one you do not know yet."}


def open_response_enums(result, generator, request, public):
    """Postprocessing hook (after drf-spectacular's enum hook): enums are open in responses.

    A generated client turns an enum into a closed type and fails on a value it does
    not know, so adding a lead or delivery status would break every older client. In
    responses each enum is therefore declared ``anyOf: [<the enum>, string]`` (clients
    still get the known values as constants); in requests enums stay closed, and a
    parameter's inline enum refers to the shared component instead of a copy (the
    status filter made generators emit a duplicate ``V1LeadsListStatus``).
    """
    schemas = result.get("components", {}).get("schemas", {})
    enums = {name: schema["enum"] for name, schema in schemas.items() if "enum" in schema and name != "NullEnum"}
    closed = {name for name in ("WeekdayEnum",) if name in enums}  # the week does not grow
    ref_of = {tuple(values): f"#/components/schemas/{name}" for name, values in enums.items()}

    def is_enum(node):
        name = node.get("$ref", "").rsplit("/", 1)[-1] if isinstance(node, dict) else None
        return name in enums and name not in closed

    def open_(node):
        """Open the enum a property schema refers to, in place; returns the (possibly new) node."""
        if is_enum(node):
            return {"anyOf": [node, ADDED_LATER]}
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node["items"] = open_(node["items"])
        elif len(node.get("allOf", [])) == 1 and is_enum(node["allOf"][0]):
            node["anyOf"] = [node.pop("allOf")[0], ADDED_LATER]
        elif any(is_enum(option) for option in node.get("oneOf", [])):
            node["anyOf"] = node.pop("oneOf") + [ADDED_LATER]
        return node

    for name, schema in schemas.items():
        if name.endswith("Request") or "properties" not in schema:
            continue
        for field, prop in schema["properties"].items():
            schema["properties"][field] = open_(prop)
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                ref = ref_of.get(tuple(parameter.get("schema", {}).get("enum", ())))
                if ref:
                    parameter["schema"] = {"$ref": ref}
    return result


def document_webhooks(result, generator, request, public):
    """The "Webhooks" section (event shapes, signature, verification snippet) in the description."""
    from campaigns.webhooks.docs import WEBHOOKS

    result["info"]["description"] = result["info"].get("description", "") + WEBHOOKS
    return result
