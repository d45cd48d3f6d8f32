"""Inbound operator callbacks: `PUT|POST /v1/providers/{provider}/callback/{id}` stores each one
in `provider_events` (de-duplicated) and a task confirms it by a status read (docs/providers.md).

The adapters they go through live in `mboa.providers`; this domain only uses the port.
"""
