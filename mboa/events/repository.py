from __future__ import annotations

from mboa.kit.repository import RepositoryBase
from mboa.models import Event


class EventRepository(RepositoryBase[Event]):
    model = Event
