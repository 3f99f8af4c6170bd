"""Every HTML figure in a real browser: headless Chromium loads it and takes a screenshot; the page
logs nothing to its console (no script error, no missing plotly.js) and the plot area is not blank.

Skips, with the reason, where Chromium is not installed (``.ci/run`` installs Debian's chromium).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.dse.test_cli_analysis import invoke, results  # noqa: F401  (the study fixture)

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (.ci/run installs it)")


_SOFTWARE_GL = ("GL Driver Message", "software WebGL")
"""Notices of the browser's software renderer (no GPU here), logged on WebGL pages; not the page's."""


def _load(page: Path, shot: Path) -> list[str]:
    """Console lines the page logged while loading; writes its screenshot to ``shot``."""
    run = subprocess.run(
        [
            *(
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--enable-unsafe-swiftshader",
                "--enable-logging=stderr",
            ),
            *("--v=0", "--virtual-time-budget=5000", "--window-size=900,650", f"--screenshot={shot}"),
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert shot.is_file(), run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return [line for line in lines if not any(note in line for note in _SOFTWARE_GL)]


def test_every_html_figure_renders_without_console_errors(results: Path, tmp_path: Path) -> None:  # noqa: F811
    pages = []
    for kind in ("front", "parallel", "progress", "read-time", "hardware"):
        code, out, err = invoke("plot", results, kind, "--out", tmp_path, "--formats", "html")
        assert code == 0, err
        pages += [Path(p) for p in out.split()]
    assert len(pages) == 5 and (tmp_path / "plotly.min.js").is_file()
    for page in pages:
        shot = tmp_path / f"{page.stem}.png"
        assert _load(page, shot) == [], page.name
        pixels = imread(shot)[..., :3]
        drawn = np.mean(np.any(pixels < 0.9, axis=-1))  # share of pixels that are not white
        assert drawn > 0.01, f"{page.name}: the plot area is blank ({drawn:.2%} drawn)"
