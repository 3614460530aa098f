"""Secrets and deploy-time values from AWS Systems Manager Parameter Store, through Powertools
Parameters (cached for `max_age` seconds, so a warm function does not call SSM per request).

Names under one path per stage (e.g. /holdfast/dev): `twilio-auth-token`, `admin-token` and `agent-token`
(SecureString, written by `make deploy`), `public-url` (String, written by the stack itself)."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from ..settings import SettingsError

TWILIO_AUTH_TOKEN = "twilio-auth-token"
ADMIN_TOKEN = "admin-token"
AGENT_TOKEN = "agent-token"
PUBLIC_URL = "public-url"
# Read only when that provider is enabled (HOLDFAST_PROVIDERS).
TELNYX_PUBLIC_KEY, TELNYX_API_KEY = "telnyx-public-key", "telnyx-api-key"
JAMBONZ_WEBHOOK_SECRET, JAMBONZ_API_KEY = "jambonz-webhook-secret", "jambonz-api-key"
VONAGE_SIGNATURE_SECRET, VONAGE_PRIVATE_KEY = "vonage-signature-secret", "vonage-private-key"
VONAGE_URL_TOKEN = "vonage-url-token"


class ParameterStore:
    """Values under one Parameter Store path. One that cannot be read stops the app from starting
    (every webhook 403, /health says which); it is tried again on the next request."""

    def __init__(self, path: str, ssm_client: Any, max_age: int = 300) -> None:
        self.path = path.rstrip("/")
        self.max_age = max_age
        self._provider = SSMProvider(boto3_client=ssm_client)

    def get(self, name: str, force_fetch: bool = False) -> str:
        try:
            value = self._provider.get(f"{self.path}/{name}", max_age=self.max_age, decrypt=True,
                                       force_fetch=force_fetch)
        except GetParameterError as exc:
            raise SettingsError([f"{self.path}/{name} could not be read from Parameter Store "
                                 f"({type(exc.__cause__ or exc).__name__})"]) from exc
        return str(value or "")
