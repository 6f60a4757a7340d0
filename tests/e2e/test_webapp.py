"""Serving the built terminal at ``/``, and the page that says how to build it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from rialto.api import webapp


def get(*paths: str) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=Starlette(routes=webapp.routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://rialto") as client:
            return [await client.get(p) for p in paths]

    return asyncio.run(run())


def post(path: str) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=Starlette(routes=webapp.routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://rialto") as client:
            return await client.post(path)

    return asyncio.run(run())


def test_serves_the_built_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>terminal</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    monkeypatch.setenv("RIALTO_WEB_DIR", str(tmp_path))
    index, script, missing = get("/", "/assets/app.js", "/nothing-here")
    assert "terminal" in index.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404
    assert post("/").status_code == 405


def test_says_how_to_build_when_nothing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIALTO_WEB_DIR", str(tmp_path / "missing"))
    (page,) = get("/")
    assert page.status_code == 200 and "make web" in page.text
