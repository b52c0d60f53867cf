"""`./run test`: the whole test suite, after making sure the outside tools some tests drive are installed.

The browser test drives Debian's `chromium` package headless (installed with apt-get, as root); the proto
lint test runs buf from the npm registry (installed into the virtual environment); the TypeScript client test
needs partners/typescript/node_modules (`npm install`, exact versions from its package.json, no lock file).
Extra arguments go to pytest.

The suite runs in parallel (pytest-xdist): COALITION_TEST_WORKERS processes (default: the CPUs this process may
use, at least 2 and at most 4; 1 runs it in this process), each test module whole in one of them (`--dist
loadfile`: a module's fixtures are built once). Each worker starts its own embedded PostgreSQL and Temporal, as a
run on its own would. Most of the suite's time is waiting (outages held for minutes, servers starting, retries),
so two workers help even on two cores. Arguments naming -n/--numprocesses or `-p no:xdist` are left as given.
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


def parallel_arguments(args: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """pytest-xdist's arguments for `args` (none when they choose for themselves or ask for one worker)."""
    environ = os.environ if environ is None else environ
    if any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses=")) for a in args):
        return []
    wanted = environ.get("COALITION_TEST_WORKERS", "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise SystemExit(f"COALITION_TEST_WORKERS must be a whole number of at least 1, not {wanted!r}")
        workers = int(wanted)
    else:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
        workers = min(4, max(2, cpus))
    return [] if workers == 1 else ["-n", str(workers), "--dist", "loadfile"]


def main() -> int:
    ensure_chromium()
    ensure_buf()
    try:
        ensure_typescript_client()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"coalition: {exc}; the TypeScript client test will fail", file=sys.stderr)
    args = sys.argv[1:]
    return subprocess.call([sys.executable, "-m", "pytest", *parallel_arguments(args), *args])


if __name__ == "__main__":
    raise SystemExit(main())
