"""A study's DICOMweb server: its settings, browsing (QIDO-RS), importing a series (WADO-RS),
storing instances (STOW-RS), through dicomweb-client.

Safety: the URL must be http(s) without credentials in it (and its host in
``GAZECROWD_DICOMWEB_HOSTS`` when that is set); the password is write-only (never
returned) and encrypted at rest with Fernet (``cryptography``), keyed from
``GAZECROWD_DICOMWEB_KEY`` or, by default, from ``SECRET_KEY``. Every request has a timeout
(``GAZECROWD_DICOMWEB_TIMEOUT_S``); a series is budgeted from its QIDO metadata (instances x
Rows x Columns x NumberOfFrames against ``GAZECROWD_MAX_SEQUENCE_PIXELS``) before any instance
is fetched, and the bytes fetched are counted against ``GAZECROWD_DICOMWEB_MAX_MB`` (a response
announcing more than what is left is refused before its body is read). Errors name the server
and what failed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from ..models import MAX_DICOMWEB_URL, DicomWebServer, Sequence, Study
from .uploads import UploadTooLarge, max_sequence_pixels

__all__ = [
    "DicomWebConnection",
    "dicomweb_connection",
    "dicomweb_series",
    "dicomweb_server_delete",
    "dicomweb_server_set",
    "dicomweb_store",
    "dicomweb_studies",
    "sequence_import_dicomweb",
]

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Results of one QIDO search shown at most (a browse list, not an export of the archive).
MAX_SEARCH_RESULTS = 500


def _fernet():
    from cryptography.fernet import Fernet

    secret = settings.GAZECROWD_DICOMWEB_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(b"gazecrowd-dicomweb-password:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _encrypt(password: str) -> str:
    return _fernet().encrypt(password.encode()).decode() if password else ""


def _decrypt(token: str, url: str) -> str:
    from cryptography.fernet import InvalidToken

    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValidationError(
            f"DICOMweb server {url}: the stored password cannot be decrypted (SECRET_KEY or "
            "GAZECROWD_DICOMWEB_KEY changed since it was saved); enter the password again") from None


def check_url(url: str) -> str:
    """A DICOMweb base URL: http(s), a host, no credentials, no query; trailing slash removed."""
    url = (url or "").strip()
    if not url:
        raise ValidationError("the DICOMweb server URL is empty")
    if len(url) > MAX_DICOMWEB_URL:
        raise ValidationError(f"the DICOMweb server URL has {len(url)} characters; at most {MAX_DICOMWEB_URL}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValidationError(f"the DICOMweb server URL must start with http:// or https://, got {url[:60]!r}")
    if parts.username or parts.password:
        raise ValidationError("put the DICOMweb user name and password in their own fields, not in the URL")
    if parts.query or parts.fragment:
        raise ValidationError("the DICOMweb server URL must not have a query (?...) or a fragment (#...)")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(f"{url[:80]!r} is not a valid http(s) URL") from None
    allowed = settings.GAZECROWD_DICOMWEB_HOSTS
    if allowed and (parts.hostname or "").lower() not in allowed:
        raise ValidationError(f"DICOMweb server host {parts.hostname!r} is not one this platform may reach "
                              f"(GAZECROWD_DICOMWEB_HOSTS: {', '.join(allowed)})")
    return url.rstrip("/")


def check_uid(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 64 or not _UID.match(value):
        raise ValidationError(f"{what} must be a DICOM UID (digits and dots, at most 64 characters), "
                              f"got {value[:70]!r}")
    return value


def dicomweb_server_set(*, study: Study, url: str, username: str = "", password: str | None = None) -> DicomWebServer:
    """Set the study's DICOMweb server. ``password`` None keeps the stored one, "" removes it."""
    url = check_url(url)
    username = (username or "").strip()
    if len(username) > 150 or re.search(r"[\x00-\x1f\x7f]", username):
        raise ValidationError("the DICOMweb user name has at most 150 printable characters")
    server, _ = DicomWebServer.objects.get_or_create(study=study, defaults={"url": url})
    server.url, server.username = url, username
    if password is not None:
        if len(password) > 1024:
            raise ValidationError("the DICOMweb password has at most 1024 characters")
        server.password_encrypted = _encrypt(password)
    server.save()
    return server


def dicomweb_server_delete(*, study: Study) -> None:
    DicomWebServer.objects.filter(study=study).delete()


@dataclass
class DicomWebConnection:
    """A dicomweb-client connection with its budget; ``url`` names the server in errors."""

    url: str
    client: object
    budget_bytes: int
    fetched_bytes: int = 0

    def fail(self, what: str, exc: Exception) -> ValidationError:
        import requests

        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            detail = f"HTTP {exc.response.status_code} {exc.response.reason}"
        elif isinstance(exc, requests.Timeout):
            detail = f"no answer within {settings.GAZECROWD_DICOMWEB_TIMEOUT_S:g} s (GAZECROWD_DICOMWEB_TIMEOUT_S)"
        elif isinstance(exc, requests.ConnectionError):
            detail = "cannot connect"
        else:
            detail = str(exc)[:300]
        return ValidationError(f"DICOMweb server {self.url}: {what} failed: {detail}")


