"""What the dashboard's e-mails say, in the recipient's language (the dashboard's catalogs):
a subject, paragraphs, and at most one link, as plain text and as simple HTML
(`templates/mail/message.html`). Links are absolute (`api.public_url`)."""

from __future__ import annotations

from typing import Any

from mboa.dashboard.i18n import N_, translations
from mboa.dashboard.rendering import render as render_page
from mboa.web.formatting import money

ROLE_NAMES = {
    "owner": N_("Owner"),
    "admin": N_("Administrator"),
    "developer": N_("Developer"),
    "analyst": N_("Analyst"),
}


def render(
    kind: str,
    locale: str,
    data: dict[str, Any],
    *,
    link: str | None,
    base_url: str,
    livemode: bool,
) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one notice for one recipient."""
    _ = translations(locale).gettext
    base = base_url.rstrip("/")
    mode = "" if livemode else _("[test mode] ")
    action: str | None = None
    paragraphs: list[str]
    if kind == "team.invitation":
        role = _(ROLE_NAMES.get(str(data.get("role")), N_("Member")))
        subject = _("You are invited to join {merchant} on Mboa Pay").format(
            merchant=data.get("merchant_name", "")
        )
        paragraphs = [
            _("{inviter} invites you to join the team of {merchant} on Mboa Pay as {role}.").format(
                inviter=data.get("inviter", ""), merchant=data.get("merchant_name", ""), role=role
            ),
            _("Open the link below to accept. It works for 7 days."),
        ]
        action = _("Accept the invitation")
    elif kind == "user.password_reset":
        subject = _("Reset your Mboa Pay password")
        paragraphs = [
            _("Someone asked to reset the password of your Mboa Pay account."),
            _("Open the link below to choose a new password. It works once, for one hour."),
            _("If you did not ask for this, ignore this message: your password stays the same."),
        ]
        action = _("Choose a new password")
    elif kind == "payout.paid":
        amount = money(int(data.get("amount", 0)), str(data.get("currency", "XAF")), locale)
        subject = mode + _("Payout of {amount} sent").format(amount=amount)
        paragraphs = [
            _("Your payout {payout} of {amount} to {phone} has been paid.").format(
                payout=data.get("payout", ""), amount=amount, phone=data.get("phone", "")
            )
        ]
        link = f"{base}/dashboard/payouts/{data.get('payout', '')}"
        action = _("See the payout")
    elif kind == "payout.failed":
        amount = money(int(data.get("amount", 0)), str(data.get("currency", "XAF")), locale)
        subject = mode + _("Payout of {amount} failed").format(amount=amount)
        paragraphs = [
            _("Your payout {payout} of {amount} to {phone} failed.").format(
                payout=data.get("payout", ""), amount=amount, phone=data.get("phone", "")
            ),
            _("The money is back in your available balance. You can request a new payout."),
        ]
        link = f"{base}/dashboard/payouts/{data.get('payout', '')}"
        action = _("See the payout")
    elif kind == "webhook_endpoint.disabled":
        subject = mode + _("Your webhook endpoint was disabled")
        why = (
            _("it answered 410 Gone")
            if data.get("reason") == "gone"
            else _("every delivery to it failed for too long")
        )
        paragraphs = [
            _("We disabled your webhook endpoint {url} because {why}.").format(
                url=data.get("url", ""), why=why
            ),
            _(
                "Events are no longer sent to it. Fix it, enable it again, and resend the events it missed."
            ),
        ]
        link = f"{base}/dashboard"
        action = _("Open the dashboard")
    elif kind.startswith("account.updated."):
        subject, paragraphs, action = _account_decision(_, data)
        link = f"{base}/dashboard/activate"
    else:
        raise ValueError(f"no e-mail for {kind!r}")
    text = "\n\n".join(paragraphs)
    if link:
        text += f"\n\n{action}:\n{link}"
    text += "\n\n-- \nMboa Pay"
    html = render_page(
        "mail/message.html",
        locale,
        subject=subject,
        paragraphs=paragraphs,
        link=link,
        action=action,
    )
    return subject, text, html


def _account_decision(_: Any, data: dict[str, Any]) -> tuple[str, list[str], str]:
    """A staff decision on the account (docs/going-live.md): approved, rejected (with the
    reason), suspended, reactivated."""
    name = data.get("merchant_name", "")
    decision = data.get("action")
    if decision == "approve":
        subject = _("{merchant} is live on Mboa Pay").format(merchant=name)
        paragraphs = [
            _("Your account {merchant} is approved: you can now create live keys.").format(
                merchant=name
            )
        ]
    elif decision == "reject":
        subject = _("{merchant}: your application needs changes").format(merchant=name)
        paragraphs = [
            _("Your application for {merchant} was not accepted.").format(merchant=name),
            _("Fix what is asked below, then submit it again."),
        ]
    elif decision == "suspend":
        subject = _("{merchant} is suspended").format(merchant=name)
        paragraphs = [
            _("Live mode is suspended on your account {merchant}; test mode keeps working.").format(
                merchant=name
            )
        ]
    else:
        subject = _("{merchant} is reactivated").format(merchant=name)
        paragraphs = [
            _("The suspension of your account {merchant} is lifted.").format(merchant=name)
        ]
    if data.get("reason"):
        paragraphs.append(_("Reason: {reason}").format(reason=data["reason"]))
    return subject, paragraphs, _("Open the going-live page")
