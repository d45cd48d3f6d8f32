from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, Forbidden, NotFound


class NotStaff(Forbidden):
    """A signed-in user who is not platform staff (a merchant's member): the console is not
    theirs."""

    code = "platform_admin_required"


class TwoFactorRequired(Forbidden):
    code = "two_factor_required"


class StaffPermissionDenied(Forbidden):
    """A staff API call (`/v1/admin/*`) the staff member's role does not allow; the message
    names the missing permission."""

    code = "permission_denied"


class StaffRoleNotPermitted(Forbidden):
    """A console action the staff member's role does not allow."""

    code = "staff_role_required"


# Staff management (`/console/staff`, mboa/console/staff_service.py)


class StaffRoleInvalid(BadRequest):
    code = "staff_role_invalid"


class StaffUserNotFound(NotFound):
    """No active user has the e-mail: staff roles go to existing accounts only (a new person's
    account comes from `mboa admin create`)."""

    code = "staff_user_not_found"


class StaffAlreadyGranted(Conflict):
    code = "staff_already_granted"


class StaffMemberNotFound(NotFound):
    """The id names no staff member (never was, or already revoked)."""

    code = "staff_member_not_found"


class StaffSelfChange(Conflict):
    """A superadmin changing or revoking their own access (another superadmin must)."""

    code = "staff_self_change"


class LastSuperadmin(Conflict):
    """The change would leave the platform with no superadmin."""

    code = "last_superadmin"
