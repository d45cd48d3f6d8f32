"""Each staff decision on an account e-mails its owners, with the reason, in each owner's
language (docs/going-live.md): the notice queued with the decision is rendered and delivered
through the mailer the tests read (the local mailbox's files, mboa/mail/backends.py)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from mboa.mail.backends import MailboxMailer, Stored, mailbox_messages
from mboa.mail.service import mail
from mboa.users.service import user as user_service
from tests.helpers import Account, Api, bearer

EXPECTED = {
    "fr": {
        "reject": ("{name} : votre dossier est à compléter", "n'a pas été accepté"),
        "approve": ("{name} est en production sur Mboa Pay", "vous pouvez maintenant créer"),
        "suspend": ("{name} est suspendu", "le mode test fonctionne toujours"),
        "reactivate": ("{name} est réactivé", "La suspension de votre compte"),
    },
    "en": {
        "reject": ("{name}: your application needs changes", "was not accepted"),
        "approve": ("{name} is live on Mboa Pay", "you can now create live keys"),
        "suspend": ("{name} is suspended", "test mode keeps working"),
        "reactivate": ("{name} is reactivated", "The suspension of your account"),
    },
}
REASON_LABEL = {"fr": "Motif : ", "en": "Reason: "}


async def deliver_decision(
    api: Api, owner_connection: asyncpg.Connection, mailbox: Path, account: Account
) -> Stored:
    """Send the one unsent account notice as the worker would, and read what arrived."""
    pending = await owner_connection.fetch(
        "SELECT id, kind, recipients FROM notifications"
        " WHERE merchant_id = $1 AND sent_at IS NULL AND kind LIKE 'account.updated.%'",
        account.merchant_id,
    )
    assert len(pending) == 1, pending
    before = len(mailbox_messages(mailbox))
    mailer = MailboxMailer(mailbox, "Mboa Pay <no-reply@mboa.cm>")
    sent = await mail.send(api.state.db, api.state.settings, mailer, pending[0]["id"])
    assert sent == "sent"
    messages = mailbox_messages(mailbox)
    assert len(messages) == before + 1
    return messages[0]


@pytest.mark.parametrize("locale", ["fr", "en"])
async def test_every_decision_mails_the_owner_the_reason_in_their_language(
    api: Api, owner_connection: asyncpg.Connection, tmp_path: Path, locale: str
) -> None:
    name = f"Couture {locale.upper()}"
    account = await api.signup(business=name)
    async with api.state.db.platform_transaction() as session:
        await user_service.set_locale(session, account.user_id, locale)
    await api.add_member(account, "developer")  # not an owner: not told
    staff = bearer(await api.staff("compliance"))
    admin = f"/v1/admin/merchants/{account.merchant_id}"

    await api.submit_kyc(account)
    decisions = [
        ("reject", "La pièce d'identité est floue / the ID is blurred"),
        ("approve", "Documents conformes"),
        ("suspend", "Chargebacks under review"),
        ("reactivate", "Review closed"),
    ]
    for action, reason in decisions:
        if action == "approve":  # the owner fixes and resubmits first
            resubmitted = await api.http.post(
                f"/v1/merchants/{account.merchant_id}/kyc/submit", headers=account.user_headers
            )
            assert resubmitted.status_code == 200, resubmitted.text
        decided = await api.http.post(f"{admin}/{action}", json={"reason": reason}, headers=staff)
        assert decided.status_code == 200, decided.text
        message = await deliver_decision(api, owner_connection, tmp_path, account)
        subject, sentence = EXPECTED[locale][action]
        assert message.to == account.email
        assert message.subject == subject.format(name=name), message.subject
        assert sentence in message.text, message.text
        assert f"{REASON_LABEL[locale]}{reason}" in message.text, message.text
        assert "/dashboard/activate" in message.text
        assert sentence in message.html.replace("&#39;", "'")
    assert len(mailbox_messages(tmp_path)) == len(decisions)
