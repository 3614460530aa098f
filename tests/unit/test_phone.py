import pytest

from chalicelib.domain.errors import NumberNotAllowedError
from chalicelib.domain.phone import NumberPolicy, in_calling_window, masked, national_format

POLICY = NumberPolicy(allowed_countries=("US", "CA", "GB", "UA"), default_region="US")


@pytest.mark.parametrize("raw, e164", [
    ("+14158675309", "+14158675309"),
    ("(415) 867-5309", "+14158675309"),
    ("4158675309", "+14158675309"),
    ("0014158675309", "+14158675309"),
    ("+442079460000", "+442079460000"),
    ("+380441234567", "+380441234567"),
])
def test_accepts_dialable_numbers_as_e164(raw: str, e164: str) -> None:
    assert POLICY.accept(raw) == e164


@pytest.mark.parametrize("raw, reason", [
    ("anonymous", "withheld"), ("Restricted", "withheld"), ("", "withheld"), (None, "withheld"),
    ("+266696687", "withheld"), ("+86282452253", "withheld"), ("+8656696", "withheld"),
    ("+2562533", "withheld"), ("+7378742833", "withheld"),
    ("+19005551234", "premium rate"),          # US 900
    ("+448712345678", "premium rate"),         # UK 0871
    ("+18765551234", "country not allowed"),   # Jamaica: +1 but billed internationally
    ("+12844941234", "country not allowed"),   # British Virgin Islands
    ("+14734401234", "country not allowed"),   # Grenada
    ("+881631234567", "country not allowed"),  # Iridium satellite
    ("+79161234567", "country not allowed"),
    ("12", "too short"), ("not a number", "unparseable"),
])
def test_never_accepts_numbers_that_must_not_be_dialed(raw: str | None, reason: str) -> None:
    with pytest.raises(NumberNotAllowedError) as info:
        POLICY.accept(raw)
    assert info.value.reason == reason
    assert not POLICY.may_call(raw)


def test_read_back_and_masking() -> None:
    assert national_format("+14158675309") == "(415) 867-5309"
    assert masked("+14158675309") == "***09"
    assert "867" not in masked("+14158675309")


def test_calling_window_is_in_the_callees_time_zone() -> None:
    from datetime import datetime, timezone
    # 15:00 UTC = 07:00 in California: too early there; 17:00 in Kyiv: fine
    at = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    assert not in_calling_window("+14158675309", at, "UTC")
    assert in_calling_window("+380441234567", at, "UTC")
