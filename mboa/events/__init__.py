"""Events (`evt_…`): what happened to a merchant's objects, written in the transaction that made
it happen (docs/api-conventions.md §D5); the Events API, the test-mode stream, `mboa listen` and
`mboa trigger` (docs/events.md)."""
