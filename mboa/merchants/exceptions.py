from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, Forbidden, NotFound


class MerchantNotFound(NotFound):
    pass


class MemberNotFound(NotFound):
    pass


class AlreadyMember(Conflict):
    code = "member_exists"


class LastOwner(BadRequest):
    code = "last_owner"


class OwnerOnly(Forbidden):
    code = "owner_required"


class InvalidTransition(BadRequest):
    code = "merchant_status_invalid"
