"""Stripe-style `Idempotency-Key` on every POST (api-conventions.md §A8, §D4)."""
