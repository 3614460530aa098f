"""Which numbers Holdfast may call. Numbers that must not be dialed never are."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneNumberType, ValidationResult
from phonenumbers import timezone as pn_timezone

from .errors import (CountryNotAllowedError, InvalidNumberError, NumberNotAllowedError, NumberTooLongError,
                     NumberTooShortError, NumberTypeNotAllowedError, WithheldNumberError)

# Caller IDs that mean "withheld" (seen from Twilio and carriers).
WITHHELD = frozenset({
    "", "anonymous", "restricted", "unknown", "private", "blocked", "unavailable", "withheld",
    "+266696687", "+86282452253", "+8656696", "+2562533", "+7378742833",
})

_REJECTED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium rate",
    PhoneNumberType.SHARED_COST: "shared cost",
    PhoneNumberType.UAN: "universal access",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.PERSONAL_NUMBER: "personal number",
}

CALLING_WINDOW = (time(8, 0), time(21, 0))

MAX_CONTACT_LENGTH = 256
# sip:user@host[:port][;params] with conservative characters; client:identity as Twilio Client takes it.
_SIP = re.compile(r"^sip:(?P<user>[A-Za-z0-9_.!~*'()&=+$,;?/%-]{1,64})"
                  r"@(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
                  r"(?::[0-9]{1,5})?(?:;[A-Za-z0-9_.=-]{1,64}){0,8}$")
_CLIENT = re.compile(r"^client:[A-Za-z0-9_.@-]{1,64}$")
# user:name[@realm]: a user registered with the provider's own SIP registrar (jambonz dials it by name,
# adding the account's SIP realm when none is given).
_USER = re.compile(r"^user:(?P<user>[A-Za-z0-9_.!~*'()&=+$,;?/%-]{1,64})"
                   r"(?:@(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?))?$")
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9().-]{5,}$")


@dataclass(frozen=True)
class NumberPolicy:
    allowed_countries: tuple[str, ...]
    default_region: str

    def normalize(self, raw: str | None) -> str:
        """The E.164 form of a real, shown number (any country, any type), or NumberNotAllowedError."""
        return phonenumbers.format_number(self._parse(raw), phonenumbers.PhoneNumberFormat.E164)

    def _parse(self, raw: str | None) -> phonenumbers.PhoneNumber:
        value = (raw or "").strip()
        if value.lower() in WITHHELD:
            raise WithheldNumberError("withheld")
        if value.startswith("00"):
            value = "+" + value[2:]
        try:
            parsed = phonenumbers.parse(value, self.default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidNumberError("unparseable") from exc
        if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) in WITHHELD:
            raise WithheldNumberError("withheld")
        if not phonenumbers.is_valid_number(parsed):
            possible = phonenumbers.is_possible_number_with_reason(parsed)
            if possible in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
                raise NumberTooShortError("too short")
            if possible == ValidationResult.TOO_LONG:
                raise NumberTooLongError("too long")
            raise InvalidNumberError("invalid")
        return parsed

    def accept(self, raw: str | None) -> str:
        """Return the E.164 form of a number Holdfast may call, or raise NumberNotAllowedError."""
        parsed = self._parse(raw)
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(parsed)
        # Non-geographic entities (region 001) are satellite and global services.
        if region == "001" or region not in self.allowed_countries:
            raise CountryNotAllowedError("country not allowed")
        kind = phonenumbers.number_type(parsed)
        if kind in _REJECTED_TYPES:
            raise NumberTypeNotAllowedError(_REJECTED_TYPES[kind])
        return e164

    def accept_contact(self, raw: str | None) -> str:
        """An agent's contact Holdfast may dial: a number under the same policy as callers' (E.164
        back), a well-formed sip: URI (whose user part, if it is a phone number, passes the policy too:
        a SIP trunk dials it at the same price), a client: identity or a user: registered SIP user
        (whose name, if it is a phone number, passes the policy too). Else NumberNotAllowedError."""
        value = (raw or "").strip()
        if len(value) > MAX_CONTACT_LENGTH:
            raise NumberNotAllowedError("too long")
        lowered = value.lower()
        if lowered.startswith("client:"):
            if not _CLIENT.match(value):
                raise NumberNotAllowedError("malformed client identity")
            return value
        if lowered.startswith(("sip:", "user:")):
            match = (_SIP if lowered.startswith("sip:") else _USER).match(value)
            if not match:
                raise NumberNotAllowedError("malformed SIP URI" if lowered.startswith("sip:")
                                            else "malformed registered user")
            user = match.group("user").split(";", 1)[0]
            if _PHONE_LIKE.match(user):
                self.accept(user if user.startswith("+") else "+" + user)
            return value
        if ":" in value:
            raise NumberNotAllowedError("only phone numbers, sip:, user: and client: contacts")
        return self.accept(value)

    def may_call(self, raw: str | None) -> bool:
        try:
            self.accept(raw)
            return True
        except NumberNotAllowedError:
            return False


def looks_like_number(value: str) -> bool:
    """Seven or more digits with at most phone punctuation: a phone number, whether valid or not."""
    return bool(re.fullmatch(r"\+?[0-9 ().-]+", value)) and sum(c.isdigit() for c in value) >= 7


def national_format(e164: str) -> str:
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def number_timezone(e164: str, fallback: str) -> str:
    """The callee's time zone; a number spanning several zones (or none) gets the fallback."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return fallback
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 else fallback


def in_calling_window(e164: str, now: datetime, fallback_tz: str) -> bool:
    local = now.astimezone(ZoneInfo(number_timezone(e164, fallback_tz))).time()
    return CALLING_WINDOW[0] <= local < CALLING_WINDOW[1]


def masked(number: str | None) -> str:
    """For logs and screens: never a whole number."""
    if not number:
        return ""
    return "***" + number[-2:] if len(number) > 4 else "***"
