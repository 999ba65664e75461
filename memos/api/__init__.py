"""The REST API (``memos api``): the MOS operations over HTTP, per-tenant API keys and limits.

:func:`memos.api.app.create_app` builds the FastAPI app around one :class:`~memos.mem_os.main.MOS`
per process; :mod:`memos.api.auth` keeps the hashed keys and :mod:`memos.api.ratelimit` the
per-tenant request budget, both in the bus's Redis.
"""
