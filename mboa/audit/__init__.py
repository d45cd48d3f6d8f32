"""The audit log (docs/audit.md): who did what to which object, from where, append-only and
hash-chained. Domains call `audit.record(session, …)` in the transaction of the action."""
