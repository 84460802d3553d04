"""The demo's report in headless Chromium: every figure drawn, no JavaScript error.

Skips only where Chromium is absent and LOSSATLAS_REQUIRE_BROWSER is unset; CI
(`.ci/run`) installs Chromium and sets it, so there a missing browser fails.
"""

import os

import pytest

from lossatlas import report
from lossatlas.report.browser import check_page, find_chromium
from lossatlas.results import manifest

REQUIRED = bool(os.environ.get("LOSSATLAS_REQUIRE_BROWSER"))


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        if REQUIRED:
            pytest.fail(
                "LOSSATLAS_REQUIRE_BROWSER is set but chromium or chromedriver is missing: "
                "apt-get install -y chromium chromium-driver"
            )
        pytest.skip("chromium and chromedriver are not installed")
    if not REQUIRED:
        pytest.importorskip("selenium")


def test_every_figure_of_the_demo_report_renders(browser, tiny_demo, tmp_path):
    out, _ = tiny_demo
    page = report.build(out, tmp_path / "report.html")
    shot = tmp_path / "report.png"
    seen = check_page(page, shot)
    assert seen.title == f"lossatlas report: {out.name}"
    recorded = [
        f for p in manifest.find(out) for f in manifest.read(p)["figures"]
        if f["path"].endswith(".plotly.json")
    ]  # fmt: skip
    # curves, lines, planes (2-D and 3-D), eigenvalues, density, paths, kPCA
    assert len(seen.figures) == len(recorded) == 14
    assert seen.not_drawn == [], seen.figures
    assert seen.errors == []
    assert any(f["canvas"] for f in seen.figures)  # the 3-D surfaces drew through WebGL
    assert shot.stat().st_size > 20_000


def test_a_figure_that_cannot_draw_shows_its_png_and_logs_an_error(browser, tiny_demo, tmp_path):
    out, _ = tiny_demo
    text = report.render(out, report_dir=tmp_path)
    broken = text.replace('"data":[', '"data":{"broken":', 1)  # one figure's JSON made invalid
    page = tmp_path / "broken.html"
    page.write_text(broken)
    seen = check_page(page)
    assert len(seen.not_drawn) == 1
    assert any("was not drawn" in e for e in seen.errors)