def dicomweb_connection(*, study: Study | None = None, url: str | None = None,
                        username: str = "", password: str = "") -> DicomWebConnection:
    """A connection to ``url`` (credentials given) or to the study's server (stored ones).

    With both, the study's stored credentials are used when ``url`` is the study's server.
    """
    import requests
    from dicomweb_client import DICOMwebClient

    server = DicomWebServer.objects.filter(study=study).first() if study is not None else None
    if url is None:
        if server is None:
            raise ValidationError(f"study {study.pk if study else ''} has no DICOMweb server: set one first")
        url = server.url
    url = check_url(url)
    if server is not None and server.url == url and not username:
        username, password = server.username, _decrypt(server.password_encrypted, url)
    budget = settings.GAZECROWD_DICOMWEB_MAX_MB * 1024 * 1024
    session = requests.Session()
    if username:
        session.auth = (username, password)
    connection = DicomWebConnection(url=url, client=None, budget_bytes=budget)

    def refuse_large(response, *args, **kwargs):
        # Runs before a non-streamed body is read: an announced size over what is left is
        # refused without downloading it.
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and connection.fetched_bytes + int(length) > connection.budget_bytes:
            response.close()
            raise UploadTooLarge(
                f"DICOMweb server {url}: a response of {int(length):,} bytes would pass the "
                f"{settings.GAZECROWD_DICOMWEB_MAX_MB} MB budget (GAZECROWD_DICOMWEB_MAX_MB)")
        return response

    session.hooks["response"].append(refuse_large)
    timeout = settings.GAZECROWD_DICOMWEB_TIMEOUT_S
    # (connect, read): a host that never answers is given up after 10 s at most.
    connection.client = DICOMwebClient(url, session=session, timeout=(min(10.0, timeout), timeout))
    return connection


def _value(item: dict, keyword: str):
    from pydicom.datadict import tag_for_keyword

    element = item.get(f"{tag_for_keyword(keyword):08X}", {})
    values = element.get("Value") or []
    if not values:
        return None
    value = values[0]
    if isinstance(value, dict):  # a person name
        return value.get("Alphabetic", "")
    return value


_STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "StudyDescription",
                 "ModalitiesInStudy", "NumberOfStudyRelatedSeries")
_SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                  "NumberOfSeriesRelatedInstances")


def _search(connection, what: str, call, fields) -> list[dict]:
    try:
        found = call(limit=MAX_SEARCH_RESULTS, fields=list(fields))
    except UploadTooLarge:
        raise
    except Exception as exc:
        raise connection.fail(what, exc) from exc
    return [{f: _value(item, f) for f in fields} for item in found]


def dicomweb_studies(*, connection: DicomWebConnection, patient_id: str | None = None) -> list[dict]:
    """QIDO-RS: the server's studies (at most :data:`MAX_SEARCH_RESULTS`), optionally one patient's."""
    filters = {"PatientID": patient_id} if patient_id else None
    return _search(connection, "QIDO-RS search for studies",
                   lambda **kw: connection.client.search_for_studies(search_filters=filters, **kw),
                   _STUDY_FIELDS)


def dicomweb_series(*, connection: DicomWebConnection, study_uid: str) -> list[dict]:
    """QIDO-RS: the series of one study."""
    study_uid = check_uid(study_uid, "the study UID")
    return _search(connection, f"QIDO-RS search for the series of study {study_uid}",
                   lambda **kw: connection.client.search_for_series(study_instance_uid=study_uid, **kw),
                   _SERIES_FIELDS)


def _series_instances(connection: DicomWebConnection, series_uid: str) -> list[dict]:
    """QIDO-RS: the instances of a series with their sizes (budgeted before any download)."""
    fields = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows", "Columns",
              "NumberOfFrames", "SeriesDescription"]
    limit = settings.GAZECROWD_MAX_ARCHIVE_FILES + 1
    try:
        found = connection.client.search_for_instances(
            search_filters={"SeriesInstanceUID": series_uid}, fields=fields, limit=limit)
    except UploadTooLarge:
        raise
    except Exception as exc:
        raise connection.fail(f"QIDO-RS search for the instances of series {series_uid}", exc) from exc
    instances = [{f: _value(item, f) for f in fields} for item in found]
    instances = [i for i in instances if i["SeriesInstanceUID"] in (None, series_uid)]
    if not instances:
        raise ValidationError(f"DICOMweb server {connection.url}: no series {series_uid} (QIDO-RS found no instance)")
    if len(instances) > settings.GAZECROWD_MAX_ARCHIVE_FILES:
        raise UploadTooLarge(f"DICOMweb server {connection.url}: series {series_uid} has more than "
                             f"{settings.GAZECROWD_MAX_ARCHIVE_FILES:,} instances (GAZECROWD_MAX_ARCHIVE_FILES)")
    return instances


