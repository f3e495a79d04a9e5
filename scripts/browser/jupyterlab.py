"""Start JupyterLab on loopback for the real-browser tests, and find Debian's Chromium.

    python scripts/browser/jupyterlab.py ROOT      # serve ROOT until Ctrl-C; prints the URL

Used by ``tests/viz/test_browser.py`` (imported by path). JupyterLab listens on 127.0.0.1
only, on a free port, with a random token, its own config/runtime/workspace folders under a
temporary directory, and update checks and news switched off, so it never reaches out to the
network. :func:`start_lab` waits until the server answers and :meth:`Lab.stop` ends exactly
the process it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium binary (the real one, not the shell wrapper), or None."""
    for candidate in ("/usr/lib/chromium/chromium",):
        if os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: ``url(path)`` gives a logged-in address; ``stop()`` ends it."""

    def __init__(self, process: subprocess.Popen, port: int, token: str, home: Path, log: Path) -> None:
        self.process, self.port, self.token, self.home, self.log = process, port, token, home, log

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def kernels(self) -> list[dict]:
        """The server's kernels (``GET /api/kernels``): id, execution_state, connections."""
        import json

        with urllib.request.urlopen(self.url("api/kernels"), timeout=5) as reply:
            return json.loads(reply.read().decode())

    def wait_for_kernel(self, timeout_s: float = 90.0) -> dict:
        """Wait until a kernel is idle and a browser tab is connected to it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for kernel in self.kernels():
                if kernel.get("execution_state") == "idle" and kernel.get("connections", 0) > 0:
                    return kernel
            time.sleep(0.3)
        raise RuntimeError(f"no kernel became idle and connected within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_lab(root: str | Path, python: str | None = None, timeout_s: float = 90.0,
              extra_args: list[str] = ()) -> Lab:
    """Start JupyterLab serving ``root``; return once it answers HTTP (or raise, with its log).

    ``extra_args`` are appended to JupyterLab's command line (e.g. ``make lab``'s own options).
    """
    python = python or sys.executable
    port = free_port()
    token = secrets.token_hex(16)
    home = Path(tempfile.mkdtemp(prefix="distlab-lab-"))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": env.get("JUPYTER_DATA_DIR", str(Path(sys.prefix) / "share" / "jupyter")),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONUNBUFFERED": "1",
    })
    # No "notified about Jupyter news?" prompt, and never fetch news.
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}\n')
    env["JUPYTERLAB_SETTINGS_DIR"] = str(home / "settings")
    log = home / "lab.log"
    command = [
        python, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={Path(root).resolve()}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=", f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI and these machines run as root
    command.extend(extra_args)
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=str(root), start_new_session=True)
    lab = Lab(process, port, token, home, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=2) as reply:
                if reply.status == 200:
                    return lab
        except OSError:
            time.sleep(0.3)
    lab.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


if __name__ == "__main__":  # pragma: no cover - manual use
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    lab = start_lab(root)
    print(lab.url("lab"), flush=True)
    try:
        lab.process.wait()
    except KeyboardInterrupt:
        lab.stop()
