from __future__ import annotations

from mboa.exceptions import BadRequest, Forbidden, NotFound, PayloadTooLarge


class ObjectNotFound(NotFound):
    """No object under this key (or it belongs to another merchant)."""


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


class FileEmpty(BadRequest):
    code = "file_empty"


class FileTypeNotAllowed(BadRequest):
    """A 400 as Stripe's file uploads answer (415 is for a request body that is not the
    multipart form the route takes)."""

    code = "file_type_not_allowed"


class FileInvalid(BadRequest):
    """The bytes claim a type they do not decode as (a broken or disguised file)."""

    code = "file_invalid"


class UploadRejected(BadRequest):
    """The scan hook (`MBOA_STORAGE__SCAN_HOOK`) refused the file."""

    code = "file_rejected"


class SignedUrlInvalid(Forbidden):
    """A file URL whose signature does not match or whose time is up."""

    code = "signed_url_invalid"
