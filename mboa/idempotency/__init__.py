"""Stripe-style `Idempotency-Key` on every POST (docs/api-conventions.md §A8, §D4)."""
