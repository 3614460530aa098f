"""Holdfast's Chalice app: thin handlers only. Logic lives in chalicelib/."""
import time
from typing import Callable

from chalice import Chalice, Rate, Response

from chalicelib import bootstrap
from chalicelib.edges import workers
from chalicelib.settings import Settings
from chalicelib.edges import metrics
from chalicelib.edges.console import WebReply
from chalicelib.edges.webhooks import HttpReply
from chalicelib.edges.web_api import WebApi
from chalicelib.edges.caller_pages import CallerPages

app = Chalice(app_name="holdfast")
bootstrap.check_at_start()

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Event sources: `make deploy` replaces these with the stack's own queues and stream (infra/app.yaml);
# Chalice needs a value to package.
EVENT_SOURCES = Settings.from_env()


def _reply(reply: HttpReply) -> Response:
    return Response(body=reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type})


@app.route("/voice/{provider}/{step}", methods=["POST"], content_types=[FORM, JSON])
def voice(provider: str, step: str) -> Response:
    request = app.current_request
    started = time.perf_counter()
    reply = bootstrap.webhooks().handle(provider, step, request.raw_body, request.query_params, request.headers,
                                        request.method)
    metrics.webhook_latency((time.perf_counter() - started) * 1000)
    return _reply(reply)


def _guarded(use: Callable[[bootstrap.Container], HttpReply], webhook: bool = False) -> Response:
    """The JSON APIs and agent webhooks: refused while the app cannot be built (see /health)."""
    return _reply(bootstrap.refused(webhook) or use(bootstrap.container()))


@app.route("/agents/{agent_id}/status", methods=["POST"], content_types=["application/json"])
def agent_status(agent_id: str) -> Response:
    request = app.current_request
    return _guarded(lambda c: c.agents.set_status(agent_id, request.raw_body, request.headers))


@app.route("/providers/{provider}/agent-events", methods=["POST"], content_types=[FORM, JSON])
def provider_agent_events(provider: str) -> Response:
    request = app.current_request
    return _guarded(lambda c: c.agents.provider_event(provider, request.raw_body, request.query_params or {},
                                                      request.headers), webhook=True)


@app.route("/admin/lost-calls", methods=["GET"])
def lost_calls() -> Response:
    request = app.current_request
    return _guarded(lambda c: c.admin.lost_calls(request.query_params or {}, request.headers))


@app.route("/admin/opt-outs", methods=["POST"], content_types=["application/json"])
def opt_out() -> Response:
    request = app.current_request
    return _guarded(lambda c: c.admin.opt_out(request.raw_body, request.headers, opted_out=True))


@app.route("/admin/opt-outs/delete", methods=["POST"], content_types=["application/json"])
def opt_in() -> Response:
    request = app.current_request
    return _guarded(lambda c: c.admin.opt_out(request.raw_body, request.headers, opted_out=False))


def _web(use: Callable[[bootstrap.Container], WebReply]) -> Response:
    """The console: refused (503, see /health) while the app cannot be built."""
    refusal = bootstrap.refused()
    if refusal is not None:
        return _reply(refusal)
    reply = use(bootstrap.container())
    return Response(body=reply.body, status_code=reply.status, headers=reply.all_headers())


@app.route("/console", methods=["GET"])
def console_page() -> Response:
    return _web(lambda c: c.console.asset("index.html"))


@app.route("/console/{asset}", methods=["GET"])
def console_asset(asset: str) -> Response:
    return _web(lambda c: c.console.asset(asset))


@app.route("/console/api/{name}", methods=["GET", "POST"],
           content_types=["application/json", FORM])
def console_api(name: str) -> Response:
    request = app.current_request
    client = (request.context.get("identity") or {}).get("sourceIp") or ""  # API Gateway's, not a header's
    return _web(lambda c: c.console.api(name, request.method, request.query_params, request.headers,
                                        request.raw_body if request.method == "POST" else None, client))


