"""A web host of MCP Apps for the views' browser tests and scripts/screenshot-views.

It is built on the extension's own host library (AppBridge, from @modelcontextprotocol/ext-apps under
tests/inspector, bundled for the browser by rolldown) and runs in a real headless Chromium (Debian's), driven by
Playwright. Like a web host it keeps the view two frames away: the host page (http://127.0.0.1:PORT) holds a
sandbox proxy on another origin (http://localhost:PORT), served under the CSP built from the view resource's
declared domains, which loads the view's HTML into an inner iframe and relays the JSON-RPC messages. Every request
the pages make is recorded (and any to another host is refused), with every console error.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NODE_TOOLS = ROOT / "tests" / "inspector"
ROLLDOWN = NODE_TOOLS / "node_modules" / ".bin" / "rolldown"
HOST_ENTRY = NODE_TOOLS / "apps-host.mjs"
APP_BRIDGE = NODE_TOOLS / "node_modules" / "@modelcontextprotocol" / "ext-apps" / "dist" / "src" / "app-bridge.js"
CHROMIUM = Path("/usr/bin/chromium")
# As a CI machine runs it: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
STATIC = {"/host.html": "text/html", "/sandbox.html": "text/html", "/sandbox.js": "text/javascript"}
RENDER_TIMEOUT_MS = 15_000
NONE, SELF = "'none'", "'self'"


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (ROLLDOWN.exists() and APP_BRIDGE.exists()):
        return "the MCP Apps host library is not installed under tests/inspector (run ./scripts/test once)"
    return None


def content_security_policy(csp: dict[str, Any] | None) -> str:
    """The CSP a host enforces for a view, from its declared domains (MCP Apps 2026-01-26, "Content Security Policy
    Enforcement"); with no domain declared it allows nothing outside the view itself."""
    csp = csp or {}

    def domains(key: str) -> str:
        return " ".join(d for d in csp.get(key) or [] if isinstance(d, str) and not any(c in d for c in ";'\" \n"))

    resources, connect = domains("resourceDomains"), domains("connectDomains")
    return "; ".join([
        "default-src 'none'", f"script-src 'self' 'unsafe-inline' {resources}".strip(),
        f"style-src 'self' 'unsafe-inline' {resources}".strip(), f"img-src 'self' data: {resources}".strip(),
        f"font-src 'self' {resources}".strip(), f"media-src 'self' data: {resources}".strip(),
        f"connect-src {connect or NONE}", f"frame-src {domains('frameDomains') or NONE}", "object-src 'none'",
        f"base-uri {domains('baseUriDomains') or SELF}",
    ])


def bundle_host(folder: Path) -> Path:
    """host.js: the host script with the AppBridge, bundled for the browser."""
    target = folder / "host.js"
    run = subprocess.run([str(ROLLDOWN), HOST_ENTRY.name, "--format", "esm", "--platform", "browser", "--file",
                          str(target), "--no-codeSplitting"], cwd=NODE_TOOLS, capture_output=True, text=True,
                         timeout=120, check=False)
    if run.returncode != 0 or not target.exists():
        raise RuntimeError(f"bundling the test host failed: {run.stderr[-2000:]}")
    return target


class _Files(BaseHTTPRequestHandler):
    """The host's pages; the sandbox page carries the CSP named by its query."""

    bundle: Path
    served: list[str]

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.served.append(url.path)
        if url.path == "/host.js":
            body, kind = self.bundle.read_bytes(), "text/javascript"
        elif url.path in STATIC:
            body, kind = (HERE / url.path.lstrip("/")).read_bytes(), STATIC[url.path]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        if url.path == "/sandbox.html":
            csp = json.loads(parse_qs(url.query).get("csp", ["{}"])[0])
            self.send_header("Content-Security-Policy", content_security_policy(csp))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `served`
        pass


@dataclass
class Request:
    url: str
    frame: str


@dataclass
class Rendered:
    """One view as the host shows it: the page, the view's frame, and what happened on the way."""

    page: Any
    view: Any
    host: dict[str, Any]
    console: list[str]
    requests: list[Request]
    origins: tuple[str, str]
    errors: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[Request]:
        """Requests the view made, and any request to neither of the host's own origins."""
        return [r for r in self.requests if r.frame == "view" or not r.url.startswith(self.origins)]

    def problems(self) -> list[str]:
        return [*self.console, *self.errors]

    def screenshot(self, path: Path) -> None:
        """A PNG of the view as the host shows it (the page grows to the view first: Chromium paints a frame
        only near the viewport)."""
        box = self.page.locator("#sandbox").bounding_box()
        self.page.set_viewport_size({"width": int(box["x"] * 2 + box["width"]),
                                     "height": int(box["y"] * 2 + box["height"])})
        self.page.locator("#sandbox").screenshot(path=str(path), animations="disabled")


class AppsHost:
    """One browser for many views (open it once per test module: `with AppsHost() as host`)."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="apps-host-")
        self._served: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._playwright: Any = None
        self._context: Any = None
        self._page: Any = None

    def __enter__(self) -> AppsHost:
        folder = Path(self._folder.name)
        handler = type("Files", (_Files,), {"bundle": bundle_host(folder), "served": self._served})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        self.host_origin, self.sandbox_origin = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._context = self._playwright.chromium.launch_persistent_context(
            str(folder / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 940, "height": 900}, device_scale_factor=1)
        self._context.route("**/*", self._only_loopback)
        return self

    def _only_loopback(self, route: Any) -> None:
        if route.request.url.startswith((self.host_origin, self.sandbox_origin)):
            route.continue_()
        else:
            route.abort()

    def __exit__(self, *_: Any) -> None:
        if self._context is not None:
            self._context.close()
        if self._playwright is not None:
            self._playwright.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._folder.cleanup()

    def render(self, resource: dict[str, Any], tool: dict[str, Any], arguments: dict[str, Any],
               result: dict[str, Any], *, width: int = 880, theme: str = "light") -> Rendered:
        """Show `result` (a tools/call result as JSON) of `tool` (its tools/list entry) in the view `resource`
        (its resources/read contents entry), as a web host does."""
        if self._page is not None:  # one view at a time: the last one stays open for its test
            self._page.close()
        page = self._page = self._context.new_page()
        console: list[str] = []
        requests: list[Request] = []
        errors: list[str] = []
        page.on("console", lambda message: console.append(f"console {message.type}: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("request", lambda request: requests.append(Request(request.url, _frame_name(request))))
        page.goto(f"{self.host_origin}/host.html")
        csp = ((resource.get("_meta") or {}).get("ui") or {}).get("csp")
        sandbox = f"{self.sandbox_origin}/sandbox.html?csp={json.dumps(csp or {}, separators=(',', ':'))}"
        host = page.evaluate("args => window.renderView(args)", {
            "html": resource["text"], "csp": csp, "tool": tool, "toolInput": arguments, "toolResult": result,
            "sandboxUrl": sandbox, "width": width, "theme": theme})
        view = _view_frame(page)
        view.wait_for_selector("#view > :not(.waiting)", timeout=RENDER_TIMEOUT_MS)
        _settle(page, view)
        return Rendered(page, view, host, console, requests, (self.host_origin, self.sandbox_origin), errors)


def _frame_name(request: Any) -> str:
    try:
        return str(request.frame.name)
    except Exception:  # a request without a frame (a worker): never the view's
        return ""


def _view_frame(page: Any) -> Any:
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        frame = page.frame(name="view")
        if frame is not None:
            return frame
        page.wait_for_timeout(25)
    raise TimeoutError("the view's frame did not appear")


def _settle(page: Any, view: Any) -> None:
    """Until the host has sized the frame to the view's height (the view reports its size)."""
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        wanted = view.evaluate("() => document.documentElement.scrollHeight")
        shown = page.evaluate("() => document.getElementById('sandbox').getBoundingClientRect().height")
        if abs(wanted - shown) <= 2:
            return
        page.wait_for_timeout(25)

