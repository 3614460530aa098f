"""Our webhook URLs, as every provider is given them: `{public base}/voice/{provider}/{step}?{params}`."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ..domain.script import Step


def step_url(base_url: str, provider: str, step: Step, **more: str) -> str:
    url = f"{base_url.rstrip('/')}/voice/{provider}/{step.name}"
    params = [*step.params, *sorted(more.items())]
    return f"{url}?{urlencode(params)}" if params else url


@dataclass(frozen=True)
class Console:
    """Where an admin gives a provider Holdfast's voice webhook, and what checks that the provider sent it."""

    name: str  # the provider, as its admins call it
    setting: str  # where the one URL goes (HTTP POST)
    signed: str  # how its webhooks are signed, and the setting that checks them


CONSOLES = {
    "twilio": Console("Twilio", "the Twilio console, the number's 'A call comes in' and 'Call status changes'",
                      "HMAC-SHA1 with the account's auth token (TWILIO_AUTH_TOKEN)"),
    "telnyx": Console("Telnyx", "the Telnyx portal, the TeXML application's 'Voice URL' and 'Status callback URL'",
                      "Ed25519, checked with the account's public key (TELNYX_PUBLIC_KEY)"),
    "vonage": Console("Vonage", "the Vonage dashboard, the application's Voice 'Answer URL' and 'Event URL' "
                      "(both POST)", "JWT (HS256) with the signature secret (VONAGE_SIGNATURE_SECRET)"),
}


def incoming_url(base_url: str, provider: str) -> str:
    """The one URL a provider's console is given (its calls and their status both arrive there)."""
    return step_url(base_url, provider, Step("incoming"))
