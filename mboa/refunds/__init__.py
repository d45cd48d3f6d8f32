"""Refunds: money given back to a payer (docs/refunds.md)."""
