"""The HTTP API: a Starlette app built by :func:`api.app.create_app`."""
