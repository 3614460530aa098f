from datetime import datetime, timezone

import pytest

from chalicelib.domain.prompts import LANGUAGES, TEXTS, minutes, spoken_digits, when


def test_every_language_has_every_prompt_with_the_same_placeholders() -> None:
    import string
    keys = set(TEXTS["en"])
    for lang in LANGUAGES:
        assert set(TEXTS[lang]) == keys, lang
        for key in keys:
            fields = {f for _, f, _, _ in string.Formatter().parse(TEXTS[lang][key]) if f}
            english = {f for _, f, _, _ in string.Formatter().parse(TEXTS["en"][key]) if f}
            assert fields == english, (lang, key)


@pytest.mark.parametrize("lang, seconds, text", [
    ("en", 60, "1 minute"), ("en", 61, "2 minutes"),
    ("ru", 60, "1 минуту"), ("ru", 180, "3 минуты"), ("ru", 300, "5 минут"), ("ru", 660, "11 минут"),
    ("ru", 1260, "21 минуту"),
    ("uk", 60, "1 хвилину"), ("uk", 120, "2 хвилини"), ("uk", 720, "12 хвилин"), ("uk", 1320, "22 хвилини"),
])
def test_minutes_agree_in_number(lang: str, seconds: int, text: str) -> None:
    assert minutes(seconds, lang) == text


def test_when_is_said_in_the_queue_time_zone() -> None:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)  # Monday 22:00 in Kyiv
    tomorrow = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    assert when(tomorrow, now, "Europe/Kyiv", "en") == "tomorrow at 9 AM"
    assert when(tomorrow, now, "Europe/Kyiv", "uk") == "завтра о 09:00"
    friday = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
    assert when(friday, now, "Europe/Kyiv", "ru") == "в пятницу в 09:00"


def test_digits_are_read_one_by_one_in_groups() -> None:
    assert spoken_digits("(415) 867-5309") == "4 1 5, 8 6 7, 5 3 0 9"


@pytest.mark.parametrize("lang, text", [
    ("en", "on Thursday, December 3 at 9 AM"), ("ru", "в четверг, 3 декабря в 09:00"),
    ("uk", "у четвер, 3 грудня о 09:00")])
def test_dates_beyond_a_week_are_words_with_the_month_in_the_right_case(lang: str, text: str) -> None:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
    assert when(datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc), now, "Europe/Kyiv", lang) == text


@pytest.mark.parametrize("lang, months", [
    ("ru", ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
            "ноября", "декабря"]),
    ("uk", ["січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня", "вересня", "жовтня",
            "листопада", "грудня"])])
def test_every_month_is_in_the_genitive(lang: str, months: list[str]) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    for month, name in enumerate(months, start=1):
        moment = datetime(2026 if month > 1 else 2027, month, 20, 12, 0, tzinfo=timezone.utc)
        assert f"20 {name} " in when(moment, now, "UTC", lang)


def test_time_of_day_in_english_is_said_with_am_and_pm() -> None:
    now = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    said = [when(now.replace(hour=h, minute=m), now, "UTC", "en") for h, m in ((9, 0), (12, 0), (13, 30), (0, 15))]
    assert said == ["today at 9 AM", "today at 12 PM", "today at 1:30 PM", "today at 12:15 AM"]


def test_your_time_is_named_when_asked() -> None:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
    tomorrow = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
    assert when(tomorrow, now, "America/Los_Angeles", "en", yours=True) == "tomorrow at 8 AM your time"
    assert when(tomorrow, now, "Europe/Kyiv", "uk", yours=True) == "завтра о 18:00 за вашим часом"


def test_your_time_only_where_the_caller_s_local_time_is_known() -> None:
    from chalicelib.domain.queues import parse_queue
    from chalicelib.domain.speech import spoken_when

    queue = parse_queue({"id": "support", "hours": {"timezone": "America/New_York", "mon": ["09:00-17:00"]}})
    now = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
    at = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # 9 AM in New York
    assert spoken_when(queue, "+14158675309", at, now, "en") == "tomorrow at 6 AM your time"
    assert spoken_when(queue, "+447911123456", at, now, "en") == "tomorrow at 2 PM your time"  # four zones, one clock
    assert spoken_when(queue, "+12125550142", at, now, "en") == "tomorrow at 9 AM"  # the queue's own time
    # +1 709: St. John's or Labrador, half an hour apart: the queue's time, never a guess called "yours"
    assert spoken_when(queue, "+17095550142", at, now, "en") == "tomorrow at 9 AM"
    assert spoken_when(queue, "anonymous", at, now, "ru") == "завтра в 09:00"
