"""The FastAPI service. The ASGI app is `app.main:app`."""
