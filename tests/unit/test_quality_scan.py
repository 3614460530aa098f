"""The suite holds itself to tests that can fail (issue 25): the scan in tests/quality.py, on small
examples first (what it must find and what it must let pass), then on the whole suite."""
from __future__ import annotations

from pathlib import Path

from tests.quality import scan, scan_sources

BAD = '''
import time
from datetime import datetime
import pytest

def helper_that_only_logs(x):
    print(x)

def test_never_asserts():
    helper_that_only_logs(1)

@pytest.mark.parametrize("night", [True, False])
def test_either_or(night):
    reply = "You are number 2"
    assert "number 2" in reply or not night

def test_conditional_on_a_parameter(value, problem):
    assert (value is None) if problem is None else (problem in value)

def test_reads_the_wall_clock():
    assert datetime.now().year > 2000

def test_sleeps_for_a_fixed_time():
    time.sleep(1.5)
    assert True is not False
'''

GOOD = '''
import time
import pytest

def check_places(places):
    assert places == sorted(places)

def test_asserts_through_a_helper():
    check_places([1, 2, 3])

def test_expects_an_error():
    with pytest.raises(ValueError):
        int("x")

def test_or_between_results_of_the_code(stack):
    reply = stack.post("incoming")
    assert reply.status == 200 or reply.status == 204

def test_polls_on_a_condition(stack):
    deadline = time.monotonic() + 5
    while not stack.ready() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.ready()
'''


def test_the_scan_finds_each_kind_of_test_that_cannot_fail() -> None:
    found = {(f.test, f.kind) for f in scan_sources({"tests/test_bad.py": BAD})}
    assert found == {("test_never_asserts", "assertion-free"), ("test_either_or", "either-or"),
                     ("test_conditional_on_a_parameter", "either-or"),
                     ("test_reads_the_wall_clock", "wall-clock"), ("test_sleeps_for_a_fixed_time", "fixed-sleep")}


def test_the_scan_lets_real_assertions_pass() -> None:
    assert scan_sources({"tests/test_good.py": GOOD}) == []


def test_helpers_are_followed_across_modules() -> None:
    helpers = "def expect_ok(reply):\n    assert reply == 'ok'\n"
    test = "from tests.helpers import expect_ok\n\ndef test_uses_a_shared_helper():\n    expect_ok('ok')\n"
    assert scan_sources({"tests/helpers.py": helpers, "tests/test_x.py": test}) == []
    assert [f.kind for f in scan_sources({"tests/test_x.py": test})] == ["assertion-free"]


def test_the_suite_has_no_test_that_cannot_fail() -> None:
    findings = scan(Path(__file__).resolve().parents[1])
    assert not findings, "\n".join(map(str, findings))
