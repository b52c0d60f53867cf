"""A page run under Streamlit's AppTest stays out of processes started later: Streamlit makes the page this
process's __main__, and multiprocessing's spawn runs the parent's __main__ again in every child, so without
tests/conftest.py's _main_module_put_back each child of a later test ran the page (a console page opens the
database: an embedded PostgreSQL in the default data directory). The second test checks what the first left
behind, so the two run in this order (a module stays whole on one worker: --dist loadfile)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, Path]:
    """A page that appends the id of each process running it to a file: (the page, the file)."""
    folder = tmp_path_factory.mktemp("page")
    runs = folder / "runs.txt"
    script = folder / "page.py"
    script.write_text(f"import os\n\nwith open({str(runs)!r}, 'a') as runs:\n    runs.write(f'{{os.getpid()}}\\n')\n")
    return script, runs


def test_a_page_runs_under_apptest_in_this_process(page):
    script, runs = page
    at = AppTest.from_file(str(script), default_timeout=30).run()
    assert not at.exception
    assert runs.read_text().split() == [str(os.getpid())]


def test_a_process_spawned_after_it_does_not_run_the_page_again(page):
    script, runs = page
    assert runs.exists(), "the test above runs the page first"
    child = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert runs.read_text().split() == [str(os.getpid())]  # only the AppTest run, not the child
    assert getattr(sys.modules["__main__"], "__file__", None) != str(script)
