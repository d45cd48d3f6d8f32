"""Payouts: money from a merchant's available balance to a mobile-money wallet (docs/payouts.md)."""
