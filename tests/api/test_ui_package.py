"""The inspector's templates and assets are package data: a wheel carries every one of them."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).parents[2]
UI = ROOT / "memos" / "api" / "ui"


def test_every_ui_asset_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["memos.api.ui"]
    assets = [p.relative_to(UI).as_posix() for p in UI.rglob("*") if p.is_file()]
    assets = [a for a in assets if not a.endswith((".py", ".pyc")) and "__pycache__" not in a]
    assert {"templates/base.html", "static/inspector.js", "static/inspector.css"} <= set(assets)
    missing = [a for a in assets if not any(fnmatch(a, pattern) for pattern in patterns)]
    assert missing == [], f"not shipped in the wheel: {missing}"


def test_templates_autoescape_and_pages_load_no_inline_script() -> None:
    from memos.api.ui.web import templates

    page = templates.from_string("{{ text }}").render(text="<script>x</script>")
    assert page == "&lt;script&gt;x&lt;/script&gt;"
    for path in (UI / "templates").glob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert "<script>" not in html and " on" + "click=" not in html, path.name
        assert "| safe" not in html, path.name
