"""Which numbers Holdfast may call. Numbers that must not be dialed never are."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
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
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9().-]{5,}$")


def sip_domain_allowed(host: str, domains: tuple[str, ...]) -> bool:
    """The host is one of the domains, or a subdomain of one (case aside)."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in (d.lower().strip(".") for d in domains) if d)


@dataclass(frozen=True)
class NumberPolicy:
    allowed_countries: tuple[str, ...]
    default_region: str
    # The SIP domains agents' sip: contacts may name (the deployment's PBX or trunk); None: any.
    sip_domains: tuple[str, ...] | None = None

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
        a SIP trunk dials it at the same price) or a client: identity. Else NumberNotAllowedError."""
        value = (raw or "").strip()
        if len(value) > MAX_CONTACT_LENGTH:
            raise NumberNotAllowedError("too long")
        lowered = value.lower()
        if lowered.startswith("client:"):
            if not _CLIENT.match(value):
                raise NumberNotAllowedError("malformed client identity")
            return value
        if lowered.startswith("sip:"):
            match = _SIP.match(value)
            if not match:
                raise NumberNotAllowedError("malformed SIP URI")
            user = match.group("user").split(";", 1)[0]
            if _PHONE_LIKE.match(user):
                self.accept(user if user.startswith("+") else "+" + user)
            if self.sip_domains is not None and not sip_domain_allowed(match.group("host"), self.sip_domains):
                raise NumberNotAllowedError("SIP domain not allowed (HOLDFAST_AGENT_SIP_DOMAINS)")
            return value
        if ":" in value:
            raise NumberNotAllowedError("only phone numbers, sip: and client: contacts")
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


def number_timezones(e164: str | None) -> tuple[str, ...]:
    """Every time zone the number may ring in (phonenumbers' data: one for most numbers, several for a
    country or area code that spans zones, such as +1 709 or a Russian mobile); () when not known."""
    try:
        parsed = phonenumbers.parse(e164 or "", None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")


def local_zone(e164: str | None, at: datetime) -> str | None:
    """A zone that tells the number's local time at `at`: every zone it may ring in shows the same time
    then (a UK mobile's four zones do); None when they differ or none is known (nothing can be said as
    'your time' then)."""
    zones = number_timezones(e164)
    offsets = {at.astimezone(ZoneInfo(z)).utcoffset() for z in zones}
    return zones[0] if len(offsets) == 1 else None


def _in_window(zone: str, at: datetime) -> bool:
    return CALLING_WINDOW[0] <= at.astimezone(ZoneInfo(zone)).time() < CALLING_WINDOW[1]


def calling_zones(e164: str, at: datetime, fallback_tz: str) -> tuple[str, ...]:
    """The zones whose calling windows a call to the number must all be inside (the strictest window): the
    number's own; the fallback when none is known, or when they are never all inside at once (a number
    spanning more hours than the window, e.g. a +1 800 number, answered anywhere from Guam to Samoa)."""
    zones = number_timezones(e164)
    offsets = [at.astimezone(ZoneInfo(z)).utcoffset() for z in zones]
    span = datetime.combine(at.date(), CALLING_WINDOW[1]) - datetime.combine(at.date(), CALLING_WINDOW[0])
    if not zones or max(offsets) - min(offsets) >= span:  # type: ignore[operator]
        return (fallback_tz,)
    return zones


def in_calling_window(e164: str, now: datetime, fallback_tz: str) -> bool:
    """Inside the calling window in every zone the number may ring in."""
    return all(_in_window(zone, now) for zone in calling_zones(e164, now, fallback_tz))


def window_opens(e164: str, moment: datetime, fallback_tz: str) -> datetime:
    """The first instant at or after `moment` inside the number's calling window in all its zones."""
    for _ in range(8):  # each step waits for a zone's window to open; a few steps reach one all share
        outside = [z for z in calling_zones(e164, moment, fallback_tz) if not _in_window(z, moment)]
        if not outside:
            return moment
        moment = max(_opens(zone, moment) for zone in outside)
    return moment


def _opens(zone: str, moment: datetime) -> datetime:
    """The next opening of the window in `zone` after `moment` (outside it)."""
    local = moment.astimezone(ZoneInfo(zone))
    opens = local.replace(hour=CALLING_WINDOW[0].hour, minute=CALLING_WINDOW[0].minute, second=0, microsecond=0)
    if local >= opens:  # past today's window: tomorrow's (wall-clock arithmetic: DST moves the offset)
        opens += timedelta(days=1)
    return opens.astimezone(timezone.utc)


def too_early(e164: str | None, now: datetime) -> bool | None:
    """Outside the window where the number's local time is known: before it opens that day (True: 'it is
    early where you are', even at 04:00) or after it closed (False: late). None: inside, or not known."""
    zone = local_zone(e164, now)
    if zone is None or _in_window(zone, now):
        return None
    return now.astimezone(ZoneInfo(zone)).time() < CALLING_WINDOW[0]


def masked(number: str | None) -> str:
    """For logs and screens: never a whole number."""
    if not number:
        return ""
    return "***" + number[-2:] if len(number) > 4 else "***"
