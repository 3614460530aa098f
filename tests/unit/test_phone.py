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


# --- numbers spanning time zones (issue 23, item 12) ------------------------------------------------

ST_JOHNS = "+17095550142"  # area code 709: Newfoundland (UTC-3:30) and Labrador (UTC-4)
UK_MOBILE = "+447911123456"  # four zones (London, Jersey, Guernsey, Isle of Man): one local time
TOLL_FREE = "+18005550100"  # anywhere from Guam to Samoa


def test_a_number_spanning_zones_is_called_inside_the_window_of_every_one() -> None:
    from datetime import datetime, timezone

    from chalicelib.domain.phone import number_timezones

    assert set(number_timezones(ST_JOHNS)) == {"America/St_Johns", "America/Halifax"}
    morning = datetime(2026, 11, 23, 11, 45, tzinfo=timezone.utc)  # 08:15 in St. John's, 07:45 in Labrador
    assert not in_calling_window(ST_JOHNS, morning, "UTC")
    assert in_calling_window(ST_JOHNS, morning.replace(hour=12, minute=0), "UTC")  # 08:00 / 08:30
    evening = datetime(2026, 11, 24, 0, 15, tzinfo=timezone.utc)  # 20:45 in St. John's, 20:15 in Labrador
    assert in_calling_window(ST_JOHNS, evening, "UTC")
    assert not in_calling_window(ST_JOHNS, evening.replace(minute=35), "UTC")  # 21:05 in St. John's
    # the queue's zone (UTC here) no longer stands in: 09:00 UTC is 05:00 in Labrador
    assert not in_calling_window(ST_JOHNS, datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc), "UTC")


def test_the_local_time_is_known_only_where_every_zone_of_the_number_agrees() -> None:
    from datetime import datetime, timezone

    from chalicelib.domain.phone import local_zone

    at = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    assert local_zone("+14158675309", at) == "America/Los_Angeles"
    assert local_zone(UK_MOBILE, at) is not None  # four zone names, one clock
    assert local_zone(ST_JOHNS, at) is None and local_zone(TOLL_FREE, at) is None
    assert local_zone("anonymous", at) is None and local_zone(None, at) is None


def test_a_number_no_window_fits_every_zone_of_uses_the_queue_s_zone() -> None:
    from datetime import datetime, timezone

    from chalicelib.domain.phone import calling_zones

    at = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    assert calling_zones(TOLL_FREE, at, "America/New_York") == ("America/New_York",)
    assert in_calling_window(TOLL_FREE, datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc), "America/New_York")


@pytest.mark.parametrize("utc_hour, side", [(12, True),   # 04:00 in San Francisco: early, not late
                                            (15, True),   # 07:00: early
                                            (6, False),   # 22:00: late
                                            (18, None)])  # 10:00: inside the window
def test_early_or_late_is_the_side_of_the_window_the_local_time_is_on(utc_hour: int, side: bool | None) -> None:
    from datetime import datetime, timezone

    from chalicelib.domain.phone import too_early

    assert too_early("+14158675309", datetime(2026, 11, 23, utc_hour, 0, tzinfo=timezone.utc)) is side
    assert too_early(ST_JOHNS, datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)) is None  # local time not known
