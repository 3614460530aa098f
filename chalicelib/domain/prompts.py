"""What callers hear, in English, Russian and Ukrainian.

Queue config may replace any prompt per language with other text or a recorded audio URL
(docs/queues.md). Prompts with placeholders keep them in the override."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LANGUAGES = {"en": "en-US", "ru": "ru-RU", "uk": "uk-UA"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Thank you for calling {queue}.",
        "position": "You are number {position} in line.",
        "wait_short": "Your wait should be less than a minute.",
        "wait": "Your expected wait is about {mean}, most likely between {low} and {high}.",
        "offer": "To be called back when it is your turn, press 1. You will keep your place in line.",
        "hold": "Please stay on the line.",
        "closed": "We are closed now. We open {when}.",
        "closed_offer": "To be called back when we open, press 1.",
        "goodbye": "Thank you for calling. Goodbye.",
        "confirm_number": "We will call you back at {digits}. To confirm, press 1. To use another number, press 2.",
        "enter_number": "Please enter the number we should call, with the area code, then press the pound key.",
        "number_rejected": "Sorry, we cannot call that number.",
        "callback_confirmed": "Thank you. We will call you back at {digits}. You keep your place: number {position} in line. Expect our call in about {mean}.",
        "callback_confirmed_closed": "Thank you. We will call you back at {digits} after we open, {when}.",
        "keep_place": "You keep your place in line.",
        "no_input": "We did not receive your choice.",
        "connecting": "Connecting you to an agent now.",
        "callback_greeting": "Hello, this is {queue} calling you back as you asked. Connecting you to an agent now.",
        "agent_whisper": "Callback for {queue}, ticket {number}, to {digits}. Connecting you to the customer now.",
        "callback_sorry": "We are sorry, no agent could take your call just now. We will call you again shortly.",
        "opt_out_hint": "If you hang up, we will call you back. If you would rather we did not, press 9.",
        "opted_out": "We will not call you back.",
        "rang_out": "We are sorry, no agent is free to take your call. We will call you back as soon as one is, and you keep your place.",
        "welcome_back": "Welcome back. You have your place in line again.",
        "callback_unavailable": "We are sorry, we cannot book a callback for this number now.",
        "callback_confirmed_later": "Thank you. We will call you back at {digits} {when}, not earlier, as it is late where you are. You keep your place in line.",
        "error": "We are sorry, we are having a technical problem. Please stay on the line and we will answer as soon as we can.",
    },
    "ru": {
        "welcome": "Спасибо за звонок в {queue}.",
        "position": "Ваш номер в очереди: {position}.",
        "wait_short": "Ожидание займёт меньше минуты.",
        "wait": "Ожидание займёт примерно {mean}, скорее всего от {low} до {high}.",
        "offer": "Чтобы мы перезвонили вам, когда подойдёт ваша очередь, нажмите 1. Ваше место в очереди сохранится.",
        "hold": "Пожалуйста, оставайтесь на линии.",
        "closed": "Сейчас мы не работаем. Мы откроемся {when}.",
        "closed_offer": "Чтобы мы перезвонили вам, когда откроемся, нажмите 1.",
        "goodbye": "Спасибо за звонок. До свидания.",
        "confirm_number": "Мы перезвоним вам по номеру {digits}. Для подтверждения нажмите 1. Чтобы указать другой номер, нажмите 2.",
        "enter_number": "Пожалуйста, введите номер для обратного звонка с кодом города и нажмите решётку.",
        "number_rejected": "К сожалению, мы не можем позвонить на этот номер.",
        "callback_confirmed": "Спасибо. Мы перезвоним вам по номеру {digits}. Ваше место в очереди сохранено: номер {position}. Ждите звонка примерно через {mean}.",
        "callback_confirmed_closed": "Спасибо. Мы перезвоним вам по номеру {digits}, когда откроемся, {when}.",
        "keep_place": "Ваше место в очереди сохранено.",
        "no_input": "Мы не получили ваш выбор.",
        "connecting": "Соединяем вас с оператором.",
        "callback_greeting": "Здравствуйте, это {queue}, перезваниваем вам, как вы просили. Соединяем вас с оператором.",
        "agent_whisper": "Обратный звонок, {queue}, талон {number}, номер {digits}. Соединяем вас с клиентом.",
        "callback_sorry": "Приносим извинения, сейчас ни один оператор не смог ответить. Мы скоро перезвоним вам снова.",
        "opt_out_hint": "Если вы положите трубку, мы вам перезвоним. Если вы этого не хотите, нажмите 9.",
        "opted_out": "Мы не будем вам перезванивать.",
        "rang_out": "Приносим извинения, сейчас нет свободных операторов. Мы перезвоним вам, как только оператор освободится, ваше место в очереди сохранится.",
        "welcome_back": "С возвращением. Ваше место в очереди снова за вами.",
        "callback_unavailable": "К сожалению, сейчас мы не можем заказать обратный звонок на этот номер.",
        "callback_confirmed_later": "Спасибо. Мы перезвоним вам по номеру {digits} {when}, не раньше, потому что у вас сейчас поздно. Ваше место в очереди сохранено.",
        "error": "Приносим извинения, у нас техническая неполадка. Пожалуйста, оставайтесь на линии, мы ответим, как только сможем.",
    },
    "uk": {
        "welcome": "Дякуємо за дзвінок до {queue}.",
        "position": "Ваш номер у черзі: {position}.",
        "wait_short": "Очікування триватиме менше хвилини.",
        "wait": "Очікування триватиме приблизно {mean}, найімовірніше від {low} до {high}.",
        "offer": "Щоб ми передзвонили вам, коли настане ваша черга, натисніть 1. Ваше місце в черзі збережеться.",
        "hold": "Будь ласка, залишайтеся на лінії.",
        "closed": "Зараз ми не працюємо. Ми відкриємося {when}.",
        "closed_offer": "Щоб ми передзвонили вам, коли відкриємося, натисніть 1.",
        "goodbye": "Дякуємо за дзвінок. До побачення.",
        "confirm_number": "Ми передзвонимо вам на номер {digits}. Для підтвердження натисніть 1. Щоб вказати інший номер, натисніть 2.",
        "enter_number": "Будь ласка, введіть номер для зворотного дзвінка з кодом міста і натисніть решітку.",
        "number_rejected": "На жаль, ми не можемо зателефонувати на цей номер.",
        "callback_confirmed": "Дякуємо. Ми передзвонимо вам на номер {digits}. Ваше місце в черзі збережено: номер {position}. Чекайте на дзвінок приблизно через {mean}.",
        "callback_confirmed_closed": "Дякуємо. Ми передзвонимо вам на номер {digits}, коли відкриємося, {when}.",
        "keep_place": "Ваше місце в черзі збережено.",
        "no_input": "Ми не отримали ваш вибір.",
        "connecting": "З'єднуємо вас з оператором.",
        "callback_greeting": "Добрий день, це {queue}, передзвонюємо вам, як ви просили. З'єднуємо вас з оператором.",
        "agent_whisper": "Зворотний дзвінок, {queue}, талон {number}, номер {digits}. З'єднуємо вас з клієнтом.",
        "callback_sorry": "Перепрошуємо, зараз жоден оператор не зміг відповісти. Ми незабаром передзвонимо вам знову.",
        "opt_out_hint": "Якщо ви покладете слухавку, ми вам передзвонимо. Якщо ви цього не хочете, натисніть 9.",
        "opted_out": "Ми не будемо вам передзвонювати.",
        "rang_out": "Перепрошуємо, зараз немає вільних операторів. Ми передзвонимо вам, щойно оператор звільниться, ваше місце в черзі збережеться.",
        "welcome_back": "З поверненням. Ваше місце в черзі знову за вами.",
        "callback_unavailable": "На жаль, зараз ми не можемо замовити зворотний дзвінок на цей номер.",
        "callback_confirmed_later": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}, не раніше, бо у вас зараз пізно. Ваше місце в черзі збережено.",
        "error": "Перепрошуємо, у нас технічна несправність. Будь ласка, залишайтеся на лінії, ми відповімо, щойно зможемо.",
    },
}

# Slavic plurals: (one, few, many); the accusative after "about N" and the genitive after "to N".
_MINUTES = {
    "ru": (("минуту", "минуты", "минут"), ("минуты", "минут", "минут")),
    "uk": (("хвилину", "хвилини", "хвилин"), ("хвилини", "хвилин", "хвилин")),
}
_WEEKDAYS = {
    "en": ("on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday"),
    "ru": ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу", "в воскресенье"),
    "uk": ("у понеділок", "у вівторок", "у середу", "у четвер", "у п'ятницю", "у суботу", "у неділю"),
}
_DAY_WORDS = {"en": ("today", "tomorrow", "at"), "ru": ("сегодня", "завтра", "в"), "uk": ("сьогодні", "завтра", "о")}


def _slavic_form(n: int, forms: tuple[str, str, str]) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def minutes(seconds: float, language: str, genitive: bool = False) -> str:
    """'about N minutes' wording: whole minutes, never zero."""
    n = max(1, int(math.ceil(seconds / 60.0)))
    if language == "en":
        return "1 minute" if n == 1 else f"{n} minutes"
    return f"{n} {_slavic_form(n, _MINUTES[language][1 if genitive else 0])}"


def minutes_number(seconds: float) -> int:
    return max(1, int(math.ceil(seconds / 60.0)))


def when(moment: datetime, now: datetime, tz: str, language: str) -> str:
    """'today at 09:00', 'tomorrow at 09:00', 'on Monday at 09:00' in the queue's time zone."""
    zone = ZoneInfo(tz)
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    today_w, tomorrow_w, at = _DAY_WORDS[language]
    clock = local.strftime("%H:%M")
    if local.date() == today:
        day = today_w
    elif local.date() == today + timedelta(days=1):
        day = tomorrow_w
    elif local.date() < today + timedelta(days=7):
        day = _WEEKDAYS[language][local.weekday()]
    else:
        day = local.strftime("%d.%m.%Y")
    return f"{day} {at} {clock}"


def spoken_digits(national: str) -> str:
    """'(415) 867-5309' -> '4 1 5, 8 6 7, 5 3 0 9': TTS reads digits one by one, groups with pauses."""
    groups = [g for g in "".join(c if c.isdigit() else " " for c in national).split() if g]
    return ", ".join(" ".join(g) for g in groups)
