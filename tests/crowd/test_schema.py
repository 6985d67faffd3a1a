"""The OpenAPI schema generates without warnings and validates; the docs page serves."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO())
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for expected in ("/api/studies/", "/api/studies/{study_id}/sequences/", "/api/recordings/{recording_id}/batches/",
                     "/api/studies/{study_id}/sequences/{sequence_id}/recordings/import/"):
        assert expected in paths
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_schema_and_docs_endpoints_serve(client, db):
    from django.http import HttpRequest

    from crowd import services

    services.user_get_or_create(username="x", password="pw-12345")
    # django-axes watches every login, so authenticate() needs a request (its documented way).
    assert client.login(request=HttpRequest(), username="x", password="pw-12345")
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
