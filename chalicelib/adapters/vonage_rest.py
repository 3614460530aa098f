"""Vonage's Voice API over plain HTTPS: the four requests Holdfast makes (create a call, transfer a live
call to an NCCO, transfer it to an answer URL, hang it up), and the Messages API's one (send a text),
each authorised by the application JWT.

The application JWT is RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over the claims Vonage's own library sets
(`application_id`, `iat`, `jti`, `exp`), signed with the application's private key (PKCS#8 or PKCS#1 PEM)
by the `rsa` library: no 15 MB native cryptography in the Lambda layer for one signature per outbound
request. tests/contract/test_telnyx_vonage.py holds the token to PyJWT's (same bytes, same key) and the
request bodies to the `vonage` library's own models."""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Mapping

import requests
import rsa
from pyasn1.codec.der import decoder as der
from pyasn1.error import PyAsn1Error

from ..ports import Clock
from .rest import call_api

DEFAULT_API_BASE_URL = "https://api.nexmo.com"
JWT_SECONDS = 60  # the library's default is fifteen minutes; a minute is enough for one request
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(value: Mapping[str, Any], sort: bool = False) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort).encode()


def private_key(pem: str) -> rsa.PrivateKey:
    """The application's RSA private key from its PEM (PKCS#8, as Vonage issues it, or PKCS#1).
    ValueError if it is not one."""
    try:
        if "BEGIN RSA PRIVATE KEY" in pem:
            return rsa.PrivateKey.load_pkcs1(pem.encode(), "PEM")
        body = rsa.pem.load_pem(pem.encode(), "PRIVATE KEY")
        info, _ = der.decode(body)  # PrivateKeyInfo: version, algorithm, the PKCS#1 key as an octet string
        if str(info[1][0]) != RSA_ENCRYPTION:
            raise ValueError("not an RSA key")
        return rsa.PrivateKey.load_pkcs1(bytes(info[2]), "DER")
    except (PyAsn1Error, IndexError, TypeError) as exc:
        raise ValueError("not an RSA private key") from exc


def application_jwt(application_id: str, key: rsa.PrivateKey, issued_at: int, jti: str | None = None) -> str:
    """Vonage's application JWT, as its library builds it (header keys sorted, compact JSON)."""
    claims = {"application_id": application_id, "iat": issued_at, "jti": jti or str(uuid.uuid4()),
              "exp": issued_at + JWT_SECONDS}
    signing_input = f"{_b64url(_json({'alg': 'RS256', 'typ': 'JWT'}, sort=True))}.{_b64url(_json(claims))}"
    return f"{signing_input}.{_b64url(rsa.sign(signing_input.encode(), key, 'SHA-256'))}"


class VoiceApi:
    """POST /v1/calls and PUT /v1/calls/{uuid} on `api_base_url` (http:// for a local stand-in)."""

    def __init__(self, application_id: str, private_key_pem: str, clock: Clock, api_base_url: str | None = None,
                 session: requests.Session | None = None) -> None:
        self._application_id = application_id
        self._key = private_key(private_key_pem)
        self._clock = clock
        self._base = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self._session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        token = application_jwt(self._application_id, self._key, int(self._clock.now().timestamp()))
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}

    def create_call(self, body: Mapping[str, Any]) -> str:
        reply = call_api(self._session, "POST", f"{self._base}/v1/calls", self._headers(), body, "vonage call")
        return str(reply.get("uuid", ""))

    def transfer(self, call_id: str, destination: Mapping[str, Any]) -> None:
        """The call's NCCO replaced (`{"type": "ncco", "ncco": [...]}` or `{"type": "ncco", "url": [...]}`);
        400 or 404 means the call has ended."""
        call_api(self._session, "PUT", f"{self._base}/v1/calls/{call_id}", self._headers(),
                 {"action": "transfer", "destination": dict(destination)}, "vonage transfer", gone=(400, 404))

    def send_message(self, body: Mapping[str, Any]) -> str:
        """POST /v1/messages (the Messages API, same application JWT); the message's uuid."""
        reply = call_api(self._session, "POST", f"{self._base}/v1/messages", self._headers(), body, "vonage message")
        return str(reply.get("message_uuid", ""))

    def hangup(self, call_id: str) -> None:
        """The call ended, whatever its NCCO is doing; 400 or 404 means it already has."""
        call_api(self._session, "PUT", f"{self._base}/v1/calls/{call_id}", self._headers(), {"action": "hangup"},
                 "vonage hangup", gone=(400, 404))
