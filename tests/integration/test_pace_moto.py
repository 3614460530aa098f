"""The outbound pace on DynamoDB (moto, its writes serialised as DynamoDB applies them: devstack/atomic.py)
under concurrent dial workers: no more tokens than the bucket holds, each dial claimed once, in order."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

import boto3

from chalicelib.adapters.dynamo import DynamoPace
from chalicelib.adapters.memory import MemoryAlarm
from chalicelib.domain.pacing import Pacer
from chalicelib.ports import PendingDial

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)


def together(workers: int, work: Callable[[int], None]) -> None:
    """`workers` threads released at once, each running work(i)."""
    start = threading.Barrier(workers)

    def run(i: int) -> None:
        start.wait()
        work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def pace(aws) -> DynamoPace:  # type: ignore[no-untyped-def]
    return DynamoPace(aws.table_name, boto3.client("dynamodb", region_name="us-east-1"), pause=lambda _: None)


def test_concurrent_workers_take_each_slot_once(aws) -> None:  # type: ignore[no-untyped-def]
    """Two calls a second: a slot every 0.5 s, taken by one worker of eight racing for it."""
    store = pace(aws)
    for at, expected in ((NOW, 1), (NOW + timedelta(seconds=0.3), 0), (NOW + timedelta(seconds=0.5), 1),
                         (NOW + timedelta(seconds=0.9), 0), (NOW + timedelta(seconds=5), 1)):
        granted: list[bool] = []
        together(8, lambda i: granted.extend(store.take("twilio", 0.5, at).granted for _ in range(3)))
        assert granted.count(True) == expected, at
    refused = store.take("twilio", 0.5, NOW + timedelta(seconds=5.1))
    assert not refused.granted and refused.next_at == NOW + timedelta(seconds=5.5)  # the slot it found
    assert store.take("other", 0.5, NOW).granted  # each account its own pace
    store.wait("other", PendingDial("0#1", "callback", "support-1", "d1"))
    assert not store.take("other", 0.5, NOW + timedelta(seconds=9), when_idle=True).granted  # one waits first
    assert store.take("other", 0.5, NOW + timedelta(seconds=9)).granted


def test_each_dial_waits_once_and_is_claimed_by_exactly_one_worker_in_order(aws) -> None:  # type: ignore[no-untyped-def]
    store = pace(aws)
    dials = [PendingDial(f"0#{n:04d}", "callback", f"support-{n}", f"d{n}") for n in range(60)]
    accepted: list[bool] = []
    together(4, lambda i: accepted.extend(store.wait("twilio", d) for d in dials))  # each handed in 4 times
    assert accepted.count(True) == 60 and store.backlog("twilio") == 60
    assert store.first("twilio", 3) == dials[:3]
    claimed: list[PendingDial] = []

    def worker(i: int) -> None:
        while True:
            head = store.first("twilio", 1)
            if not head:
                return
            if store.claim("twilio", head[0]):
                claimed.append(head[0])

    together(6, worker)
    assert sorted(claimed) == dials and store.backlog("twilio") == 0
    assert not store.wait("twilio", dials[0])  # claimed once: never waits again


def test_workers_draining_together_keep_the_pace(aws) -> None:  # type: ignore[no-untyped-def]
    """Four dial workers drain the same backlog at the same instants: one dial per second, each once."""
    store = pace(aws)
    for n in range(12):
        store.wait("twilio", PendingDial(f"0#{n:04d}", "callback", f"support-{n}", f"d{n}"))
    dialed: list[tuple[datetime, str]] = []
    lock = threading.Lock()
    for second in range(12):
        instant = NOW + timedelta(seconds=second)

        class Clock:
            def now(self) -> datetime:
                return instant

        def drain(i: int) -> None:
            pacer = Pacer(store, MemoryAlarm(lambda at, fn: None), Clock(), "twilio", 1.0)  # type: ignore[arg-type]

            def place(d: PendingDial) -> None:
                with lock:
                    dialed.append((instant, d.ref))

            pacer.drain(place)

        together(4, drain)
    assert [ref for _, ref in dialed] == [f"d{n}" for n in range(12)]
    assert [at for at, _ in dialed] == [NOW + timedelta(seconds=s) for s in range(12)]
