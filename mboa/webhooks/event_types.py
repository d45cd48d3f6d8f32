"""What an endpoint's `enabled_events` accepts: the event types of mboa/events/types.py (the one
list), or `*`."""

from __future__ import annotations

from typing import Final

from mboa.events.types import EVENT_TYPES

__all__ = ["ALL_EVENTS", "EVENT_TYPES", "matches"]

ALL_EVENTS: Final = "*"


def matches(enabled_events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in enabled_events or event_type in enabled_events
