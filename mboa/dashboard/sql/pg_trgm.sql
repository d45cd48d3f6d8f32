-- Trigram matching for the dashboard's search (any part of a reference or a phone number):
-- the payment intents' GIN indexes use its `gin_trgm_ops`. A trusted extension since
-- PostgreSQL 13: the database owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
