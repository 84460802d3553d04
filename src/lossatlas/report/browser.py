"""Open a report in headless Chromium: did every figure draw, did anything log an error?

Used by the browser test and by `docs/make_report_screenshot.py`. It drives
the system's Chromium (Debian's `chromium` and `chromium-driver` packages)
through Selenium; nothing is downloaded. The flags keep Chromium off the
network (the page needs none) and away from any profile but a fresh one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # WebGL (plotly's 3-D surfaces) in software, as there is no GPU here.
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Per interactive figure: its state and what plotly put in it.
_STATUS = """
return Array.from(document.querySelectorAll("figure.interactive")).map(function (f) {
  return {id: f.id, rendered: f.classList.contains("rendered"),
          failed: f.classList.contains("failed"),
          svg: f.querySelectorAll(".plot svg.main-svg").length,
          canvas: f.querySelectorAll(".plot canvas").length,
          traces: f.querySelectorAll(".plot .trace, .plot .gl-container").length};
});
"""
_PENDING = (
    'return document.querySelectorAll("figure.interactive:not(.rendered):not(.failed)").length;'
)


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) paths, or None when either is missing."""
    browser = os.environ.get("LOSSATLAS_CHROMIUM") or next(
        (p for p in map(shutil.which, CANDIDATES) if p), None
    )
    driver = os.environ.get("LOSSATLAS_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@dataclass
class PageCheck:
    """What the browser saw."""

    figures: list[dict[str, Any]]
    console: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""

    @property
    def errors(self) -> list[str]:
        """Console messages at error level (uncaught JavaScript errors included)."""
        return [str(e.get("message")) for e in self.console if e.get("level") == "SEVERE"]

    @property
    def not_drawn(self) -> list[str]:
        """Interactive figures without a rendered plot (plotly's SVG or WebGL canvas)."""
        return [
            f["id"]
            for f in self.figures
            if not f["rendered"] or f["failed"] or not (f["svg"] or f["canvas"])
        ]


def check_page(
    page: str | PathLike,
    screenshot: str | PathLike | None = None,
    *,
    width: int = 1400,
    height: int = 1000,
    timeout: float = 120.0,
    anchor: str | None = None,
) -> PageCheck:
    """Load `page` in headless Chromium, wait for its figures, and report what happened.

    Args:
        page: the report's HTML file.
        screenshot: a PNG to save of the top of the page (width × height).
        anchor: the id of an element to scroll to before the screenshot.
        timeout: seconds to wait for every figure to draw or fail.

    Raises:
        FileNotFoundError: Chromium or chromedriver is not installed.
        ImportError: selenium is not installed (`pip install lossatlas[dev]`).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    found = find_chromium()
    if found is None:
        raise FileNotFoundError(
            "Chromium and chromedriver are needed: `apt-get install chromium chromium-driver` "
            "(or set LOSSATLAS_CHROMIUM and LOSSATLAS_CHROMEDRIVER)."
        )
    browser, chromedriver = found
    profile = tempfile.mkdtemp(prefix="lossatlas-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        driver.set_window_size(width, height)
        driver.get(Path(page).resolve().as_uri())
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda d: d.execute_script(_PENDING) == 0
        )
        result = PageCheck(
            figures=driver.execute_script(_STATUS),
            console=driver.get_log("browser"),
            title=driver.title,
        )
        if screenshot is not None:
            if anchor:
                driver.execute_script(
                    "document.getElementById(arguments[0]).scrollIntoView();", anchor
                )
            else:
                driver.execute_script("window.scrollTo(0, 0);")
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
        return result
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
