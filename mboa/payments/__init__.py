"""Payment intents and their attempts (docs/payments.md)."""
