"""Our webhook URLs, as every provider is given them: `{public base}/voice/{provider}/{step}?{params}`."""
from __future__ import annotations

from urllib.parse import urlencode

from ..domain.script import Step


def step_url(base_url: str, provider: str, step: Step, **more: str) -> str:
    url = f"{base_url.rstrip('/')}/voice/{provider}/{step.name}"
    params = [*step.params, *sorted(more.items())]
    return f"{url}?{urlencode(params)}" if params else url
