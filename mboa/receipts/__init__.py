"""PDF receipts of succeeded payments: built on first request, kept in object storage
(docs/payments.md, "Receipts")."""
