"""Every number from outside is bounded where it enters: in the API's schema and in the database.

Two inventories that fail when someone adds a number without its bounds:

- every integer or number a client may send to the API (request bodies, nested lists, query
  parameters) declares a ``minimum`` and a ``maximum`` in ``/api/schema/`` (the serializers'
  ``min_value`` / ``max_value``, which DRF enforces: tests/annotation/test_batch_bounds.py,
  tests/crowd/test_request_limits.py try them). Path parameters are ids and frame numbers
  looked up as they are (an id beyond any key is a 404: tests/crowd/test_request_limits.py);
- every integer or float column of the apps' models is named in a ``CheckConstraint`` (bounds
  on both sides also keep NaN and infinities out), except the columns listed below, which the
  platform computes itself and no client sends.
"""

import pytest
from django.apps import apps
from django.db import models

# Columns the platform computes (engine outputs, job bookkeeping); no request sets them.
COMPUTED = {
    "segmentation.PreparedSequence.n_superpixels": "counted by the engine",
    "segmentation.PreparedSequence.seconds": "measured by the worker",
    "segmentation.ObserverEstimate.n_gaze_points": "counted by the engine",
    "segmentation.ObserverEstimate.seconds": "measured by the worker",
    "segmentation.Run.progress": "set by the job (0..1)",
    "segmentation.Run.attempts": "counted by the job",
    "segmentation.GroundTruth.threshold": "chosen by the engine",
    "segmentation.GazeBoxesJob.progress": "set by the job (0..1)",
    "segmentation.GazeBoxesJob.attempts": "counted by the job",
}


def _numbers(schema, components, path, out):
    """(path, declares minimum, declares maximum) of every writable number in ``schema``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _numbers(components[name], components, f"{path}<{name}>", out)
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            _numbers(sub, components, path, out)
    if schema.get("type") in ("integer", "number"):
        out.append((path, "minimum" in schema, "maximum" in schema))
    if schema.get("type") == "array" and "items" in schema:
        _numbers(schema["items"], components, f"{path}[]", out)
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("readOnly"):
            _numbers(prop, components, f"{path}.{name}", out)
    return out


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_number_a_client_sends_is_bounded_in_the_schema(schema):
    components = schema["components"]["schemas"]
    numbers, unbounded = [], []
    for url, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {url}"
            found = []
            for content_type, media in operation.get("requestBody", {}).get("content", {}).items():
                _numbers(media["schema"], components, content_type, found)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    _numbers(parameter["schema"], components, f"?{parameter['name']}", found)
            numbers += found
            unbounded += [f"{where} {path}" for path, low, high in found if not (low and high)]
    assert len(numbers) > 60, "the inventory found too few numbers: is the schema walked?"
    assert unbounded == [], "\n".join(unbounded)


def test_every_numeric_column_is_bounded_by_a_constraint():
    unbounded = []
    for app in ("crowd", "annotation", "segmentation"):
        for model in apps.get_app_config(app).get_models():
            conditions = [str(c.condition) for c in model._meta.constraints if isinstance(c, models.CheckConstraint)]
            for field in model._meta.concrete_fields:
                if field.primary_key or field.is_relation:
                    continue
                if not isinstance(field, (models.IntegerField, models.FloatField)):
                    continue
                label = f"{app}.{model.__name__}.{field.name}"
                named = any(f"'{field.name}__" in c or f"('{field.name}'," in c for c in conditions)
                if not named and label not in COMPUTED:
                    unbounded.append(label)
    assert unbounded == [], unbounded