def _budget(connection, series_uid: str, instances: list[dict]) -> int:
    pixels = 0
    for item in instances:
        try:
            rows, cols = int(item["Rows"]), int(item["Columns"])
            frames = int(item["NumberOfFrames"] or 1)
        except (TypeError, ValueError):
            raise ValidationError(
                f"DICOMweb server {connection.url}: QIDO-RS gave no Rows/Columns for instance "
                f"{item['SOPInstanceUID']} of series {series_uid}, so its size cannot be checked "
                "before downloading it; the series is not imported") from None
        if min(rows, cols, frames) < 1:
            raise ValidationError(f"DICOMweb server {connection.url}: instance {item['SOPInstanceUID']} "
                                  f"declares {frames} frame(s) of {rows}x{cols} pixels")
        pixels += rows * cols * frames
    if pixels > max_sequence_pixels():
        raise UploadTooLarge(
            f"DICOMweb server {connection.url}: series {series_uid} holds {pixels:,} pixels "
            f"({len(instances)} instances, from QIDO-RS Rows x Columns x NumberOfFrames); the "
            f"limit is {max_sequence_pixels():,} (GAZECROWD_MAX_SEQUENCE_PIXELS)")
    return pixels


def _fetch(connection: DicomWebConnection, item: dict, study_uid: str, series_uid: str):
    try:
        ds = connection.client.retrieve_instance(study_uid, series_uid, item["SOPInstanceUID"])
    except UploadTooLarge:
        raise
    except Exception as exc:
        raise connection.fail(f"WADO-RS retrieval of instance {item['SOPInstanceUID']}", exc) from exc
    pixel_bytes = len(ds.get("PixelData") or b"")
    connection.fetched_bytes += pixel_bytes
    if connection.fetched_bytes > connection.budget_bytes:
        raise UploadTooLarge(f"DICOMweb server {connection.url}: series {series_uid} passed the "
                             f"{settings.GAZECROWD_DICOMWEB_MAX_MB} MB budget (GAZECROWD_DICOMWEB_MAX_MB)")
    return ds


def sequence_import_dicomweb(*, study: Study, connection: DicomWebConnection, series_uid: str,
                             name: str | None = None) -> Sequence:
    """Import one series from a DICOMweb server as a sequence of ``study`` (WADO-RS).

    The series is found and budgeted by QIDO-RS before anything is fetched, fetched instance by
    instance into a temporary folder, then read like an uploaded DICOM folder (the source
    headers are kept, so the ground truth can go back as a DICOM SEG).
    """
    from .sequences import sequence_import

    series_uid = check_uid(series_uid, "the series UID")
    instances = _series_instances(connection, series_uid)
    _budget(connection, series_uid, instances)
    study_uid = next((i["StudyInstanceUID"] for i in instances if i["StudyInstanceUID"]), None)
    if study_uid is None:
        raise ValidationError(f"DICOMweb server {connection.url}: QIDO-RS gave no study UID for series {series_uid}")
    description = next((i["SeriesDescription"] for i in instances if i["SeriesDescription"]), None)
    with tempfile.TemporaryDirectory(prefix="gazecrowd-dicomweb-") as tmp:
        folder = Path(tmp) / "series"
        folder.mkdir()
        for k, item in enumerate(instances):
            ds = _fetch(connection, item, study_uid, series_uid)
            try:
                ds.save_as(folder / f"{k:05d}.dcm", enforce_file_format=False)
            except Exception as exc:  # a dataset pydicom cannot write back: name it
                raise ValidationError(f"DICOMweb server {connection.url}: instance {item['SOPInstanceUID']} "
                                      f"of series {series_uid} cannot be stored as a DICOM file: {exc}") from exc
        return sequence_import(
            study=study, path=folder, name=name or _series_name(description, series_uid),
            source_name=f"{connection.url} series {series_uid}"[:255])


def _series_name(description: str | None, series_uid: str) -> str:
    text = re.sub(r"[\x00-\x1f\x7f/\\]+", " ", str(description or "")).strip()[:150]
    return f"{text} ({series_uid[-12:]})" if text else f"series {series_uid[-24:]}"


def dicomweb_store(*, connection: DicomWebConnection, datasets: list) -> list[str]:
    """STOW-RS ``datasets`` to the server; the SOP Instance UIDs stored."""
    try:
        response = connection.client.store_instances(datasets)
    except Exception as exc:
        raise connection.fail("STOW-RS store", exc) from exc
    failed = response.get("FailedSOPSequence") if response is not None else None
    if failed:
        reasons = ", ".join(str(getattr(item, "FailureReason", "?")) for item in failed)
        raise ValidationError(f"DICOMweb server {connection.url}: STOW-RS refused {len(failed)} "
                              f"instance(s) (failure reason {reasons})")
    return [str(ds.SOPInstanceUID) for ds in datasets]
