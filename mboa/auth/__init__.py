"""Who is calling: API keys (sk_/pk_/rk_), user access tokens, and what each may do."""
