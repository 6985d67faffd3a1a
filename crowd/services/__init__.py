"""Writes of the crowd app, one module per subject. Keyword-only, typed; views, tasks and
commands call these as ``from crowd import services; services.study_create(...)``.

Bad input raises :class:`django.core.exceptions.ValidationError` (the API answers 400 with its
message) or :class:`UploadTooLarge` (413).

=================  =====================================================================
module             what it writes
=================  =====================================================================
``studies``        studies (create, change, delete)
``sequences``      sequences and their reference masks, imported through the engine
``members``        memberships and assignments (the observer x sequence matrix)
``invitations``    invitation tokens (create, create in bulk from a pasted list, accept, revoke)
``audit``          the members audit trail (written by ``members`` and ``invitations`` only)
``users``          accounts, worker heartbeats
``uploads``        upload limits, an upload as a local path, zip archives unpacked safely
``dicomweb``       a study's DICOMweb server; QIDO-RS browse, WADO-RS import, STOW-RS store
=================  =====================================================================
"""

from .dicomweb import (
    DicomWebConnection,
    dicomweb_connection,
    dicomweb_series,
    dicomweb_server_delete,
    dicomweb_server_set,
    dicomweb_store,
    dicomweb_studies,
    sequence_import_dicomweb,
)
from .invitations import (
    MAX_BULK_INVITATIONS,
    BulkInvitations,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    invitations_create_bulk,
)
from .members import (
    assignment_create,
    assignment_delete,
    assignments_set,
    membership_add,
    membership_ensure,
    membership_remove,
    membership_set,
)
from .sequences import sequence_delete, sequence_import, sequence_masks_attach
from .studies import STUDY_EDITABLE, study_create, study_delete, study_update
from .uploads import (
    UploadTooLarge,
    check_upload_size,
    max_upload_bytes,
    scrub_paths,
    uploaded_path,
)
from .users import user_get_or_create, worker_heartbeat_record

__all__ = [
    "MAX_BULK_INVITATIONS",
    "STUDY_EDITABLE",
    "BulkInvitations",
    "DicomWebConnection",
    "UploadTooLarge",
    "assignment_create",
    "assignment_delete",
    "assignments_set",
    "dicomweb_connection",
    "dicomweb_series",
    "dicomweb_server_delete",
    "dicomweb_server_set",
    "dicomweb_store",
    "dicomweb_studies",
    "sequence_import_dicomweb",
    "check_upload_size",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "invitations_create_bulk",
    "max_upload_bytes",
    "membership_add",
    "membership_ensure",
    "membership_remove",
    "membership_set",
    "scrub_paths",
    "sequence_delete",
    "sequence_import",
    "sequence_masks_attach",
    "study_create",
    "study_delete",
    "study_update",
    "uploaded_path",
    "user_get_or_create",
    "worker_heartbeat_record",
]
