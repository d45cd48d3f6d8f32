"""The double-entry ledger: the source of truth for every franc (docs/ledger.md).

Import the service as `from mboa.ledger.service import ledger`.
"""
