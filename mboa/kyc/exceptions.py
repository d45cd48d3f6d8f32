from __future__ import annotations

from mboa.exceptions import BadRequest, NotFound, PayloadTooLarge


class KycIncomplete(BadRequest):
    """A submission without every required field and document; `missing` names them."""

    code = "kyc_incomplete"

    def __init__(self, message: str, *, missing: list[str]) -> None:
        super().__init__(message, param=missing[0] if missing else None)
        self.missing = missing


class KycNotEditable(BadRequest):
    """The profile and documents are frozen while staff review them, and once approved."""

    code = "kyc_not_editable"


class DocumentTypeInvalid(BadRequest):
    code = "kyc_document_invalid"


class DocumentTooLarge(PayloadTooLarge):
    code = "kyc_document_too_large"


class DocumentNotFound(NotFound):
    pass
