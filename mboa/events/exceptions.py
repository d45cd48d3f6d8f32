from __future__ import annotations

from mboa.exceptions import BadRequest, NotFound


class EventNotFound(NotFound):
    pass


class EventStreamTestModeOnly(BadRequest):
    """The event stream is a development tool: it serves test-mode events only."""

    code = "event_stream_test_mode_only"
