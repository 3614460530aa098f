"""The template's dashboard and alarms watch metrics the code really emits, by their real names."""
from __future__ import annotations

import json
import re

from chalicelib.edges import metrics
from devstack.resources import load_template

EMITTED = set(metrics.COUNTERS.values()) | {"EwtErrorSeconds", "WebhookLatency", "SwallowedFailures"}


def test_dashboard_and_alarms_use_emitted_metrics_and_fixed_dimensions() -> None:
    resources = load_template()["Resources"]
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == {"UnrecoveredLostCallsAlarm", "CallbacksFailingAlarm", "DialQueueAgeAlarm",
                      "WorkflowFailuresAlarm"}
    used = set()
    for name in alarms:
        for query in resources[name]["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == "Holdfast":
                used.add(metric["MetricName"])
                assert metric["Dimensions"] == [{"Name": "Scope", "Value": "all"}]
    body = json.loads(resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].replace("${", "{"))
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if row and row[0] == "Holdfast":
                used.add(row[1])
    assert used and used <= EMITTED, used - EMITTED
    assert re.search(r"MetricName=\\\\?\"Lost\\\\?\"", resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    # swallowed failures by site (domain/faults.py), beside their total
    assert re.search(r"\{Holdfast,Site\} MetricName=\\\\?\"SwallowedFailures\\\\?\"",
                     resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
