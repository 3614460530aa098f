"""Notification channels: Slack incoming webhook, Telegram bot, email (SES), SMS (the telephony provider)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import NotifyError
from ..ports import Notifier

TIMEOUT_SECONDS = 5


def post_json(url: str, body: Mapping[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - https or test stand-in
            if response.status >= 300:
                raise NotifyError(f"HTTP {response.status}")
    except urllib.error.URLError as exc:
        raise NotifyError(f"POST failed: {exc.reason}") from exc


class SlackNotifier(Notifier):
    channel = "slack"

    def send(self, settings: Mapping[str, Any], subject: str, text: str) -> bool:
        url = settings.get("slack_webhook_url")
        if not url:
            return False
        post_json(url, {"text": f"*{subject}*\n{text}"})
        return True


class TelegramNotifier(Notifier):
    channel = "telegram"

    def __init__(self, api_base_url: str = "https://api.telegram.org") -> None:
        self._base = api_base_url.rstrip("/")

    def send(self, settings: Mapping[str, Any], subject: str, text: str) -> bool:
        token, chat = settings.get("telegram_bot_token"), settings.get("telegram_chat_id")
        if not token or not chat:
            return False
        post_json(f"{self._base}/bot{token}/sendMessage", {"chat_id": chat, "text": f"{subject}\n{text}"})
        return True


class EmailNotifier(Notifier):
    channel = "email"

    def __init__(self, ses_client: Any) -> None:
        self._ses = ses_client

    def send(self, settings: Mapping[str, Any], subject: str, text: str) -> bool:
        sender, to = settings.get("email_from"), settings.get("email_to")
        if not sender or not to:
            return False
        try:
            self._ses.send_email(Source=sender, Destination={"ToAddresses": list(to)},
                                 Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}})
        except (BotoCoreError, ClientError) as exc:
            raise NotifyError(f"SES: {type(exc).__name__}") from exc
        return True


class SmsNotifier(Notifier):
    channel = "sms"

    def __init__(self, send_sms: Callable[[str, str, str], None]) -> None:
        self._send = send_sms  # (to, from, body), through the telephony provider

    def send(self, settings: Mapping[str, Any], subject: str, text: str) -> bool:
        sender, to = settings.get("sms_from"), settings.get("sms_to")
        if not sender or not to:
            return False
        for number in to:
            self._send(number, sender, f"{subject}: {text}")
        return True
