"""A caller's own page, opened from the link in their text (GET /c/{token}; cancel: POST
/c/{token}/cancel), the provider's inbound-text webhook (POST /sms/{provider}/incoming: STOP and the
provider's opt-out callbacks) and its delivery reports (POST /sms/{provider}/status). The page is
small, works on a phone, loads nothing else; a link that is not whole, not ours or expired is a plain 404 that reveals nothing. Links are never logged."""
from __future__ import annotations

import html
from typing import Mapping

from ..domain.links import LinkError, UnsignedStatusUrlError
from ..domain.texts import CallbackTexts, CallerView
from ..ports import Messenger, Telephony, WebhookRequest
from .console import WebReply

PAGE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                           "frame-ancestors 'none'"}
STYLE = ("body{font:18px/1.5 system-ui,sans-serif;margin:0;padding:1.25rem;max-width:32rem}"
         "h1{font-size:1.3rem}button{font-size:1.1rem;padding:.75rem 1.25rem;width:100%;margin-top:1rem}")


def _page(status: int, title: str, body: str) -> WebReply:
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>")
    return WebReply(status, doc, "text/html; charset=utf-8", PAGE_HEADERS)


def _view(view: CallerView, token: str, said: str = "") -> str:
    name = html.escape(view.queue_name)
    parts = [f"<h1>Your callback from {name}</h1>"]
    if said:
        parts.append(f'<p role="status">{html.escape(said)}</p>')
    if not view.pending:
        parts.append("<p>This callback is no longer pending.</p>")
        return "".join(parts)
    if view.at is not None:
        iso = view.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f'<p>We will call you back by <time datetime="{iso}">{iso.replace("T", " ")[:16]} UTC</time>.</p>')
    else:
        parts.append("<p>We will call you back as soon as an agent is free.</p>")
    if view.place:
        parts.append(f'<p>You are number <strong id="place">{view.place}</strong> in line.</p>')
    if view.calling_from:
        parts.append(f"<p>The call will come from {html.escape(view.calling_from)}.</p>")
    parts.append(f'<form method="post" action="/c/{html.escape(token)}/cancel">'
                 f'<button type="submit">Cancel my callback</button></form>')
    return "".join(parts)


class CallerPages:
    def __init__(self, texts: CallbackTexts, providers: Mapping[str, Telephony], messenger: Messenger | None,
                 public_base_url: str) -> None:
        self.texts, self.providers, self.messenger = texts, providers, messenger
        self.base_url = public_base_url.rstrip("/")

    def page(self, token: str) -> WebReply:
        try:
            view = self.texts.page(token)
        except LinkError:
            return _page(404, "Not found", "<p>This link is not valid any more.</p>")
        return _page(200, "Your callback", _view(view, token))

    def cancel(self, token: str) -> WebReply:
        try:
            cancelled = self.texts.cancel(token)
            view = self.texts.page(token)
        except LinkError:
            return _page(404, "Not found", "<p>This link is not valid any more.</p>")
        said = "Your callback is cancelled." if cancelled else "This callback could not be cancelled."
        return _page(200, "Your callback", _view(view, token, said))

    def _verified(self, provider: str, hook: str, raw_body: bytes | None, query: Mapping[str, str] | None,
                  headers: Mapping[str, str], method: str) -> tuple[Messenger, WebhookRequest] | WebReply:
        """A messaging webhook verified like the provider's voice webhooks (fail closed), or the refusal."""
        telephony = self.providers.get(provider)
        if telephony is None or self.messenger is None or self.messenger.name != provider:
            return WebReply(404, "unknown provider\n", "text/plain")
        request = WebhookRequest(method, f"{self.base_url}/sms/{provider}/{hook}", dict(query or {}),
                                 dict(headers or {}), raw_body or b"")
        if not telephony.verify(request):
            return WebReply(403, "signature does not verify\n", "text/plain")
        return self.messenger, request

    def inbound_text(self, provider: str, raw_body: bytes | None, query: Mapping[str, str] | None,
                     headers: Mapping[str, str], method: str) -> WebReply:
        """The provider's inbound-message webhook (POST /sms/{provider}/incoming)."""
        verified = self._verified(provider, "incoming", raw_body, query, headers, method)
        if isinstance(verified, WebReply):
            return verified
        messenger, request = verified
        text = messenger.parse_inbound(request)
        if text is None:
            return WebReply(400, "not an inbound message\n", "text/plain")
        self.texts.inbound(text)
        return WebReply(204, "", "text/plain")  # nothing to send back: the opt-out is recorded

    def text_status(self, provider: str, raw_body: bytes | None, query: Mapping[str, str] | None,
                    headers: Mapping[str, str], method: str) -> WebReply:
        """The provider's delivery reports for our texts (POST /sms/{provider}/status?q=<queue>&b=<half
        hour>&s=<their MAC>, the status URL each text was sent with). A state Holdfast does not count is
        acknowledged (204) so the provider does not retry it; a URL whose MAC is not ours, refused (403)."""
        verified = self._verified(provider, "status", raw_body, query, headers, method)
        if isinstance(verified, WebReply):
            return verified
        messenger, request = verified
        where = (str(request.query.get("q", "")), str(request.query.get("b", "")), str(request.query.get("s", "")))
        try:  # the provider signed the body, not this URL: its queue and half hour must be ours (fail closed)
            self.texts.check_status_url(*where)
            status = messenger.parse_status(request)
            if status is not None:
                self.texts.delivery(status, *where)
        except UnsignedStatusUrlError:
            return WebReply(403, "status URL not signed by Holdfast\n", "text/plain")
        return WebReply(204, "", "text/plain")
