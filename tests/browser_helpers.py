"""What the browser tests share: headless Chromium (Debian's `chromium`, driven by Playwright), a free port, and a
Streamlit app served by a `coalition ... serve` subprocess against the test database.

Chromium missing is a failure with a message, never a skip: `./run test` (coalition.testing) installs it."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]


def require_chromium() -> None:
    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium); "
        "`./run test` does it on CI. This test does not skip.")


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the console exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the console did not answer at {url} within {seconds} s")


@contextmanager
def serving(command: list[str], database_url: str, data_dir: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """`command` (a `... serve`, given --address 127.0.0.1 --port `port` here) in a subprocess against the test
    database, with `env` added; yields its URL once healthy, and stops it (streamlit included) afterwards."""
    process = subprocess.Popen(
        [*command, "--address", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url, "COALITION_DATA_DIR": str(data_dir), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        streamlit = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        process.terminate()  # `serve` forwards it to streamlit
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for child in streamlit:
            if child.is_running():
                child.kill()
