"""A built single-page web app, as `npm run build` leaves it, for the serving tests."""

from __future__ import annotations

from pathlib import Path

INDEX = "<!doctype html><html><head><script type=module src=/assets/app-4f2a9c.js></script>"


def build_web_app(root: Path) -> Path:
    """What `npm run build` leaves in `dist/`: an index and hashed assets."""
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX + "</head><body><div id=root></div></body></html>")
    (dist / "assets" / "app-4f2a9c.js").write_text("console.log('app')")
    (dist / "assets" / "index-77aa.css").write_text("body{margin:0}")
    (dist / "assets" / "inter-1b2c.woff2").write_bytes(b"wOF2fake")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (dist / ".env").write_text("SECRET=1")
    return dist
