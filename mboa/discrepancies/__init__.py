"""Operator reports that contradict a final state: recorded, counted, never re-posted."""
