#!/usr/bin/env python3
"""Render an ecobench HTML report in headless Chromium: a PNG screenshot, its DOM as parsed, or what it shows.

    python scripts/screenshot_report.py report.html report.png [--width 1280] [--height 9000]
    python scripts/screenshot_report.py report.html --dump-dom
    python scripts/screenshot_report.py report.html --inspect

--inspect prints JSON: the page's title, each image's natural width (0: it did not load) and every console
error (script exceptions, console.error, blocked or failed loads), read over the DevTools protocol on a pipe.

Needs Debian's `chromium` (apt-get install chromium). The window is made tall (--height) and the white space
below the page's end is cropped, so the screenshot holds the whole report. No network is used: the report is
self-contained and Chromium opens it from disk.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for b in BROWSERS:
        path = shutil.which(b)
        if path:
            return path
    sys.exit(f"no headless browser found ({', '.join(BROWSERS)}); apt-get install chromium")


def chromium(args: list[str], profile: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(command(args, profile), capture_output=True, text=True, timeout=timeout)  # noqa: S603 (our own flags and a file URL)


def command(args: list[str], profile: str) -> list[str]:
    """Headless, offline (no sync, updates or background fetches), in a fresh profile."""
    return [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--no-default-browser-check", "--hide-scrollbars",
            f"--user-data-dir={profile}", *args]


class DevTools:
    """The DevTools protocol over --remote-debugging-pipe: Chromium reads commands on its fd 3 and writes
    replies and events on fd 4, each message JSON ended by a NUL byte. No port, no websocket."""

    def __init__(self, profile: str, timeout: float) -> None:
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()

        def wire() -> None:  # in the child: move both ends above 4 first, so neither dup2 clobbers the other
            hi_r, hi_w = fcntl.fcntl(to_r, fcntl.F_DUPFD, 5), fcntl.fcntl(from_w, fcntl.F_DUPFD, 5)
            os.dup2(hi_r, 3)  # inheritable; close_fds=False keeps them (every other fd of ours is close-on-exec)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(command(["--remote-debugging-pipe", "about:blank"], profile),  # noqa: S603 (our own flags)
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire,
                                     close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.deadline = time.monotonic() + timeout
        self.events: list[dict] = []
        self._buf = b""
        self._id = 0

    def _next(self) -> dict:
        while b"\0" not in self._buf:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            event = self._next()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, TimeoutError, ConnectionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


PAGE_STATE = ("JSON.stringify({title: document.title, images: Array.from(document.images, "
              "i => ({alt: i.alt, complete: i.complete, natural_width: i.naturalWidth}))})")


def console_errors(events: list[dict]) -> list[str]:
    """Every error the page's console would show: uncaught exceptions, console.error/assert, and the browser's own
    error entries (a load the CSP blocked, a missing file)."""
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"{p['entry'].get('source')}: {p['entry'].get('text')}")
    return out


def inspect(url: str, profile: str, timeout: float = 90) -> dict:
    """Load `url` in a fresh tab and report what it shows once its load event has fired (every image decoded)."""
    dt = DevTools(profile, timeout)
    try:
        target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.call(f"{domain}.enable", session=session)
        dt.call("Page.navigate", {"url": url}, session=session)
        dt.wait_for("Page.loadEventFired")
        state = dt.call("Runtime.evaluate", {"expression": PAGE_STATE, "returnByValue": True}, session=session)
        page = json.loads(state["result"]["value"])
        page["errors"] = console_errors([e for e in dt.events if e.get("sessionId") == session])
        return page
    finally:
        dt.close()


def crop_blank_bottom(png: Path, margin: int = 40) -> None:
    """Cut the white space below the page's end (the window is made taller than any report)."""
    from PIL import Image, ImageChops

    img = Image.open(png).convert("RGB")
    bbox = ImageChops.difference(img, Image.new("RGB", img.size, (255, 255, 255))).getbbox()
    if bbox:
        img.crop((0, 0, img.width, min(img.height, bbox[3] + margin))).save(png)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html", type=Path)
    p.add_argument("png", type=Path, nargs="?")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=9000, help="window height in CSS pixels; a longer page is cut there")
    p.add_argument("--dump-dom", action="store_true", help="print the DOM Chromium parsed instead of a screenshot")
    p.add_argument("--inspect", action="store_true",
                   help="print JSON: title, each image's natural width, console errors")
    a = p.parse_args()
    url = a.html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        if a.inspect:
            print(json.dumps(inspect(url, profile), indent=1))
            return 0
        if a.dump_dom:
            proc = chromium(["--dump-dom", url], profile)
            sys.stdout.write(proc.stdout)
            return proc.returncode
        if a.png is None:
            p.error("give a PNG path or --dump-dom")
        out = a.png.resolve()
        proc = chromium([f"--window-size={a.width},{a.height}", f"--screenshot={out}", url], profile)
        if proc.returncode != 0 or not out.is_file():
            sys.stderr.write(proc.stderr)
            return proc.returncode or 1
        crop_blank_bottom(out)
    noise = [line for line in proc.stderr.splitlines() if re.search(r"ERROR|FATAL", line) and "dbus" not in line]
    if noise:
        print("\n".join(noise[:5]), file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
