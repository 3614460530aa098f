import json

import pytest

from chalicelib.bootstrap import load_queues
from chalicelib.domain.errors import ConfigError, UnknownQueueError
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.settings import DEFAULT_QUEUES_FILE


def test_shipped_config_loads_and_routes_by_called_number() -> None:
    queues = load_queues(DEFAULT_QUEUES_FILE)
    assert queues.for_call("+380445550100").id == "kyiv"
    assert queues.for_call("+10000000000").id == queues.default.id == "support"
    assert queues.for_call("+10000000000", requested="kyiv").id == "kyiv"
    with pytest.raises(UnknownQueueError):
        queues.for_call("+1", requested="nope")


@pytest.mark.parametrize("raw, message", [
    ({"id": "Bad Id"}, "queue id"),
    ({"id": "q", "language": "fr"}, "language"),
    ({"id": "q", "offer_callback_after_seconds": -1}, "offer_callback_after_seconds"),
    ({"id": "q", "offer_callback_after_seconds": "soon"}, "offer_callback_after_seconds"),
    ({"id": "q", "retry_delays_seconds": []}, "retry_delays_seconds"),
    ({"id": "q", "dial_mode": "whenever"}, "dial_mode"),
    ({"id": "q", "prompts": {"welcome": {"en": {"voice": "x"}}}}, "prompts.welcome.en"),
    ({"id": "q", "colour": "blue"}, "unknown field"),
])
def test_bad_config_is_a_clear_error(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_queue(raw)


def test_directory_rejects_duplicates_and_empty() -> None:
    with pytest.raises(ConfigError):
        QueueDirectory.from_config({"queues": []})
    with pytest.raises(ConfigError):
        QueueDirectory.from_config({"queues": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(ConfigError):
        QueueDirectory.from_config(json.loads('{"queues": {}}'))
