"""Per-queue thresholds on the wallboard's measures (docs/queues.md, "thresholds"): each colours a tile
(ok, warn, alert) and, past its alert level for `alert_after_seconds`, sends the queue's notification
once per crossing (domain/floor.py `Floor.watch`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError

OK, WARN, ALERT = "ok", "warn", "alert"

# measure -> (what it is, True when a higher value is worse)
MEASURES: dict[str, tuple[str, bool]] = {
    "waiting": ("callers waiting", True),
    "longest_wait_seconds": ("longest wait", True),
    "service_level_now": ("service level, last 15 min", False),
    "service_level_30m": ("service level, last 30 min", False),
    "agents_available": ("agents available", False),
    "callbacks_due_next_hour": ("callbacks due in the next hour", True),
    "unrecovered_today": ("unrecovered lost calls today", True),
}
DEFAULT_ALERT_AFTER_SECONDS = 120


@dataclass(frozen=True)
class Threshold:
    measure: str
    warn: float | None
    alert: float | None

    @property
    def higher_is_worse(self) -> bool:
        return MEASURES[self.measure][1]

    def crossed(self, value: float | None, limit: float | None) -> bool:
        if value is None or limit is None:
            return False  # nothing to judge yet (no calls in the window): not a crossing
        return value >= limit if self.higher_is_worse else value <= limit

    def level(self, value: float | None) -> str:
        if self.crossed(value, self.alert):
            return ALERT
        if self.crossed(value, self.warn):
            return WARN
        return OK


@dataclass(frozen=True)
class Thresholds:
    by_measure: Mapping[str, Threshold]
    alert_after_seconds: int = DEFAULT_ALERT_AFTER_SECONDS

    @classmethod
    def none(cls) -> "Thresholds":
        return cls({})

    @classmethod
    def from_config(cls, raw: Any, where: str = "thresholds") -> "Thresholds":
        """`{"alert_after_seconds": 120, "waiting": {"warn": 5, "alert": 10}, ...}`; service levels are
        fractions (0.8 = 80%) and alert when at or below, the others when at or above."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected an object like {{\"waiting\": {{\"warn\": 5, \"alert\": 10}}}}")
        after = raw.get("alert_after_seconds", DEFAULT_ALERT_AFTER_SECONDS)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ConfigError(f"{where}.alert_after_seconds: expected whole seconds (0 or more), got {after!r}")
        unknown = set(raw) - set(MEASURES) - {"alert_after_seconds"}
        if unknown:
            raise ConfigError(f"{where}: unknown measure(s) {sorted(unknown)}; known: {sorted(MEASURES)}")
        out = {}
        for measure in MEASURES:
            if measure not in raw:
                continue
            spec = raw[measure]
            if not isinstance(spec, dict) or not spec or set(spec) - {"warn", "alert"}:
                raise ConfigError(f"{where}.{measure}: expected {{\"warn\": ..., \"alert\": ...}} (either or both)")
            limits = {}
            for key in ("warn", "alert"):
                value = spec.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                    raise ConfigError(f"{where}.{measure}.{key}: expected a number (0 or more), got {value!r}")
                if value is not None and measure.startswith("service_level") and value > 1:
                    raise ConfigError(f"{where}.{measure}.{key}: a fraction from 0 to 1 (0.8 = 80%)")
                limits[key] = value
            threshold = Threshold(measure, limits.get("warn"), limits.get("alert"))
            if threshold.warn is not None and threshold.alert is not None and \
                    threshold.crossed(threshold.warn, threshold.alert):
                raise ConfigError(f"{where}.{measure}: warn must come before alert")
            out[measure] = threshold
        return cls(out, after)

    def levels(self, values: Mapping[str, float | None]) -> dict[str, str]:
        """Each configured measure's level for these values."""
        return {m: t.level(values.get(m)) for m, t in self.by_measure.items()}

    def as_json(self) -> dict[str, Any]:
        return {"alert_after_seconds": self.alert_after_seconds,
                **{m: {"warn": t.warn, "alert": t.alert, "higher_is_worse": t.higher_is_worse}
                   for m, t in self.by_measure.items()}}
