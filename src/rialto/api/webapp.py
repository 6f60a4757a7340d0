"""The web trading terminal's built files (``web/dist``), served at ``/``.

Only ``/`` (``/index.html``) and ``/assets/...`` (what Vite writes) are routed, so every other
path answers as it did before: 404 or 405 with Binance's error body. ``RIALTO_WEB_DIR`` names
another directory. When nothing is built, ``/`` answers a short page saying how to build it:
the API works either way.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

# src/rialto/api/webapp.py -> the repository's web/dist (an editable install, a checkout).
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rialto</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Rialto</h1>
<p>The Binance-compatible API is at <a href="/api/v3/exchangeInfo">/api/v3</a>.</p>
<p>The web trading terminal has not been built. In the repository, run
<code>make web</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>), then
restart <code>rialto up</code>. <code>make run</code> does both.</p>
</body></html>
"""


def web_dir() -> Path:
    configured = os.environ.get("RIALTO_WEB_DIR")
    return Path(configured) if configured else DEFAULT_DIR


def routes() -> list[BaseRoute]:
    """The terminal's routes, or the page saying how to build it."""
    directory = web_dir()
    index = directory / "index.html"
    if not index.is_file():

        async def not_built(request: Request) -> Response:
            return HTMLResponse(NOT_BUILT)

        return [Route("/", not_built), Route("/index.html", not_built)]

    async def page(request: Request) -> Response:
        # Asset names carry a content hash; the page that names them must not be cached.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    out: list[BaseRoute] = [Route("/", page), Route("/index.html", page)]
    if (directory / "assets").is_dir():
        out.append(Mount("/assets", StaticFiles(directory=directory / "assets"), name="assets"))
    return out
