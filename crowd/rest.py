"""The project's DRF plumbing, named in ``settings.REST_FRAMEWORK``: the JSON parser, the
pagination, the exception handler; and the one helper that writes download headers.

Kept apart from :mod:`crowd.api` because DRF reads these settings while ``rest_framework.views``
is being imported, before any view module can be.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.utils.http import content_disposition_header
from rest_framework import exceptions, pagination, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "file too large"
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; JSON nested too deeply for the decoder is a 400, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc


class Pagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pages; ``?limit=`` above ``max_limit`` gives ``max_limit`` rows.

    (An offset past the last row gives an empty page without a query: DRF compares it with the
    count first, so no offset reaches the database beyond the row count.)
    """

    max_limit = 1000

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, 2**63 - 1)}
        for parameter in parameters:
            if parameter["name"] in bounds:
                low, high = bounds[parameter["name"]]
                parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters


def exception_handler(exc, context):
    """DRF's handler, plus Django's request-size refusals answered as JSON like every API error.

    A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413; too many form fields or files a 400
    (Django would answer its HTML 400 page).
    """
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge("the request body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE bytes; send less "
                              "per request (upload files as multipart/form-data)")
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = exceptions.ValidationError({"detail": str(exc)})
    return drf_exception_handler(exc, context)


def attachment(response, filename: str):
    """Set ``Content-Disposition: attachment`` with ``filename`` quoted and encoded by Django.

    Any name is safe here, quotes and line breaks included (RFC 6266 / RFC 5987 encoding):
    the one home for download headers.
    """
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
