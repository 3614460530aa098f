"""Texts in the reports (issue 27): sent when the provider's API takes one, delivered and failed from its
delivery reports, opt-outs once per number. Reports come duplicated, late and in any order (seeded
shuffles): a 'delivered' before its 'sent' counts each once, a duplicate once. Each text is counted in
the half hour its callback's call arrived, which its status URL carries back."""
from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.adapters.memory import MemoryOperationsLog
from chalicelib.domain.links import UnsignedStatusUrlError, sign_status
from chalicelib.ports import InboundText, TextStatus
from tests.unit.test_callback_texts import MONDAY_1PM_NY, NY, World

OTHER = "+12125550124"
DAY = (MONDAY_1PM_NY - timedelta(hours=18), MONDAY_1PM_NY + timedelta(hours=6))
SMS = ("sms_sent", "sms_delivered", "sms_failed", "sms_opt_outs")


def totals(world: World) -> dict[str, float]:
    oplog = world.texts.oplog
    assert isinstance(oplog, MemoryOperationsLog)
    out = {name: 0.0 for name in SMS}
    for row in oplog.rows("sched", *DAY).values():
        for name in SMS:
            out[name] += row.get(name, 0)
    return out


def two_confirmations(world: World) -> list[dict[str, str]]:
    world.choose_first_slot()
    world.choose_first_slot(sid="CA2", caller=OTHER)
    world.deliver()
    assert [t["to"] for t in world.sent] == [NY, OTHER]
    return world.sent


def where(text: dict[str, str]) -> tuple[str, str, str]:
    """The queue and half hour a text's status URL names, and their MAC (what the provider posts back to)."""
    url = urlsplit(text["status_url"])
    query = dict(parse_qsl(url.query))
    assert url.path == "/sms/memory/status" and set(query) == {"q", "b", "s"}
    return query["q"], query["b"], query["s"]


def test_a_text_the_provider_took_is_counted_sent_in_the_half_hour_its_call_arrived() -> None:
    world = World()
    first, second = two_confirmations(world)
    assert where(first)[:2] == where(second)[:2] == ("sched", "2026-11-23T18:00")  # both calls came at 13:00 New York
    assert totals(world) == {"sms_sent": 2, "sms_delivered": 0, "sms_failed": 0, "sms_opt_outs": 0}


def test_delivered_before_sent_counts_each_once() -> None:
    world = World()
    first, _ = two_confirmations(world)
    assert world.texts.delivery(TextStatus(first["id"], "delivered"), *where(first)) is True
    assert world.texts.delivery(TextStatus(first["id"], "sent"), *where(first)) is False  # counted when taken
    assert world.texts.delivery(TextStatus(first["id"], "delivered"), *where(first)) is False  # a duplicate
    assert totals(world) == {"sms_sent": 2, "sms_delivered": 1, "sms_failed": 0, "sms_opt_outs": 0}


@pytest.mark.parametrize("seed", range(20))
def test_reports_in_any_order_duplicated_count_once(seed: int) -> None:
    """Two texts: the first is delivered, the second fails; every report comes two or three times, shuffled."""
    world = World()
    first, second = two_confirmations(world)
    reports = [(first, "sent"), (first, "delivered"), (second, "sent"), (second, "failed")]
    rng = random.Random(seed)
    posted = [r for r in reports for _ in range(rng.randint(2, 3))]
    rng.shuffle(posted)
    for text, state in posted:
        world.texts.delivery(TextStatus(text["id"], state), *where(text))
    assert totals(world) == {"sms_sent": 2, "sms_delivered": 1, "sms_failed": 1, "sms_opt_outs": 0}


def test_a_report_for_no_queue_or_no_half_hour_counts_nothing() -> None:
    world = World()
    first, _ = two_confirmations(world)
    mac = sign_status("nope", "2026-11-23T18:00", world.texts.link_secret)  # signed, yet no such queue
    assert world.texts.delivery(TextStatus(first["id"], "delivered"), "nope", "2026-11-23T18:00", mac) is False
    mac = sign_status("sched", "yesterday", world.texts.link_secret)
    assert world.texts.delivery(TextStatus(first["id"], "delivered"), "sched", "yesterday", mac) is False
    assert totals(world)["sms_delivered"] == 0


def test_a_report_whose_status_url_holdfast_did_not_sign_counts_nothing() -> None:
    """The text was sent with the 18:00 half hour's URL; a report naming another half hour (or queue), or
    with no MAC, is refused whole: nothing is counted anywhere."""
    world = World()
    first, _ = two_confirmations(world)
    queue, bucket, mac = where(first)
    for forged in ((queue, "2026-11-23T17:30", mac), ("web", bucket, mac), (queue, bucket, ""),
                   (queue, bucket, mac[:-1] + ("A" if mac[-1] != "A" else "B"))):
        with pytest.raises(UnsignedStatusUrlError):
            world.texts.delivery(TextStatus(first["id"], "delivered"), *forged)
    assert totals(world) == {"sms_sent": 2, "sms_delivered": 0, "sms_failed": 0, "sms_opt_outs": 0}


def test_an_opt_out_is_counted_once_per_number_for_the_queue_it_answered() -> None:
    world = World()
    stop = InboundText(NY, "STOP", message_id="SMin1", recipient="+18005550199")  # the queue's caller ID
    assert world.texts.inbound(stop) is True
    assert world.texts.inbound(stop) is True  # the provider's retry: still opted out, not counted again
    world.texts.inbound(InboundText(NY, "stop", message_id="SMin2", recipient="+18005550199"))  # STOP again
    world.texts.inbound(InboundText(OTHER, "anything", opt_out=True, message_id="SMin3", recipient="+18005550199"))
    assert world.w.stores.bookings.is_opted_out(NY) and world.w.stores.bookings.is_opted_out(OTHER)
    assert totals(world)["sms_opt_outs"] == 2
    oplog = world.texts.oplog
    assert isinstance(oplog, MemoryOperationsLog)
    assert not any("2125550123" in fact or "2125550124" in fact for fact in oplog._seen)  # never the number


def test_an_opt_out_to_a_number_no_queue_texts_from_is_recorded_not_counted() -> None:
    world = World()
    assert world.texts.inbound(InboundText(NY, "STOP", message_id="SMin1", recipient="+19995550100")) is True
    assert world.w.stores.bookings.is_opted_out(NY)
    assert totals(world)["sms_opt_outs"] == 0


def test_a_text_the_provider_refused_is_not_counted_sent() -> None:
    world = World()
    world.choose_first_slot()
    messenger = world.texts.messenger
    assert messenger is not None

    def refuse(to: str, sender: str, body: str, status_url: str | None = None) -> str:
        from chalicelib.domain.errors import NotifyError
        raise NotifyError("503 from the provider")

    messenger.send_text = refuse  # type: ignore[method-assign]
    world.deliver()
    assert totals(world)["sms_sent"] == 0


def test_reports_are_not_counted_without_an_operations_log() -> None:
    world = World()
    world.texts.oplog = None
    first, _ = two_confirmations(world)
    assert world.texts.delivery(TextStatus(first["id"], "delivered"), *where(first)) is False
