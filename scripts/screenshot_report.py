#!/usr/bin/env python3
"""Render an ecobench HTML report in headless Chromium: a PNG screenshot of the page, or its DOM as parsed.

    python scripts/screenshot_report.py report.html report.png [--width 1280] [--height 9000]
    python scripts/screenshot_report.py report.html --dump-dom

Needs Debian's `chromium` (apt-get install chromium). The window is made tall (--height) and the white space
below the page's end is cropped, so the screenshot holds the whole report. No network is used: the report is
self-contained and Chromium opens it from disk.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for b in BROWSERS:
        path = shutil.which(b)
        if path:
            return path
    sys.exit(f"no headless browser found ({', '.join(BROWSERS)}); apt-get install chromium")


def chromium(args: list[str], profile: str, timeout: float = 90) -> subprocess.CompletedProcess:
    base = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


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
    a = p.parse_args()
    url = a.html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
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
