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
    assert when(tomorrow, now, "Europe/Kyiv", "en") == "tomorrow at 09:00"
    assert when(tomorrow, now, "Europe/Kyiv", "uk") == "завтра о 09:00"
    friday = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
    assert when(friday, now, "Europe/Kyiv", "ru") == "в пятницу в 09:00"


def test_digits_are_read_one_by_one_in_groups() -> None:
    assert spoken_digits("(415) 867-5309") == "4 1 5, 8 6 7, 5 3 0 9"
