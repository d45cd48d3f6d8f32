"""Going live (docs/going-live.md): the owner's business profile and documents, the submission,
and staff's decisions on it (which move the merchant's status through `merchants.service`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.kyc.documents import DocumentStore, sha256_of, sniff
from mboa.kyc.exceptions import (
    DocumentNotFound,
    DocumentTooLarge,
    DocumentTypeInvalid,
    KycIncomplete,
    KycNotEditable,
)
from mboa.kyc.repository import DocumentRepository, ProfileRepository, RiskNoteRepository
from mboa.kyc.schemas import (
    DOCUMENT_KINDS,
    PROFILE_FIELDS,
    Kyc,
    KycDocumentObject,
    KycProfile,
    KycProfileUpdate,
)
from mboa.merchants.exceptions import MerchantNotFound
from mboa.merchants.repository import MerchantRepository
from mboa.merchants.service import merchant as merchant_service
from mboa.models import KycDocument, Merchant, MerchantProfile, MerchantStatus, RiskNote
from mboa.providers.phone import resolve_provider

EDITABLE = frozenset({MerchantStatus.sandbox, MerchantStatus.rejected})
"""The owner may change the profile and documents before submitting and after a rejection."""
DECISIONS = ("approve", "reject", "suspend", "reactivate")


def latest_documents(documents: Sequence[KycDocument]) -> list[KycDocument]:
    """The newest document of each kind (`documents` newest first), in the kinds' order."""
    newest: dict[str, KycDocument] = {}
    for document in documents:
        newest.setdefault(document.kind, document)
    return [newest[kind] for kind in DOCUMENT_KINDS if kind in newest]


