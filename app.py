"""Holdfast's Chalice app: thin handlers only. Logic lives in chalicelib/."""
from chalice import Chalice, Response

from chalicelib import bootstrap

app = Chalice(app_name="holdfast")

FORM = "application/x-www-form-urlencoded"


@app.route("/voice/{provider}/{step}", methods=["POST"], content_types=[FORM])
def voice(provider: str, step: str) -> Response:
    request = app.current_request
    reply = bootstrap.webhooks().handle(provider, step, request.raw_body, request.query_params, request.headers)
    return Response(body=reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type})


@app.route("/health", methods=["GET"])
def health() -> dict[str, str]:
    return {"status": "ok"}
