"""report.html in a real browser: Debian's chromium, headless, opened with file://.

No JavaScript is added to the report for this. What is checked:
- the page loads (--dump-dom returns the report's DOM, every <img> included) and Chromium
  logs no console message at all (the report has no script, so any message is a problem:
  --enable-logging=stderr prints every console message as an INFO:CONSOLE line);
- every image renders: the report's own <img> tags are laid out one under the other in a
  check page, screenshotted, and each region must match the PNG it embeds pixel for pixel
  (a broken image would show Chromium's placeholder instead);
- a screenshot of the report itself is kept (its path is printed) and is not blank.
"""

import base64
import io
import re
import shutil
import subprocess

import pytest

from harness.report.write.render import write_report
from tests.support.gpu_runs import gpu_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install -y chromium); the browser check needs it")]
Image = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency) decodes the PNGs")
from PIL import ImageChops, ImageStat  # noqa: E402

IMG_TAG = re.compile(r'<img [^>]*width="(\d+)" height="(\d+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def _chromium(tmp_path, name, *args, timeout=60):
    """One headless Chromium run with a fresh profile; returns (stdout, console lines)."""
    profile = tmp_path / f"profile-{name}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--hide-scrollbars", "--force-device-scale-factor=1", "--force-color-profile=srgb", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = gpu_run(tmp_path_factory.mktemp("browser") / "run")
    write_report(run)
    return run / "report.html"


def test_page_loads_without_console_messages(report, tmp_path):
    dom, console = _chromium(tmp_path, "dom", "--dump-dom", report.as_uri())
    assert console == []
    assert "<h1>Benchmark report: exp, run gpu-run</h1>" in dom
    assert dom.count("<img ") == report.read_text().count("<img ") == 11
    assert dom.count("<table>") == report.read_text().count("<table>")


def test_every_image_renders_as_its_png(report, tmp_path):
    tags = IMG_TAG.findall(report.read_text())
    assert len(tags) == 11
    pngs = [Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB") for _, _, data in tags]
    assert all(p.size == (int(w), int(h)) for p, (w, h, _) in zip(pngs, tags))
    # The report's own <img> tags, verbatim, stacked at known offsets on a white page.
    full = [m.group(0) for m in IMG_TAG.finditer(report.read_text())]
    page = tmp_path / "images.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>body{margin:0;"
                    "background:#fff}img{display:block}</style></head><body>"
                    + "".join(full) + "</body></html>", encoding="utf-8")
    width = max(p.size[0] for p in pngs)
    height = sum(p.size[1] for p in pngs)
    shot = tmp_path / "images.png"
    _, console = _chromium(tmp_path, "images", f"--screenshot={shot}", f"--window-size={width},{height}",
                           page.as_uri())
    assert console == []
    screen = Image.open(shot).convert("RGB")
    top = 0
    for i, png in enumerate(pngs):
        region = screen.crop((0, top, png.size[0], top + png.size[1]))
        top += png.size[1]
        # mean absolute difference per channel, 0..255: 0 when drawn exactly as the file
        mean = sum(ImageStat.Stat(ImageChops.difference(region, png)).mean) / 3
        assert mean < 2.0, f"image {i} does not render as its PNG (mean difference {mean:.1f})"


def test_screenshot_of_the_report_is_kept_and_not_blank(report, tmp_path):
    shot = tmp_path / "report-screenshot.png"
    _, console = _chromium(tmp_path, "shot", f"--screenshot={shot}", "--window-size=1280,6000",
                           report.as_uri())
    print(f"report screenshot: {shot}")
    assert console == []
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 6000)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, table shading and plots
    # matplotlib's first colour (#1f77b4) is drawn only by the plots
    assert any(abs(r - 0x1f) < 8 and abs(g - 0x77) < 8 and abs(b - 0xb4) < 8 for _, (r, g, b) in colours)


def test_report_opens_with_the_verdict_and_the_decision_plot(report, tmp_path):
    dom, _ = _chromium(tmp_path, "dom2", "--dump-dom", report.as_uri())
    first_h2 = dom.index("<h2>")
    assert dom[first_h2:].startswith("<h2>Verdict</h2>")
    verdict = dom[first_h2:dom.index("</p>", first_h2)]
    assert re.search(r"faster|[Nn]o winner|indistinguishable|No verdict", verdict)
    # The decision plot is the first image, before any table.
    assert dom.index('alt="Decision plot') < dom.index("<table>")
    # And it is on the first screen: a 1280 × 1000 screenshot shows its blue points.
    shot = tmp_path / "report-top.png"
    _, console = _chromium(tmp_path, "top", f"--screenshot={shot}", "--window-size=1280,1000", report.as_uri())
    print(f"report top screenshot: {shot}")
    assert console == []
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert any(abs(r - 0x1f) < 8 and abs(g - 0x77) < 8 and abs(b - 0xb4) < 8 for _, (r, g, b) in colours)
