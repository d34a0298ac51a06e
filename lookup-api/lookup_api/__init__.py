"""The lookup API: precomputed predictions from Cassandra over HTTP, with API keys, rate limits and metrics.

Build the ASGI app with ``lookup_api.app.create_app(settings, api_settings)``; serve it with ``scorecast api``.
"""
