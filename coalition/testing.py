"""`./run test`: the whole test suite, after making sure the outside tools some tests drive are installed.

The browser test drives Debian's `chromium` package headless (installed with apt-get, as root); the proto
lint test runs buf from the npm registry (installed into the virtual environment); the TypeScript client test
needs partners/typescript/node_modules (`npm install`, exact versions from its package.json, no lock file).
Extra arguments go to pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
BUF_VERSION = "1.75.0"
BUF_DIR = Path(sys.prefix) / "buf"
BUF = BUF_DIR / "node_modules" / ".bin" / "buf"
TYPESCRIPT_CLIENT = Path(__file__).resolve().parent.parent / "partners" / "typescript"


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


def ensure_buf() -> None:
    """buf (the protobuf linter) from the npm registry, into the virtual environment."""
    if BUF.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        print("coalition: npm is missing, so buf cannot be installed; the proto lint test will fail", file=sys.stderr)
        return
    print(f"coalition: installing buf {BUF_VERSION} for the proto lint test", file=sys.stderr)
    BUF_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(BUF_DIR),
                    f"@bufbuild/buf@{BUF_VERSION}"], check=True, stdout=subprocess.DEVNULL)


def ensure_typescript_client() -> None:
    """partners/typescript's dependencies (package.json pins them exactly), installed once with npm.

    Raises when node or npm is missing: the TypeScript client test must fail then, not skip."""
    if (TYPESCRIPT_CLIENT / "node_modules").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm (Node.js 20 or newer) are needed for the TypeScript client in partners/typescript")
    print("coalition: installing the TypeScript client's dependencies (npm install in partners/typescript)",
          file=sys.stderr)
    subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=TYPESCRIPT_CLIENT, check=True,
                   stdout=subprocess.DEVNULL)


def main() -> int:
    ensure_chromium()
    ensure_buf()
    try:
        ensure_typescript_client()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"coalition: {exc}; the TypeScript client test will fail", file=sys.stderr)
    return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
