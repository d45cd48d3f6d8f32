"""Object storage: private files (merchant logos, PDF receipts, KYC documents) behind one small
async interface (`backends.ObjectStore`), on the filesystem (the embedded default) or any
S3-compatible server; uploads checked and cleaned before they are stored (`uploads`); objects
served through short-lived signed URLs (docs/storage.md)."""
