"""E-mail: one `Mailer.send(message)` with two backends (SMTP, a local mailbox), and the queue of
notices to send (the `notifications` table, sent by the `mail.send` task)."""
