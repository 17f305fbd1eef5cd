"""Pages for people: the interactive API docs, and the built web app when one is configured.

Both are served by the app itself, so `/docs` works on a machine without internet and
a deployment needs one URL. Neither ever shadows the API: requests reach the web app
only when no route matched, and never for a reserved path (`RESERVED_PREFIXES`).
"""

from __future__ import annotations

import json
import mimetypes
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

# Paths that belong to the API (and features that will live beside it): unknown paths
# under them are JSON 404s, whatever the web app would have said.
RESERVED_PREFIXES = ("/api", "/sync", "/msync", "/docs", "/redoc", "/openapi.json", "/health")

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS_URL = "/docs/assets"
# Swagger UI's and ReDoc's own files, shipped by a maintained package.
_DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))

# Hashed file names never change content, so browsers may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# Types the standard table may lack or get wrong on a minimal system.
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
}


def is_reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _swagger_page(root: str, title: str) -> str:
    # No inline script: the settings come from a script of ours, so the page runs under
    # the same policy as the web app (script-src 'self').
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{root}{DOCS_ASSETS_URL}/swagger-ui.css">
<link rel="icon" href="{root}{DOCS_ASSETS_URL}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="{root}{DOCS_URL}/swagger-init.js"></script>
</body>
</html>
"""


def _swagger_init(root: str, openapi_url: str) -> str:
    options = {
        "url": f"{root}{openapi_url}",
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "persistAuthorization": True,
        # Swagger UI would otherwise send the document to a public validator.
        "validatorUrl": None,
    }
    return (
        f"window.ui = SwaggerUIBundle(Object.assign({json.dumps(options)}, {{\n"
        "  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],\n"
        "}));\n"
    )


def _redoc_page(root: str, title: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{root}{DOCS_ASSETS_URL}/favicon.png">
</head>
<body>
<redoc spec-url="{root}{openapi_url}"></redoc>
<script src="{root}{DOCS_ASSETS_URL}/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI) and `/redoc` from files in the app, not from a CDN.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=_DOCS_ASSETS), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(_swagger_page(root, app.title))

    @app.get(f"{DOCS_URL}/swagger-init.js", include_in_schema=False)
    def swagger_init(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return Response(
            _swagger_init(root, openapi_url),
            media_type="text/javascript",
            headers={"Cache-Control": REVALIDATE},
        )

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(_redoc_page(root, app.title, openapi_url))


class WebApp:
    """A built single-page app (`index.html`, hashed files under `assets/`) as the fallback.

    Installed as the router's default, so it sees only requests no route matched. A GET
    or HEAD for a file of the directory answers that file; any other GET outside the
    reserved paths answers `index.html`, so the app's own routes survive a reload
    (history routing). A missing file under `assets/` stays a 404: answering it with
    HTML would only break the page that asked for a script.
    """

    def __init__(self, directory: Path, not_found: ASGIApp) -> None:
        self.directory = directory.resolve()
        self.index = self.directory / "index.html"
        self.not_found = not_found

    def file_for(self, path: str) -> Path | None:
        relative = path.lstrip("/")
        if not relative or any(part.startswith(".") for part in relative.split("/")):
            return None
        candidate = (self.directory / relative).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "/")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_reserved(path):
            await self.not_found(scope, receive, send)
            return
        found = self.file_for(path)
        response: Response
        if found is not None and found != self.index:
            hashed = found.relative_to(self.directory).parts[0] == "assets"
            response = FileResponse(
                found,
                media_type=content_type(found),
                headers={"Cache-Control": IMMUTABLE if hashed else REVALIDATE},
            )
        elif path.lstrip("/").startswith("assets/"):
            await self.not_found(scope, receive, send)
            return
        else:
            response = FileResponse(
                self.index, media_type="text/html", headers={"Cache-Control": REVALIDATE}
            )
        await response(scope, receive, send)


def install_web_app(app: FastAPI, directory: Path) -> None:
    """Answer unmatched, non-reserved GETs from ``directory`` (see ``WebApp``)."""
    app.router.default = WebApp(directory, app.router.default)
