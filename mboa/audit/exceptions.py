from __future__ import annotations

from mboa.exceptions import NotFound


class AuditLogNotFound(NotFound):
    pass