def _web_api(use: Callable[[WebApi], WebReply]) -> Response:
    """The public web callback endpoint: refused (503) while the app cannot be built."""
    return _web(lambda c: use(c.web) if c.web is not None else WebReply(404, '{"error": "not served"}'))


def _client() -> str:
    """The requesting address (API Gateway's view of it), for the per-address quota."""
    context = app.current_request.context or {}
    return str((context.get("identity") or {}).get("sourceIp") or "")


@app.route("/web/widget.js", methods=["GET"])
def web_widget() -> Response:
    return _web_api(lambda w: w.widget())


@app.route("/web/{queue}/wait", methods=["GET"])
def web_wait(queue: str) -> Response:
    request = app.current_request
    return _web_api(lambda w: w.wait(queue, request.headers))


@app.route("/web/{queue}/callback", methods=["POST"], content_types=[JSON, "text/plain"])
def web_callback(queue: str) -> Response:
    request = app.current_request
    return _web_api(lambda w: w.request(queue, request.raw_body, request.headers, _client()))


@app.route("/web/{queue}/code", methods=["POST"], content_types=[JSON, "text/plain"])
def web_code(queue: str) -> Response:
    """A code texted to the number a web request will give (where the queue asks for one)."""
    request = app.current_request
    return _web_api(lambda w: w.code(queue, request.raw_body, request.headers, _client()))


@app.route("/web/{queue}/code", methods=["OPTIONS"])
def web_code_preflight(queue: str) -> Response:
    request = app.current_request
    return _web_api(lambda w: w.preflight(queue, request.headers))


@app.route("/web/{queue}/callback", methods=["OPTIONS"])
def web_callback_preflight(queue: str) -> Response:
    request = app.current_request
    return _web_api(lambda w: w.preflight(queue, request.headers))


def _caller(use: Callable[[CallerPages], WebReply]) -> Response:
    return _web(lambda c: use(c.caller_pages) if c.caller_pages is not None else WebReply(404, "{}"))


@app.route("/c/{token}", methods=["GET"])
def caller_page(token: str) -> Response:
    return _caller(lambda p: p.page(token))


@app.route("/c/{token}/cancel", methods=["POST"], content_types=[FORM])
def caller_cancel(token: str) -> Response:
    return _caller(lambda p: p.cancel(token))


@app.route("/sms/{provider}/incoming", methods=["POST"], content_types=[FORM, JSON])
def inbound_text(provider: str) -> Response:
    request = app.current_request
    return _caller(lambda p: p.inbound_text(provider, request.raw_body, request.query_params, request.headers,
                                            request.method))


@app.route("/sms/{provider}/status", methods=["POST"], content_types=[FORM, JSON])
def text_status(provider: str) -> Response:
    request = app.current_request
    return _caller(lambda p: p.text_status(provider, request.raw_body, request.query_params, request.headers,
                                           request.method))


@app.route("/health", methods=["GET"])
def health() -> Response:
    status, body = bootstrap.health()
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


@app.on_sqs_message(queue_arn=EVENT_SOURCES.dial_queue_arn, batch_size=1)
def dial_worker(event) -> None:  # type: ignore[no-untyped-def]
    for record in event:
        workers.on_dial_message(record.body)


@app.on_sqs_message(queue_arn=EVENT_SOURCES.notify_queue_arn, batch_size=1)
def notify_worker(event) -> None:  # type: ignore[no-untyped-def]
    for record in event:
        workers.on_notify_message(record.body)


@app.on_dynamodb_record(stream_arn=EVENT_SOURCES.table_stream_arn, batch_size=25)
def table_stream(event) -> None:  # type: ignore[no-untyped-def]
    for record in event:
        workers.on_table_change(record.new_image, record.old_image, record.event_id)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def dispatch_sweep(event) -> None:  # type: ignore[no-untyped-def]
    workers.sweep()
