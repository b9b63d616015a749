"""The dashboard page: static HTML/JS in `web/` that draws the API's answers with ECharts.

There is no bundler: the page is three small files and the ECharts runtime comes from npm
(`web/package-lock.json`, installed by `make setup`). The routes are outside the OpenAPI
schema; the page authenticates like any client, with a bearer token kept in the browser
tab's sessionStorage (a `#token=` fragment on the URL fills it and is removed at once, so
the token never reaches a server log).
"""

from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.responses import FileResponse, RedirectResponse

WEB_DIR = Path(__file__).parent / "web"
ECHARTS = WEB_DIR / "node_modules" / "echarts" / "dist" / "echarts.min.js"
PAGE_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
# The page loads only its own files; the API answers JSON on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def mount_dashboard_page(app: FastAPI) -> None:
    """`/` redirects to `/ui/`; `/ui/echarts.min.js` is the npm-installed runtime."""

    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/echarts.min.js", include_in_schema=False)
    def echarts() -> Response:
        if not ECHARTS.is_file():
            return Response(
                "ECharts is not installed: run `make setup` (npm ci in analytics_api/web)",
                status_code=503,
                media_type="text/plain",
            )
        return FileResponse(ECHARTS, media_type="text/javascript", headers=headers)

    def serve(name: str, media_type: str):  # type: ignore[no-untyped-def]
        def page_file() -> FileResponse:
            return FileResponse(WEB_DIR / name, media_type=media_type, headers=headers)

        return page_file

    for route, (name, media_type) in PAGE_FILES.items():
        app.add_api_route(
            f"/ui/{route}", serve(name, media_type), methods=["GET"], include_in_schema=False
        )
