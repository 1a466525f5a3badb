"""Pages a game day opens, recorded in the ledger before they are sent, so that nothing leaves on-call paged.

A page (a PagerDuty trigger and a Slack message) is a change to the world like a fault: whatever ends the run
must take it back. It is written to the ledger (kind ``page``) before the trigger is sent, and its undo is the
resolve. The run resolves it when the service is back or when it ends early (SIGINT, SIGTERM); ``gameday halt``
and ``gameday abort`` resolve what a frozen or killed run left. The entry holds a reference only (the dedup key,
the channels that were configured, the service and the experiment): the routing key and the webhook URL are
secrets, taken from the environment of whichever process sends the resolve. A dry run (no secret configured)
sends nothing, so it records no entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gameday.errors import GamedayError
from gameday.ledger import Ledger, LedgerEntry
from gameday.notify import messages
from gameday.notify.sender import ROUTING_KEY_ENV, SLACK_URL_ENV, Notification, Notifier

PAGE = "page"  # the ledger entry kind
CHANNEL_SECRETS = {"pagerduty": ROUTING_KEY_ENV, "slack": SLACK_URL_ENV}


@dataclass
class Page:
    """One open page: enough to resolve it from any process (no secret)."""

    dedup_key: str
    service: str
    experiment: str
    source: str  # the target's name, PagerDuty's ``source``
    channels: list[str] = field(default_factory=list)  # where the trigger went: the resolve goes there too
    entry_id: str | None = None  # its ledger entry; None in a dry run

    @classmethod
    def of(cls, entry: LedgerEntry) -> Page:
        """The page a ledger entry records."""
        p = entry.params
        return cls(str(p["dedup_key"]), str(p.get("service", "")), str(p.get("experiment", "")),
                   str(p.get("source", "")), list(p.get("channels", [])), entry.id)


def configured(notifier: Notifier) -> list[str]:
    """The channels this notifier really sends to (their secret is set)."""
    return [c for c, on in (("pagerduty", notifier.routing_key), ("slack", notifier.slack_url)) if on]


def trigger(notifier: Notifier, ledger: Ledger, target: dict[str, Any], page: Page, summary: str, at: float,
            details: dict[str, Any]) -> list[Notification]:
    """Record the page, then send its trigger; if it was resolved meanwhile (a halt while the trigger was on its
    way), resolve it again, so the trigger can never be the last word."""
    page.channels = configured(notifier)
    if page.channels:
        entry = LedgerEntry(fault=PAGE, params={"dedup_key": page.dedup_key, "service": page.service,
                                                "experiment": page.experiment, "source": page.source,
                                                "channels": page.channels},
                            target=dict(target), state="open", kind=PAGE)
        page.entry_id = ledger.add(entry).id
    sent = [
        notifier.pagerduty(messages.pagerduty_event("trigger", page.dedup_key, summary, page.source, at, details,
                                                    component=page.service)),
        notifier.slack(messages.slack_message(summary, {k: str(v) for k, v in details.items()}), "trigger"),
    ]
    if page.entry_id and not is_open(ledger, page):
        sent += _send_resolve(notifier, page, messages.withdrawn_text(page.service, page.experiment, "halted"), at)
    return sent


def is_open(ledger: Ledger, page: Page) -> bool:
    """Whether the page still needs its resolve: its entry is in the ledger (a dry-run page always does)."""
    return page.entry_id is None or any(e.id == page.entry_id for e in ledger.entries())


def resolve(notifier: Notifier, ledger: Ledger, page: Page, text: str, at: float) -> list[Notification]:
    """Send the resolve; the page is forgotten once every channel took it (else the ledger keeps it for abort)."""
    sent = _send_resolve(notifier, page, text, at)
    if page.entry_id and not any(n.failed for n in sent):
        ledger.remove(page.entry_id)
    return sent


def undo(ledger: Ledger, entry: LedgerEntry, why: str, notifier: Notifier | None = None) -> None:
    """Resolve a page another process opened (``abort``, ``halt``, a run's cleanup); raise when it stays open."""
    page = Page.of(entry)
    notifier = notifier or Notifier()
    missing = [CHANNEL_SECRETS[c] for c in page.channels if c not in configured(notifier)]
    if missing:
        raise GamedayError(f"{' and '.join(missing)} not set here: the page stays open (run 'gameday abort' "
                           "where it is set)")
    failed = [n.describe() for n in resolve(notifier, ledger, page,
                                             messages.withdrawn_text(page.service, page.experiment, why),
                                             time.time()) if n.failed]
    if failed:
        raise GamedayError(f"resolve not delivered ({', '.join(failed)}): the page stays open")


def _send_resolve(notifier: Notifier, page: Page, text: str, at: float) -> list[Notification]:
    everywhere = page.entry_id is None  # a dry run records both channels, as its trigger did
    sent = []
    if everywhere or "pagerduty" in page.channels:
        sent.append(notifier.pagerduty(messages.pagerduty_event("resolve", page.dedup_key, text, page.source, at,
                                                                component=page.service)))
    if everywhere or "slack" in page.channels:
        sent.append(notifier.slack(messages.slack_message(text, {"experiment": page.experiment}), "resolve"))
    return sent

