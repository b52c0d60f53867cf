"""`./run test`: the whole test suite, after making sure what the browser test needs is installed.

The browser test drives Debian's `chromium` package headless; on a fresh machine it is installed here
(apt-get, as root) before pytest starts. Extra arguments go to pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(f"coalition: {CHROMIUM} is missing and cannot be installed here (needs root and apt-get); "
              "the browser test will fail. Install Debian's chromium package.", file=sys.stderr)
        return
    print("coalition: installing Debian's chromium for the browser test", file=sys.stderr)
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run([apt, "-qq", "update"], check=True, **quiet)
    subprocess.run([apt, "-qq", "install", "-y", "--no-install-recommends", "chromium"], check=True, **quiet)


def main() -> int:
    ensure_chromium()
    return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
