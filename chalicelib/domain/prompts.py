"""What callers hear, in English, Russian and Ukrainian.

Queue config may replace any prompt per language with other text or a recorded audio URL
(docs/queues.md). Prompts with placeholders keep them in the override."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

LANGUAGES = {"en": "en-US", "ru": "ru-RU", "uk": "uk-UA"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Thank you for calling {queue}.",
        "position": "You are number {position} in line.",
        "wait_short": "Your wait should be less than a minute.",
        "wait_upto": "Your wait should be less than {high}.",
        "nobody_available": "No agent is available right now.",
        "offer_at": "The earliest we can call you back is {when}. To be called back then, press 1. You will keep your place in line.",
        "offer_asap": "To be called back as soon as an agent is available, press 1. You will keep your place in line.",
        "closed_offer_at": "The earliest we can call you back is {when}. To be called back then, press 1.",
        "invalid_choice": "Sorry, that key is not one of the choices.",
        "number_too_short": "Sorry, that number is too short. Please include the area code.",
        "number_too_long": "Sorry, that number is too long.",
        "number_invalid": "Sorry, that is not a valid phone number.",
        "number_country": "Sorry, we cannot call numbers in that country.",
        "number_premium": "Sorry, we cannot call premium-rate or special service numbers.",
        "number_withheld": "We cannot see the number you are calling from.",
        "callback_confirmed_early": "Thank you. We will call you back at {digits} {when}, not earlier, as it is early where you are. You keep your place in line.",
        "callback_confirmed_at": "Thank you. We will call you back at {digits} {when}, when our agents are back. You keep your place in line.",
        "callback_confirmed_asap": "Thank you. We will call you back at {digits} as soon as an agent is available. You keep your place: number {position} in line.",
        "wait": "Your expected wait is about {mean}, most likely between {low} and {high}.",
        "offer": "To be called back when it is your turn, press 1. You will keep your place in line.",
        "hold": "Please stay on the line.",
        "closed": "We are closed now. We open {when}.",
        "closed_offer": "To be called back when we open, press 1.",
        "goodbye": "Thank you for calling. Goodbye.",
        "confirm_number": "We will call you back at {digits}. To confirm, press 1. To use another number, press 2.",
        "enter_number": "Please enter the number we should call, with the area code, then press the pound key. To start again, press star.",
        "number_rejected": "Sorry, we cannot call that number.",
        "callback_confirmed_by": "Thank you. We will call you back at {digits} no later than {when}.",
        "offer_by": "We can call you back no later than {when}. To be called back, press 1.",
        "callbacks_full": "We cannot take more callback requests today. Please stay on the line, or call us again tomorrow.",
        "callback_confirmed": "Thank you. We will call you back at {digits} within {mean}. You keep your place: number {position} in line.",
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
        "rang_out_at": "We are sorry, no agent is free to take your call. We will call you back {when}, not earlier, and you keep your place.",
        "rang_out_later": "We are sorry, no agent is free to take your call. Please call us again later.",
        "callback_confirmed_window": "Thank you. We will call you back at {digits} {when}, not earlier: we call a number only between {opens} and {closes} its local time. You keep your place in line.",
        "welcome_back": "Welcome back. You have your place in line again.",
        "callback_unavailable": "We are sorry, we cannot book a callback for this number now.",
        "callback_confirmed_later": "Thank you. We will call you back at {digits} {when}, not earlier, as it is late where you are. You keep your place in line.",
        "offer_choose": "To choose the time we call you back, press 2.",
        "choose_intro": "When would you like us to call you back?",
        "slot_choice": "To be called back {when}, press {digit}.",
        "slot_another_day": "For another day, press 9.",
        "slot_none": "Sorry, there are no callback times left to choose from.",
        "slot_taken": "Sorry, that time has just been taken.",
        "callback_confirmed_slot": "Thank you. We will call you back at {digits} {when}.",
        "cancel_hint": "To cancel or change it, call us again from this number.",
        "pending_when": "You have a callback booked for {when}.",
        "pending_line": "You have a callback booked. You are number {position} in line.",
        "pending_choice": "To keep it, press 1. To cancel it, press 2.",
        "pending_hold": "To hold on the line now instead, keeping your place, press 3.",
        "pending_change": "To choose another time, press 4.",
        "callback_kept": "Your callback stays booked.",
        "callback_cancelled": "Your callback is cancelled.",
        "error": "We are sorry, we are having a technical problem. Please stay on the line and we will answer as soon as we can.",
    },
    "ru": {
        "welcome": "Спасибо за звонок в {queue}.",
        "position": "Ваш номер в очереди: {position}.",
        "wait_short": "Ожидание займёт меньше минуты.",
        "wait_upto": "Ожидание займёт меньше {high}.",
        "nobody_available": "Сейчас на линии нет ни одного оператора.",
        "offer_at": "Мы сможем перезвонить вам не раньше, чем {when}. Чтобы мы перезвонили тогда, нажмите 1. Ваше место в очереди сохранится.",
        "offer_asap": "Чтобы мы перезвонили вам, как только оператор сможет ответить, нажмите 1. Ваше место в очереди сохранится.",
        "closed_offer_at": "Мы сможем перезвонить вам не раньше, чем {when}. Чтобы мы перезвонили тогда, нажмите 1.",
        "invalid_choice": "Извините, такой клавиши нет среди вариантов.",
        "number_too_short": "К сожалению, в этом номере слишком мало цифр. Пожалуйста, введите его с кодом города.",
        "number_too_long": "К сожалению, в этом номере слишком много цифр.",
        "number_invalid": "К сожалению, это неверный номер телефона.",
        "number_country": "К сожалению, мы не звоним в эту страну.",
        "number_premium": "К сожалению, мы не звоним на платные и специальные номера.",
        "number_withheld": "Мы не видим номер, с которого вы звоните.",
        "callback_confirmed_early": "Спасибо. Мы перезвоним вам по номеру {digits} {when}, не раньше, потому что у вас сейчас рано. Ваше место в очереди сохранено.",
        "callback_confirmed_at": "Спасибо. Мы перезвоним вам по номеру {digits} {when}, когда операторы будут на месте. Ваше место в очереди сохранено.",
        "callback_confirmed_asap": "Спасибо. Мы перезвоним вам по номеру {digits}, как только оператор сможет ответить. Ваше место в очереди сохранено: номер {position}.",
        "wait": "Ожидание займёт примерно {mean}, скорее всего от {low} до {high}.",
        "offer": "Чтобы мы перезвонили вам, когда подойдёт ваша очередь, нажмите 1. Ваше место в очереди сохранится.",
        "hold": "Пожалуйста, оставайтесь на линии.",
        "closed": "Сейчас мы не работаем. Мы откроемся {when}.",
        "closed_offer": "Чтобы мы перезвонили вам, когда откроемся, нажмите 1.",
        "goodbye": "Спасибо за звонок. До свидания.",
        "confirm_number": "Мы перезвоним вам по номеру {digits}. Для подтверждения нажмите 1. Чтобы указать другой номер, нажмите 2.",
        "enter_number": "Пожалуйста, введите номер для обратного звонка с кодом города и нажмите решётку. Чтобы начать заново, нажмите звёздочку.",
        "number_rejected": "К сожалению, мы не можем позвонить на этот номер.",
        "callback_confirmed_by": "Спасибо. Мы перезвоним вам по номеру {digits} не позже, чем {when}.",
        "offer_by": "Мы можем перезвонить вам не позже, чем {when}. Чтобы мы перезвонили, нажмите 1.",
        "callbacks_full": "Сегодня мы больше не принимаем заявки на обратный звонок. Пожалуйста, оставайтесь на линии или позвоните нам завтра.",
        "callback_confirmed": "Спасибо. Мы перезвоним вам по номеру {digits} в течение {mean}. Ваше место в очереди сохранено: номер {position}.",
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
        "rang_out_at": "Приносим извинения, сейчас нет свободных операторов. Мы перезвоним вам {when}, не раньше, ваше место в очереди сохранится.",
        "rang_out_later": "Приносим извинения, сейчас нет свободных операторов. Пожалуйста, позвоните нам позже.",
        "callback_confirmed_window": "Спасибо. Мы перезвоним вам по номеру {digits} {when}, не раньше: мы звоним на номер только с {opens} до {closes} по его местному времени. Ваше место в очереди сохранено.",
        "welcome_back": "С возвращением. Ваше место в очереди снова за вами.",
        "callback_unavailable": "К сожалению, сейчас мы не можем заказать обратный звонок на этот номер.",
        "callback_confirmed_later": "Спасибо. Мы перезвоним вам по номеру {digits} {when}, не раньше, потому что у вас сейчас поздно. Ваше место в очереди сохранено.",
        "offer_choose": "Чтобы выбрать время обратного звонка, нажмите 2.",
        "choose_intro": "Когда вам перезвонить?",
        "slot_choice": "Чтобы мы перезвонили {when}, нажмите {digit}.",
        "slot_another_day": "Чтобы выбрать другой день, нажмите 9.",
        "slot_none": "К сожалению, свободного времени для обратного звонка не осталось.",
        "slot_taken": "К сожалению, это время только что заняли.",
        "callback_confirmed_slot": "Спасибо. Мы перезвоним вам по номеру {digits} {when}.",
        "cancel_hint": "Чтобы отменить или перенести звонок, позвоните нам ещё раз с этого номера.",
        "pending_when": "У вас заказан обратный звонок: {when}.",
        "pending_line": "У вас заказан обратный звонок. Ваш номер в очереди: {position}.",
        "pending_choice": "Чтобы оставить его, нажмите 1. Чтобы отменить его, нажмите 2.",
        "pending_hold": "Чтобы вместо этого остаться на линии, сохранив своё место, нажмите 3.",
        "pending_change": "Чтобы выбрать другое время, нажмите 4.",
        "callback_kept": "Обратный звонок остаётся в силе.",
        "callback_cancelled": "Обратный звонок отменён.",
        "error": "Приносим извинения, у нас техническая неполадка. Пожалуйста, оставайтесь на линии, мы ответим, как только сможем.",
    },
    "uk": {
        "welcome": "Дякуємо за дзвінок до {queue}.",
        "position": "Ваш номер у черзі: {position}.",
        "wait_short": "Очікування триватиме менше хвилини.",
        "wait_upto": "Очікування триватиме менше {high}.",
        "nobody_available": "Зараз на лінії немає жодного оператора.",
        "offer_at": "Ми зможемо передзвонити вам не раніше, ніж {when}. Щоб ми передзвонили тоді, натисніть 1. Ваше місце в черзі збережеться.",
        "offer_asap": "Щоб ми передзвонили вам, щойно оператор зможе відповісти, натисніть 1. Ваше місце в черзі збережеться.",
        "closed_offer_at": "Ми зможемо передзвонити вам не раніше, ніж {when}. Щоб ми передзвонили тоді, натисніть 1.",
        "invalid_choice": "Вибачте, такої клавіші немає серед варіантів.",
        "number_too_short": "На жаль, у цьому номері замало цифр. Будь ласка, введіть його з кодом міста.",
        "number_too_long": "На жаль, у цьому номері забагато цифр.",
        "number_invalid": "На жаль, це неправильний номер телефону.",
        "number_country": "На жаль, ми не телефонуємо до цієї країни.",
        "number_premium": "На жаль, ми не телефонуємо на платні та спеціальні номери.",
        "number_withheld": "Ми не бачимо номер, з якого ви телефонуєте.",
        "callback_confirmed_early": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}, не раніше, бо у вас зараз рано. Ваше місце в черзі збережено.",
        "callback_confirmed_at": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}, коли оператори будуть на місці. Ваше місце в черзі збережено.",
        "callback_confirmed_asap": "Дякуємо. Ми передзвонимо вам на номер {digits}, щойно оператор зможе відповісти. Ваше місце в черзі збережено: номер {position}.",
        "wait": "Очікування триватиме приблизно {mean}, найімовірніше від {low} до {high}.",
        "offer": "Щоб ми передзвонили вам, коли настане ваша черга, натисніть 1. Ваше місце в черзі збережеться.",
        "hold": "Будь ласка, залишайтеся на лінії.",
        "closed": "Зараз ми не працюємо. Ми відкриємося {when}.",
        "closed_offer": "Щоб ми передзвонили вам, коли відкриємося, натисніть 1.",
        "goodbye": "Дякуємо за дзвінок. До побачення.",
        "confirm_number": "Ми передзвонимо вам на номер {digits}. Для підтвердження натисніть 1. Щоб вказати інший номер, натисніть 2.",
        "enter_number": "Будь ласка, введіть номер для зворотного дзвінка з кодом міста і натисніть решітку. Щоб почати спочатку, натисніть зірочку.",
        "number_rejected": "На жаль, ми не можемо зателефонувати на цей номер.",
        "callback_confirmed_by": "Дякуємо. Ми передзвонимо вам на номер {digits} не пізніше, ніж {when}.",
        "offer_by": "Ми можемо передзвонити вам не пізніше, ніж {when}. Щоб ми передзвонили, натисніть 1.",
        "callbacks_full": "Сьогодні ми більше не приймаємо заявки на зворотний дзвінок. Будь ласка, залишайтеся на лінії або зателефонуйте нам завтра.",
        "callback_confirmed": "Дякуємо. Ми передзвонимо вам на номер {digits} протягом {mean}. Ваше місце в черзі збережено: номер {position}.",
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
        "rang_out_at": "Перепрошуємо, зараз немає вільних операторів. Ми передзвонимо вам {when}, не раніше, ваше місце в черзі збережеться.",
        "rang_out_later": "Перепрошуємо, зараз немає вільних операторів. Будь ласка, зателефонуйте нам пізніше.",
        "callback_confirmed_window": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}, не раніше: ми телефонуємо на номер лише з {opens} до {closes} за його місцевим часом. Ваше місце в черзі збережено.",
        "welcome_back": "З поверненням. Ваше місце в черзі знову за вами.",
        "callback_unavailable": "На жаль, зараз ми не можемо замовити зворотний дзвінок на цей номер.",
        "callback_confirmed_later": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}, не раніше, бо у вас зараз пізно. Ваше місце в черзі збережено.",
        "offer_choose": "Щоб вибрати час зворотного дзвінка, натисніть 2.",
        "choose_intro": "Коли вам передзвонити?",
        "slot_choice": "Щоб ми передзвонили {when}, натисніть {digit}.",
        "slot_another_day": "Щоб вибрати інший день, натисніть 9.",
        "slot_none": "На жаль, вільного часу для зворотного дзвінка не залишилося.",
        "slot_taken": "На жаль, цей час щойно зайняли.",
        "callback_confirmed_slot": "Дякуємо. Ми передзвонимо вам на номер {digits} {when}.",
        "cancel_hint": "Щоб скасувати або перенести дзвінок, зателефонуйте нам ще раз з цього номера.",
        "pending_when": "У вас замовлено зворотний дзвінок: {when}.",
        "pending_line": "У вас замовлено зворотний дзвінок. Ваш номер у черзі: {position}.",
        "pending_choice": "Щоб залишити його, натисніть 1. Щоб скасувати його, натисніть 2.",
        "pending_hold": "Щоб натомість залишитися на лінії, зберігши своє місце, натисніть 3.",
        "pending_change": "Щоб вибрати інший час, натисніть 4.",
        "callback_kept": "Зворотний дзвінок залишається в силі.",
        "callback_cancelled": "Зворотний дзвінок скасовано.",
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
# Month names as said after a day number: Russian and Ukrainian take the genitive ("3 декабря").
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря"),
    "uk": ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня", "вересня", "жовтня",
           "листопада", "грудня"),
}
_DAY_WORDS = {"en": ("today", "tomorrow", "at"), "ru": ("сегодня", "завтра", "в"), "uk": ("сьогодні", "завтра", "о")}
_YOUR_TIME = {"en": "your time", "ru": "по вашему времени", "uk": "за вашим часом"}


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


def clock_time(local: datetime, language: str) -> str:
    """'9 AM', '9:30 PM' for US English listeners; the 24-hour '09:00' in Russian and Ukrainian."""
    if language != "en":
        return local.strftime("%H:%M")
    hour, half = local.hour % 12 or 12, "AM" if local.hour < 12 else "PM"
    return f"{hour} {half}" if local.minute == 0 else f"{hour}:{local.minute:02d} {half}"


def spoken_day(day: date, today: date, language: str) -> str:
    """'today', 'tomorrow', 'on Thursday' within a week, else 'on Thursday, December 3' (ru/uk:
    'в четверг, 3 декабря'): words, never a numeric date a listener could read either way."""
    today_w, tomorrow_w, _ = _DAY_WORDS[language]
    if day == today:
        return today_w
    if day == today + timedelta(days=1):
        return tomorrow_w
    weekday = _WEEKDAYS[language][day.weekday()]
    if day < today + timedelta(days=7):
        return weekday
    month = _MONTHS[language][day.month - 1]
    return f"{weekday}, {month} {day.day}" if language == "en" else f"{weekday}, {day.day} {month}"


def when(moment: datetime, now: datetime, tz: str, language: str, yours: bool = False) -> str:
    """'today at 9 AM', 'tomorrow at 9 AM', 'on Monday at 9 AM', 'on Thursday, December 3 at 9 AM', said
    in the time zone `tz`; `yours` names it as the listener's ('... at 8 AM your time')."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    said = f"{spoken_day(local.date(), now.astimezone(zone).date(), language)} {_DAY_WORDS[language][2]} " \
           f"{clock_time(local, language)}"
    return f"{said} {_YOUR_TIME[language]}" if yours else said


def spoken_digits(national: str) -> str:
    """'(415) 867-5309' -> '4 1 5, 8 6 7, 5 3 0 9': TTS reads digits one by one, groups with pauses."""
    groups = [g for g in "".join(c if c.isdigit() else " " for c in national).split() if g]
    return ", ".join(" ".join(g) for g in groups)
