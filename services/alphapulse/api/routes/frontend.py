"""The built dashboard at ``/`` (``frontend/dist``), or a page that says how to build it."""

from pathlib import Path

from litestar import MediaType, Router, get
from litestar.static_files import create_static_files_router

__all__ = ("frontend_router",)

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AlphaPulse</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>AlphaPulse API</h1>
<p>The dashboard is not built. Build it once with:</p>
<pre>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then restart <code>alphapulse api</code> (or set <code>ALPHAPULSE_FRONTEND_DIR</code> to the built folder).</p>
<p>The API itself is documented at <a href="/schema">/schema</a>.</p>
</body></html>
"""


@get("/", media_type=MediaType.HTML, include_in_schema=False, security=[])
async def _not_built() -> str:
    return _NOT_BUILT


def frontend_router(dist: Path) -> Router:
    if (dist / "index.html").is_file():
        return create_static_files_router(path="/", directories=[dist], html_mode=True, name="dashboard")
    return Router(path="/", route_handlers=[_not_built])
