"""The API contract is deliberate: the generated schema must equal the committed copy.

After an intended change: `.venv/bin/python manage.py spectacular --file docs/openapi.yaml`.
"""

import io
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
