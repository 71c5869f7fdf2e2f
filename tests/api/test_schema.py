"""The API contract is deliberate: the generated schema must equal the committed copy.

After an intended change: `.venv/bin/python manage.py spectacular --file docs/openapi.yaml`.
"""

import io
import json
from pathlib import Path

from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_schema_is_valid_and_matches_the_committed_copy():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert out.getvalue() == COMMITTED.read_text(), (
        "API schema changed: review it and regenerate docs/openapi.yaml "
        "(manage.py spectacular --file docs/openapi.yaml)"
    )


ERROR = "#/components/schemas/Error"
# Operations still without request/success examples, each a known gap to close (then delete it
# here: the test fails while a listed operation already has them, so the list only shrinks).
EXAMPLES_PENDING: set[str] = set()


def _generated_schema() -> dict:
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _has_examples(response_or_body: dict) -> bool:
    content = response_or_body.get("content", {}).get("application/json", {})
    return bool(content.get("examples"))


def test_one_error_component_with_code_message_and_fields():
    schemas = _generated_schema()["components"]["schemas"]
    assert schemas["Error"] == {
        "type": "object",
        "description": (
            "Every API error: validation, authentication, permission, not found, conflict, "
            "throttle."
        ),
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        "required": ["error"],
    }
    detail = schemas["ErrorDetail"]
    assert (sorted(detail["required"]), list(detail["properties"])) == (
        ["code", "fields", "message"],
        ["code", "message", "fields"],
    )
    assert detail["properties"]["fields"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_every_operation_documents_its_errors_and_examples():
    schema = _generated_schema()
    problems = []
    operation_ids = set()
    for path, method, operation in _operations(schema):
        name = f"{method.upper()} {path} ({operation['operationId']})"
        operation_ids.add(operation["operationId"])
        responses = operation["responses"]
        codes = set(responses)
        security = operation.get("security", [])
        authenticated = bool(security) and {} not in security
        has_body = "requestBody" in operation
        has_path_parameters = "{" in path

        success = [r for code, r in responses.items() if code.startswith("2")]
        examples_missing = [r for r in success if "content" in r and not _has_examples(r)]
        if has_body and not _has_examples(operation["requestBody"]):
            examples_missing.append(operation["requestBody"])
        if not success:
            problems.append(f"{name}: no success response")
        pending = operation["operationId"] in EXAMPLES_PENDING
        if examples_missing and not pending:
            problems.append(f"{name}: request or success response without an example")
        if pending and not examples_missing:
            problems.append(f"{name}: has its examples now; remove it from EXAMPLES_PENDING")
        if authenticated and not {"401", "403", "429"} <= codes:
            problems.append(f"{name}: authenticated but without 401, 403 and 429")
        if has_body and "400" not in codes:
            problems.append(f"{name}: takes a body but has no 400")
        if has_path_parameters and "404" not in codes:
            problems.append(f"{name}: looks up by path but has no 404")
        for code, response in responses.items():
            if not code.startswith("4"):
                continue
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            if ref != {"$ref": ERROR} or not _has_examples(response):
                problems.append(f"{name}: {code} is not the Error component with an example")
    assert problems == []
    assert EXAMPLES_PENDING <= operation_ids
    health = schema["paths"]["/api/v1/health"]["get"]["responses"]
    assert (_has_examples(health["200"]), _has_examples(health["503"])) == (True, True)
    throttled_login = schema["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"400", "401", "429"} <= set(throttled_login)
