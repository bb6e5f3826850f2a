"""The course as a reader meets it: JupyterLab in headless Chromium, every cell run from the Run menu.

For each notebook below, on a copy served by a fresh ``jupyter lab``: no cell shows an error, every code cell
ran, figures are decoded images, audio players have controls and a playable clip; in the receptive-field
chapter, moving a TCN slider changes the "Receptive field:" readout. Screenshots go to ``build/e2e/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SETUP_NOTEBOOK = "00_setup.ipynb"
WIDGET_NOTEBOOK = "07_tcn_receptive_field.ipynb"
# A whole chapter may take minutes on a loaded 2-core machine; a reader's budget, not a hang detector.
RUN_TIMEOUT_MS = int(float(os.environ.get("TASNET_EDU_E2E_TIMEOUT_S", "900")) * 1000)
UI_TIMEOUT_MS = 60_000
SLIDER_NAMES = ("X", "P", "R")  # the TCN's symbols; moving any one of them changes the receptive field
READOUT_PREFIX = "Receptive field:"

# The notebook panel in the main area (JupyterLab is started with expose_app_in_browser).
_PANEL = "window.jupyterapp.shell.currentWidget"

# Kernel state and per-cell execution state of the open notebook, read from JupyterLab's own model.
NOTEBOOK_STATE = f"""() => {{
  const panel = {_PANEL};
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  const model = panel.content.model.cells;
  for (let i = 0; i < model.length; i++) {{
    const cell = model.get(i);
    if (cell.type !== 'code') continue;
    const errors = cell.outputs.toJSON().filter(o => o.output_type === 'error')
      .map(o => `${{o.ename}}: ${{o.evalue}}`);
    cells.push({{index: i, count: cell.executionCount, errors}});
  }}
  const prompts = Array.from(panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim());
  const pending = prompts.filter(p => p.includes('*')).length;
  return {{kernel: kernel ? kernel.status : 'none', cells, pending}};
}}"""

# Run All is finished when the kernel is idle, no cell waits ("[*]"), and every cell ran or one failed
# (after an error the kernel drops the queued cells, which then stay unnumbered).
RUN_FINISHED = f"""() => {{
  const s = ({NOTEBOOK_STATE})();
  return !!s && s.kernel === 'idle' && s.pending === 0 && s.cells.length > 0 &&
    (s.cells.every(c => c.count !== null) || s.cells.some(c => c.errors.length > 0));
}}"""

KERNEL_READY = f"""() => {{
  const s = ({NOTEBOOK_STATE})();
  return !!s && s.kernel === 'idle';
}}"""

# Errors as the reader sees them: tracebacks (JupyterLab renders errors and stderr with one MIME type) and
# widgets that failed to display.
SHOWN_ERRORS = """() => [
  ...Array.from(document.querySelectorAll(
      '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(e => e.textContent).filter(t => t.includes('Traceback') || /^\\s*\\w+(Error|Exception)\\b/m.test(t)),
  ...Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'))
    .map(e => e.textContent).filter(t => /Error displaying widget|Failed to display Jupyter Widget/.test(t)),
]"""

# Every audio element in the outputs: controls shown, and its clip decoded by the browser (finite duration).
AUDIO_PLAYERS = """async () => {
  const players = Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output audio'));
  return Promise.all(players.map(a => new Promise(resolve => {
    const report = () => resolve({controls: a.hasAttribute('controls'), duration: a.duration,
                                  error: a.error ? a.error.code : null});
    if (a.readyState >= 1 || a.error) return report();
    a.addEventListener('loadedmetadata', report, {once: true});
    a.addEventListener('error', report, {once: true});
    a.preload = 'metadata';
    a.load();
    setTimeout(report, 10000);
  })));
}"""

FIGURES = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'))
  .map(img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
                png: img.src.startsWith('data:image/png')}))"""

# The TCN sliders (ipywidgets IntSlider, rendered with noUiSlider) by their description.
SLIDERS = """() => Array.from(document.querySelectorAll('.jp-Notebook .widget-slider')).map(s => {
  const handle = s.querySelector('[role="slider"]');
  const label = s.querySelector('.widget-label');
  return {label: label ? label.textContent.trim() : '',
          value: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
          min: handle ? Number(handle.getAttribute('aria-valuemin')) : null};
})"""

# Text of the widget (or plain output) that shows "Receptive field: …" in the same cell as the slider
# labelled `name`; the element is looked up afresh each time because widgets re-render on update.
READOUT = f"""(name) => {{
  const slider = Array.from(document.querySelectorAll('.jp-Notebook .widget-slider'))
    .find(s => {{ const l = s.querySelector('.widget-label'); return l && l.textContent.trim() === name; }});
  const scope = (slider && slider.closest('.jp-Cell')) || document.querySelector('.jp-Notebook');
  const hits = Array.from(scope.querySelectorAll('.jp-OutputArea-output *'))
    .filter(e => e.textContent.trim().startsWith({READOUT_PREFIX!r}));
  if (!hits.length) return null;
  const leaf = hits[hits.length - 1];  // document order: the deepest element holding the text comes last
  const box = leaf.closest('.jupyter-widgets:not(.widget-box)') || leaf.closest('.jp-OutputArea-output');
  return box.textContent.replace(/\\s+/g, ' ').trim();
}}"""


def _whole_notebook_shot(page, path: Path) -> None:
    """Screenshot of the whole notebook: the viewport is stretched to its height (capped for Chromium)."""
    # Page height = cells' height + everything around the notebook (menus, toolbar, status bar).
    height = page.evaluate(f"""() => {{
      const nb = {_PANEL}.content.node, inner = nb.querySelector('.jp-WindowedPanel-inner');
      return inner.scrollHeight + window.innerHeight - nb.clientHeight + 40;
    }}""")
    page.set_viewport_size({"width": 1400, "height": min(int(height), 15000)})
    try:
        page.wait_for_timeout(500)  # let JupyterLab lay the taller page out
        scroller = f"{_PANEL}.content.node.querySelector('.jp-WindowedPanel-outer')"
        page.evaluate(f"() => {{ {scroller}.scrollTop = 0; }}")
        page.wait_for_timeout(200)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def open_and_run_all(context, lab, name: str, screenshot_dir: Path):
    """Open ``name`` in JupyterLab, run every cell from the Run menu, wait for the kernel; return the page."""
    assert (lab.root / name).exists(), f"the end-to-end check needs notebooks/{name}"
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page.goto(lab.notebook_url(name))
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_function(KERNEL_READY, timeout=UI_TIMEOUT_MS * 2)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # wider notebook in the screenshots
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS, polling=1000)
    except Exception:
        page.screenshot(path=str(screenshot_dir / f"{Path(name).stem}_did_not_finish.png"))
        close(page)
        raise
    return page


def close(page) -> None:
    """Shut the notebook's kernel down (it would keep a core busy) and close the tab."""
    try:
        page.evaluate(f"() => {_PANEL} && {_PANEL}.sessionContext.shutdown()")
    finally:
        page.close()


def check_ran_cleanly(page, name: str, screenshot_dir: Path) -> None:
    """No error in any cell (model and screen), and every code cell has run."""
    state = page.evaluate(NOTEBOOK_STATE)
    errors = {c["index"]: c["errors"] for c in state["cells"] if c["errors"]}
    unrun = [c["index"] for c in state["cells"] if c["count"] is None]
    shown = page.evaluate(SHOWN_ERRORS)
    shot = screenshot_dir / f"{Path(name).stem}_after_run_all.png"
    _whole_notebook_shot(page, shot)
    assert not errors, f"{name}: cells raised (cell index: error): {errors}; see {shot}"
    assert not shown, f"{name}: an error is shown on screen:\n{shown[0][:2000]}"
    assert not unrun, f"{name}: cells {unrun} never ran"


def check_media(page, name: str, *, audio: bool, figures: bool) -> None:
    players = page.evaluate(AUDIO_PLAYERS)
    images = page.evaluate(FIGURES)
    if audio:
        assert players, f"{name}: no audio player in the outputs"
        bad = [p for p in players if not p["controls"] or p["error"] is not None or not p["duration"] > 0]
        assert not bad, f"{name}: audio players without controls or without a playable clip: {bad}"
    if figures:
        assert any(i["png"] for i in images), f"{name}: no matplotlib PNG figure in the outputs"
        blank = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
        assert not blank, f"{name}: figures that the browser could not decode: {blank}"


def check_readout_matches_package(readout: str, sliders: dict[str, float]) -> None:
    """With P, X and R all on sliders, the readout shows ``tcn.receptive_field(P, X, R)`` frames."""
    if not all(k in sliders for k in ("P", "X", "R")):
        return
    from tasnet_edu.tcn import receptive_field

    expected = receptive_field(int(sliders["P"]), int(sliders["X"]), int(sliders["R"]))
    shown = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", readout)}
    assert expected in shown, f"readout {readout!r} lacks receptive_field(P, X, R) = {expected} frames"


def test_setup_notebook_runs_in_jupyterlab(browser_context, lab, screenshot_dir):
    page = open_and_run_all(browser_context, lab, SETUP_NOTEBOOK, screenshot_dir)
    try:
        check_ran_cleanly(page, SETUP_NOTEBOOK, screenshot_dir)
        check_media(page, SETUP_NOTEBOOK, audio=True, figures=True)
    finally:
        close(page)


def test_receptive_field_widget_responds_in_jupyterlab(browser_context, lab, screenshot_dir):
    page = open_and_run_all(browser_context, lab, WIDGET_NOTEBOOK, screenshot_dir)
    try:
        check_ran_cleanly(page, WIDGET_NOTEBOOK, screenshot_dir)
        check_media(page, WIDGET_NOTEBOOK, audio=False, figures=True)

        sliders = {s["label"]: s for s in page.evaluate(SLIDERS)}
        name = next((n for n in SLIDER_NAMES if n in sliders), None)
        assert name, f"{WIDGET_NOTEBOOK}: no slider described {SLIDER_NAMES}; sliders shown: {list(sliders)}"
        before = page.evaluate(READOUT, name)
        assert before, f"{WIDGET_NOTEBOOK}: no output starting with {READOUT_PREFIX!r} near slider {name}"

        slider = page.locator(".jp-Notebook .widget-slider").filter(
            has=page.locator(".widget-label", has_text=re.compile(rf"^{name}$")))
        cell = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]")
        cell.screenshot(path=str(screenshot_dir / "07_widget_before_slider.png"))
        # One step down when possible: a smaller TCN is the cheaper update for the kernel.
        key = "ArrowLeft" if sliders[name]["value"] > sliders[name]["min"] else "ArrowRight"
        slider.locator('[role="slider"]').press(key)
        page.wait_for_function(f"() => ({READOUT})({name!r}) !== {before!r}", timeout=UI_TIMEOUT_MS)
        after = page.evaluate(READOUT, name)
        moved = next(s for s in page.evaluate(SLIDERS) if s["label"] == name)
        cell.screenshot(path=str(screenshot_dir / "07_widget_after_slider.png"))
        assert moved["value"] != sliders[name]["value"], f"slider {name} did not move"
        assert after != before and after.startswith(READOUT_PREFIX), (before, after)
        check_readout_matches_package(after, {s["label"]: s["value"] for s in page.evaluate(SLIDERS)})
    finally:
        close(page)
