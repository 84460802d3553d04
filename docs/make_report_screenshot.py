"""The README's report screenshot: .venv/bin/python docs/make_report_screenshot.py [RUN_DIR]

Builds the report of RUN_DIR (default: runs `lossatlas demo` into
lossatlas-runs/demo first, about five minutes), opens it in headless Chromium
(Debian's chromium and chromium-driver), checks that every figure drew, and
saves the part of the page around the first plane to docs/img/report.png.
"""

import sys
from pathlib import Path

from lossatlas import report
from lossatlas.report.browser import check_page

HERE = Path(__file__).parent / "img"


def main(run_dir: Path) -> None:
    if not (run_dir / "lossatlas.json").exists():
        from typer.testing import CliRunner

        from lossatlas.cli import app

        result = CliRunner().invoke(app, ["demo", "--out", str(run_dir)])
        if result.exit_code:
            raise SystemExit(result.output)
    page = report.build(run_dir)
    text = page.read_text()
    anchor = next(
        (f"section-{i}" for i in range(1, 40) if f'id="section-{i}"' in text
         and "folder <code>06-plane</code>" in text.split(f'id="section-{i}"')[1][:600]),
        None,
    )  # fmt: skip
    seen = check_page(page, HERE / "report.png", width=1300, height=1050, anchor=anchor)
    if seen.errors or seen.not_drawn:
        raise SystemExit(f"the report did not draw cleanly: {seen.errors} {seen.not_drawn}")
    print(f"{len(seen.figures)} figures drawn; wrote {HERE / 'report.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("lossatlas-runs/demo"))
