"""Webhooks: merchants' endpoints and the signed delivery of events to them (Standard Webhooks)."""
