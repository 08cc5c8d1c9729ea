"""The API serves the built dashboard at / and keeps /api and /schema its own; the client cannot drift."""

import json
from pathlib import Path

import httpx
from api_harness import REPO, OffsetClock, make_settings, serve_api

from alphapulse.api.app import openapi_document


async def test_built_dashboard_is_served_with_html_fallback(database: str, prefix: str, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>AlphaPulse dashboard</title>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")
    settings = make_settings(database, prefix, frontend_dir=dist)
    async with serve_api(settings, OffsetClock()) as base, httpx.AsyncClient(base_url=base) as client:
        root = await client.get("/")
        assert root.status_code == 200
        assert "AlphaPulse dashboard" in root.text
        asset = await client.get("/assets/app.js")
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        assert (await client.get("/api/auth/me")).status_code == 401  # the API still answers /api
        assert (await client.get("/schema/openapi.json")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


def test_the_committed_openapi_document_matches_the_app() -> None:
    """frontend/openapi.json feeds the generated TypeScript client: regenerate both when the API changes
    (`alphapulse api --openapi > frontend/openapi.json && cd frontend && npm run gen:api`)."""
    committed = json.loads((REPO / "frontend" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_document())), "frontend/openapi.json is stale"