class KycService:
    async def _merchant(
        self, session: AsyncSession, merchant_id: str, *, lock: bool = False
    ) -> Merchant:
        repository = MerchantRepository.from_session(session)
        found = (
            await repository.get_for_update(merchant_id)
            if lock
            else await repository.get(merchant_id)
        )
        if found is None:
            raise MerchantNotFound(f"No such merchant: '{merchant_id}'", param="merchant_id")
        return found

    async def view(self, session: AsyncSession, merchant_id: str) -> Kyc:
        merchant = await self._merchant(session, merchant_id)
        return await self._view(session, merchant)

    async def _view(self, session: AsyncSession, merchant: Merchant) -> Kyc:
        profile = await ProfileRepository.from_session(session).of_merchant(merchant.id)
        documents = latest_documents(
            await DocumentRepository.from_session(session).of_merchant(merchant.id)
        )
        shown = KycProfile.model_validate(profile) if profile is not None else KycProfile()
        return Kyc(
            account=merchant.id,
            status=merchant.status,
            editable=merchant.status in EDITABLE,
            profile=shown,
            documents=[KycDocumentObject.model_validate(d) for d in documents],
            missing=missing(shown, documents),
            submitted_at=merchant.submitted_at,
            rejection_reason=merchant.rejection_reason,
        )

    def _editable(self, merchant: Merchant) -> None:
        if merchant.status not in EDITABLE:
            raise KycNotEditable(
                f"The account is {merchant.status}: its profile and documents cannot change now."
            )

    async def update_profile(
        self, session: AsyncSession, merchant_id: str, update: KycProfileUpdate
    ) -> Kyc:
        merchant = await self._merchant(session, merchant_id, lock=True)
        self._editable(merchant)
        repository = ProfileRepository.from_session(session)
        profile = await repository.of_merchant(merchant_id)
        if profile is None:
            profile = await repository.add(
                MerchantProfile(merchant_id=merchant_id, created_at=utc_now()), flush=False
            )
        given = update.model_dump(exclude_unset=True)
        for name, value in given.items():
            setattr(profile, name, value if value != "" else None)
        phone_given = "settlement_phone" in given or "settlement_operator" in given
        if phone_given and profile.settlement_phone:
            phone, operator = resolve_provider(
                profile.settlement_phone,
                profile.settlement_operator,
                param="settlement_phone",
                provider_param="settlement_operator",
            )
            profile.settlement_phone = phone.e164
            profile.settlement_operator = operator.value
        profile.updated_at = utc_now()
        await session.flush()
        return await self._view(session, merchant)

    async def add_document(
        self,
        session: AsyncSession,
        store: DocumentStore,
        merchant_id: str,
        *,
        kind: str,
        filename: str,
        data: bytes,
        uploaded_by: str | None,
        max_bytes: int,
    ) -> KycDocumentObject:
        """Keep one document: its type read from its bytes (PDF, PNG, JPEG), its size capped,
        its SHA-256 recorded. A newer document of a kind replaces the older for review."""
        merchant = await self._merchant(session, merchant_id, lock=True)
        self._editable(merchant)
        if kind not in DOCUMENT_KINDS:
            raise DocumentTypeInvalid(
                f"kind must be one of {', '.join(DOCUMENT_KINDS)}", param="kind"
            )
        if len(data) > max_bytes:
            raise DocumentTooLarge(
                f"The document is larger than {max_bytes // (1024 * 1024)} MB.", param="file"
            )
        content_type = sniff(data)
        if content_type is None:
            raise DocumentTypeInvalid("The document must be a PDF, PNG or JPEG file.", param="file")
        document_id = new_id(Prefix.kyc_document)
        stored = await store.put(session, merchant_id, data)
        document = await DocumentRepository.from_session(session).add(
            KycDocument(
                id=document_id,
                merchant_id=merchant_id,
                kind=kind,
                filename=(filename or kind).rsplit("/", 1)[-1][:200],
                storage_key=stored.key,
                content_type=stored.content_type,
                size=stored.size,
                sha256=sha256_of(data),
                uploaded_by=uploaded_by,
                created_at=utc_now(),
            )
        )
        uploaded = KycDocumentObject.model_validate(document)
        await audit.record(
            session,
            action=AuditAction.kyc_document_uploaded,
            target=("kyc_document", document.id),
            merchant_id=merchant_id,
            after={
                "kind": document.kind,
                "filename": document.filename,
                "content_type": document.content_type,
                "size": document.size,
                "sha256": document.sha256,
            },
        )
        return uploaded

    async def submit(self, session: AsyncSession, merchant_id: str) -> Kyc:
        """Hand the profile and documents to staff: refused, listing each missing item, until
        everything is there."""
        merchant = await self._merchant(session, merchant_id, lock=True)
        self._editable(merchant)
        view = await self._view(session, merchant)
        if view.missing:
            raise KycIncomplete(
                "Give these before submitting: " + ", ".join(view.missing) + ".",
                missing=view.missing,
            )
        await merchant_service.submit(session, merchant)
        return await self._view(session, merchant)

    async def document(
        self, session: AsyncSession, merchant_id: str, document_id: str
    ) -> KycDocument:
        found = await DocumentRepository.from_session(session).get_of_merchant(
            merchant_id, document_id
        )
        if found is None:
            raise DocumentNotFound(f"No such document: '{document_id}'", param="id")
        return found

    async def document_bytes(self, store: DocumentStore, document: KycDocument) -> bytes:
        return await store.get(document.merchant_id, document.storage_key)

    # -- staff ------------------------------------------------------------------------------

    async def decide(
        self,
        session: AsyncSession,
        merchant_id: str,
        *,
        action: str,
        staff_id: str,
        reason: str,
    ) -> Merchant:
        """approve | reject | suspend | reactivate, with the reason the owner is told."""
        merchant = await self._merchant(session, merchant_id, lock=True)
        if action == "approve":
            return await merchant_service.approve(session, merchant, staff_id, reason)
        if action == "reject":
            return await merchant_service.reject(session, merchant, staff_id, reason)
        if action == "suspend":
            return await merchant_service.suspend(session, merchant, reason)
        if action == "reactivate":
            return await merchant_service.reactivate(session, merchant, reason)
        raise ValueError(f"unknown decision {action!r}")

    async def add_note(
        self, session: AsyncSession, merchant_id: str, *, author_id: str, body: str
    ) -> RiskNote:
        await self._merchant(session, merchant_id)
        note = await RiskNoteRepository.from_session(session).add(
            RiskNote(
                id=new_id(Prefix.risk_note),
                merchant_id=merchant_id,
                author_id=author_id,
                body=body,
                created_at=utc_now(),
            )
        )
        await audit.record(
            session,
            action=AuditAction.risk_note_added,
            target=("risk_note", note.id),
            # No merchant_id: the row is staff-only, as the notes are (a merchant's owners
            # read their own account's rows).
            after={"merchant": merchant_id, "author": author_id, "body": body},
        )
        return note

    async def notes(self, session: AsyncSession, merchant_id: str) -> Sequence[RiskNote]:
        return await RiskNoteRepository.from_session(session).of_merchant(merchant_id)


def missing(profile: KycProfile, documents: Sequence[KycDocument]) -> list[str]:
    absent = [name for name in PROFILE_FIELDS if getattr(profile, name) in (None, "")]
    present = {document.kind for document in documents}
    absent += [f"documents[{kind}]" for kind in DOCUMENT_KINDS if kind not in present]
    return absent


kyc = KycService()
