from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, Forbidden, NotFound


class MerchantNotFound(NotFound):
    pass


class MemberNotFound(NotFound):
    pass


class UnknownUserEmail(BadRequest):
    """A parameter names something that does not exist: 400, as Stripe answers for a missing
    object named in the body (404 is for the object of the URL)."""

    code = "resource_missing"


class AlreadyMember(Conflict):
    code = "member_exists"


class LastOwner(BadRequest):
    code = "last_owner"


class OwnerOnly(Forbidden):
    code = "owner_required"


class InvalidTransition(Conflict):
    """The decision does not apply to the merchant's current status (the message names it)."""

    code = "merchant_status_invalid"


class InvitationPending(Conflict):
    code = "invitation_pending"


class InvitationNotFound(NotFound):
    pass


class InvitationInvalid(NotFound):
    """The link's token names no pending invitation (used, revoked, expired, or never)."""

    code = "invitation_invalid"


class InvitationEmailMismatch(Forbidden):
    code = "invitation_email_mismatch"


class EmailInvalid(BadRequest):
    code = "email_invalid"
