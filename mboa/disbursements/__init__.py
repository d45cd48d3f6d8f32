"""Transfers of ours to a wallet: the shared part of payouts and refunds."""
