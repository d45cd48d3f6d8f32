"""The audit log over HTTP: a merchant's own (`/v1/audit_logs` with a secret key, or
`/v1/merchants/{merchant_id}/audit_logs` for owners and admins), and every merchant's for staff
(`/v1/admin/audit_logs`). Read-only: rows are written by the actions themselves."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from mboa.audit.repository import AuditFilters
from mboa.audit.schemas import AuditLogEntry
from mboa.audit.service import audit as audit_service
from mboa.auth.dependencies import ApiKeyAuth, MemberAuth
from mboa.auth.scopes import AUDIT_READ
from mboa.auth.subject import AuthSubject
from mboa.console.access import StaffToken
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject
from mboa.routing import ApiRoute, PlatformRoute, SessionDep

router = APIRouter(tags=["Audit log"], route_class=ApiRoute)
admin_router = APIRouter(prefix="/admin", tags=["Platform admin"], route_class=PlatformRoute)

KeyRead = Annotated[AuthSubject, Depends(ApiKeyAuth(AUDIT_READ))]
MemberRead = Annotated[AuthSubject, Depends(MemberAuth(AUDIT_READ))]
# The staff roles of the console (docs/going-live.md): the API follows the same rules.
Staff = Annotated[AuthSubject, Depends(StaffToken("audit:read"))]


async def audit_filters(
    created: Annotated[CreatedRange, Depends(created_range)],
    action: Annotated[
        str | None,
        Query(
            max_length=80,
            description="An action (`api_key.created`) or a prefix with `*` (`api_key.*`).",
        ),
    ] = None,
    actor: Annotated[
        str | None,
        Query(max_length=320, description="The actor's id (`usr_…`, `key_…`) or email."),
    ] = None,
    target: Annotated[
        str | None, Query(max_length=64, description="The id of the object acted on.")
    ] = None,
) -> AuditFilters:
    return AuditFilters(action=action or None, actor=actor or None, target=target or None,
                        created=created)  # fmt: skip


Filters = Annotated[AuditFilters, Depends(audit_filters)]
Params = Annotated[ListParams, Depends(list_params)]
LIST_DOC = " Newest first; filter by `action`, `actor`, `target` and `created` (docs/audit.md)."


@router.get(
    "/audit_logs",
    response_model=ListObject[AuditLogEntry],
    responses=error_responses(400, 401, 403, 429),
    description="The account's audit log: the key's mode and account-wide actions." + LIST_DOC,
)
async def list_audit_logs(
    request: Request, auth: KeyRead, session: SessionDep, params: Params, filters: Filters
) -> ListObject[AuditLogEntry]:
    """List the account's audit log."""
    filters = dataclasses.replace(filters, livemode=auth.livemode)
    rows, has_more = await audit_service.list(session, params, filters)
    return list_response(request, rows, has_more, AuditLogEntry.of)


@router.get(
    "/audit_logs/{audit_log_id}",
    response_model=AuditLogEntry,
    responses=error_responses(401, 403, 404, 429),
)
async def retrieve_audit_log(
    audit_log_id: str, auth: KeyRead, session: SessionDep
) -> AuditLogEntry:
    """One entry of the account's audit log."""
    row = await audit_service.get(session, audit_log_id, livemode=auth.livemode)
    return AuditLogEntry.of(row)


@router.get(
    "/merchants/{merchant_id}/audit_logs",
    response_model=ListObject[AuditLogEntry],
    responses=error_responses(400, 401, 403, 404, 429),
    description="The merchant's audit log, both modes (owners and admins)." + LIST_DOC,
)
async def list_team_audit_logs(
    request: Request,
    merchant_id: str,
    auth: MemberRead,
    session: SessionDep,
    params: Params,
    filters: Filters,
) -> ListObject[AuditLogEntry]:
    """List the merchant's audit log."""
    rows, has_more = await audit_service.list(session, params, filters)
    return list_response(request, rows, has_more, AuditLogEntry.of)


@router.get(
    "/merchants/{merchant_id}/audit_logs/{audit_log_id}",
    response_model=AuditLogEntry,
    responses=error_responses(401, 403, 404, 429),
)
async def retrieve_team_audit_log(
    merchant_id: str, audit_log_id: str, auth: MemberRead, session: SessionDep
) -> AuditLogEntry:
    """One entry of the merchant's audit log."""
    return AuditLogEntry.of(await audit_service.get(session, audit_log_id))


@admin_router.get(
    "/audit_logs",
    response_model=ListObject[AuditLogEntry],
    responses=error_responses(400, 401, 403),
    description="Every merchant's audit log and the platform's own actions (staff)." + LIST_DOC,
)
async def list_all_audit_logs(
    request: Request,
    auth: Staff,
    session: SessionDep,
    params: Params,
    filters: Filters,
    merchant: Annotated[
        str | None, Query(max_length=40, description="Only this merchant's entries.")
    ] = None,
) -> ListObject[AuditLogEntry]:
    """List the whole audit log."""
    filters = dataclasses.replace(filters, merchant_id=merchant or None)
    rows, has_more = await audit_service.list(session, params, filters)
    return list_response(request, rows, has_more, AuditLogEntry.of)


@admin_router.get(
    "/audit_logs/{audit_log_id}",
    response_model=AuditLogEntry,
    responses=error_responses(401, 403, 404),
)
async def retrieve_any_audit_log(
    audit_log_id: str, auth: Staff, session: SessionDep
) -> AuditLogEntry:
    """One entry of the audit log, whichever merchant it concerns."""
    return AuditLogEntry.of(await audit_service.get(session, audit_log_id))
