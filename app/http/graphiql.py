"""GraphiQL served whole by the service: the page and its assets, no CDN.

The third-party assets are the built files of pinned npm packages (vendor/graphiql/package.json),
vendored so that a plain clone, a wheel and the container image work with no internet and
no Node.js; `make graphiql-assets` copies them again from npm after a version bump. The page's
own boot script lives apart, in static/.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

VENDOR = Path(__file__).resolve().parent / "vendor" / "graphiql"
PREFIX = "/graphiql"
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "graphql-ws.min.js",
)
STYLES = ("graphiql.min.css", "plugin-explorer.css")
BOOT = "segments-graphiql.js"

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="robots" content="noindex">
    <title>Segments GraphiQL</title>
    <style>html, body, #graphiql {{ height: 100%; margin: 0; overflow: hidden; }}</style>
{styles}
  </head>
  <body>
    <div id="graphiql">Loading...</div>
{scripts}
  </body>
</html>
"""


def asset_urls(root_path: str = "") -> list[str]:
    """Every URL the page loads, in order (styles first)."""
    return [f"{root_path}{PREFIX}/{name}" for name in (*STYLES, *SCRIPTS, BOOT)]


def page(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{root}{PREFIX}/{name}">' for name in STYLES
    )
    scripts = "\n".join(
        f'    <script src="{root}{PREFIX}/{name}"></script>' for name in (*SCRIPTS, BOOT)
    )
    return HTMLResponse(_PAGE.format(styles=styles, scripts=scripts))


def assets() -> StaticFiles:
    """The files (vendored ones and the boot script), for a Mount at PREFIX."""
    return StaticFiles(directory=VENDOR, packages=[("app.http", "static")])
