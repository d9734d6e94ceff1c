"""The physical limit of this HTTP server: a bare ASGI callable, no framework,
no validation, that reads the whole request body and answers a constant JSON
document to any request. Run under the same uvicorn (httptools) as this
service, so every other row's distance to it is what the framework, the
validation and the model cost."""

from typing import Any

ANSWER = b'{"probability":0.5,"class":1}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to start
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
