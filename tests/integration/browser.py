"""Headless Chromium for the browser tests, driven without a driver library: `--dump-dom` prints
the DOM once the page's scripts have run and `--screenshot` draws the page. Both wait for a
`--virtual-time-budget`, and virtual time stands still while a fetch is pending, so a page's
API calls have finished (and written their results into the DOM) when it is read.
`--enable-logging=stderr` shows the page's console, CSP violations included. Plus a static
page server, to be another origin than the API's."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Debian's package first; a developer's own Chrome will do too (or set CHROMIUM to a binary).
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# A console line as Chromium logs it: [pid:tid:date:INFO:CONSOLE:1] "message", source: url (1)
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?(?::\d+)?\] (.*)")

skipped: list[str] = []  # reasons the browser tests were skipped, for the terminal summary


def find_chromium() -> str | None:
    """The browser to drive: $CHROMIUM, else the first of NAMES on the PATH."""
    for name in (os.environ.get("CHROMIUM") or "", *NAMES):
        if name and (path := shutil.which(name)):
            return path
    return None


@dataclass
class Page:
    """What a page left behind: its DOM (for --dump-dom) and its console lines."""

    dom: str
    console: list[str]


class Chromium:
    """One headless Chromium run per call, each with a fresh profile under `profiles`."""

    def __init__(self, binary: str, profiles: Path) -> None:
        self.binary, self.profiles = binary, profiles
        self.runs = 0

    def run(self, url: str, *action: str, budget_ms: int = 10_000) -> Page:
        self.runs += 1
        profile = self.profiles / f"profile-{self.runs}"
        args = [
            self.binary,
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace to sandbox with
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            f"--virtual-time-budget={budget_ms}",
            *action,
            url,
        ]
        done = subprocess.run(args, capture_output=True, timeout=60, check=False)  # noqa: S603
        stderr = done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"chromium exited with {done.returncode}: {stderr[-2000:]}"
        console = [m.group(1) for m in map(_CONSOLE.search, stderr.splitlines()) if m]
        return Page(done.stdout.decode(), console)

    def dump_dom(self, url: str) -> Page:
        """The page's DOM after its scripts ran (and their fetches finished)."""
        return self.run(url, "--dump-dom")

    def screenshot(self, url: str, path: Path, width: int = 1200, height: int = 1400) -> Page:
        """A PNG of the page at this window size, once its scripts ran."""
        return self.run(url, f"--screenshot={path}", f"--window-size={width},{height}")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@contextlib.contextmanager
def static_site(files: dict[str, str]) -> Iterator[str]:
    """Serve `files` (path → HTML) on a free loopback port; yields the origin."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.split("?", 1)[0])
            self.send_response(200 if body is not None else 404)
            data = (body or "not found").encode()
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test's output is not the place for an access log

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
