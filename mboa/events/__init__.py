"""Events (`evt_…`): what happened to a merchant's objects, written in the transaction that made
it happen (docs/api-conventions.md §D5). Only the writer exists; the Events API and webhook
delivery come next (issue 14)."""
