"""The web inspector served by ``memos api`` under ``/ui``: server-rendered pages, a small script.

Pages are Jinja2 templates with autoescaping (memory text is user content and is only ever
inserted as text), the browser code is one vanilla JS file with no inline scripts (the pages
send a strict Content-Security-Policy), and the assets ship as package data. Log in with an API
key; see :mod:`memos.api.ui.session` for sessions and CSRF, :mod:`memos.api.ui.views` for what
each page shows.
"""
