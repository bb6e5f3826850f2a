"""Fixtures for the end-to-end checks: a JupyterLab server and a headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` package (``scripts/install_browser.sh`` installs it); Playwright is only
the driver and never downloads a browser of its own. Where no Chromium can be found the browser tests are
skipped with a message saying why, so a green run never hides a check that did not happen.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = REPO / "build" / "e2e"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# The flags the course's checks promise to start Chromium with (a fresh --user-data-dir comes from
# Playwright's persistent context, and Playwright adds --headless itself).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 120

# JupyterLab settings for a quiet, deterministic page: every cell stays in the DOM (no windowing), and no
# "fetch Jupyter news?" prompt covers the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def find_chromium() -> str | None:
    """Path of the Chromium binary to drive: ``$TASNET_EDU_CHROMIUM`` or Debian's ``chromium``."""
    override = os.environ.get("TASNET_EDU_CHROMIUM")
    candidates = [override] if override else [*CHROMIUM_CANDIDATES, shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running ``jupyter lab``: where it listens, its token, and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        """Address that opens ``name`` alone, in a workspace of its own (no other notebook is restored)."""
        workspace = "e2e-" + "".join(c if c.isalnum() else "-" for c in name)
        return f"{self.url}lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def log_tail(self) -> str:
        return _tail(self.log)


def _tail(log: Path, n_chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-n_chars:]


def _isolated_env(home: Path) -> dict[str, str]:
    """Environment for the server and its kernels: the developer's Jupyter/IPython config stays out."""
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        env[var] = str(home / sub)
    env.pop("JUPYTER_PATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_lab_settings(settings_dir: Path) -> None:
    for rel, values in LAB_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_until_answering(proc: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer in {SERVER_START_TIMEOUT_S} s:\n{_tail(log)}")


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM when pytest dies, even by SIGKILL (Linux only)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group (server and kernels): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end check of the course as a reader meets it (slow)")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``build/e2e/``: screenshots for the reader of a failed run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary; skips (never passes silently) when there is none."""
    pytest.importorskip("playwright", reason="Python package playwright is not installed (dev extra)")
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium to drive: install Debian's chromium (`sudo scripts/install_browser.sh`, "
            "i.e. `apt-get install -y chromium`) or point TASNET_EDU_CHROMIUM at a Chromium binary"
        )
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab`` from this venv on a free localhost port, serving a COPY of notebooks/.

    The copy keeps the committed notebooks free of outputs; the notebooks read their data through the
    installed package, so they run the same from the copy. The server and its kernels are stopped at the
    end whatever happens.
    """
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    leftovers = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "runs")
    shutil.copytree(NOTEBOOKS, root, ignore=leftovers)
    _write_lab_settings(home / "settings")
    token, port = secrets.token_hex(16), free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",  # CI runs as root; the server listens on 127.0.0.1 only
        "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = home / "jupyter-lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=_isolated_env(home), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
    try:
        _wait_until_answering(proc, url, token, log)
        yield LabServer(url=url, token=token, root=root, log=log)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser_context(chromium: str, tmp_path_factory: pytest.TempPathFactory):
    """A Playwright persistent context on Debian's Chromium with a fresh user-data-dir."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
