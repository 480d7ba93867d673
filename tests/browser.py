"""What the browser tests share: finding Chromium, its flags, and skip-or-fail when it is missing.

Without Chromium or Playwright a browser test is skipped with its reason, except under CI
(`CI=true`), where it fails: CI must run it (`.ci/run` installs Debian's Chromium).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def find_chromium() -> str | None:
    "Path of a Chromium executable: $CHROMIUM, /usr/bin/chromium, or one on the PATH."
    for c in (os.environ.get('CHROMIUM'), '/usr/bin/chromium', shutil.which('chromium'),
              shutil.which('chromium-browser'), shutil.which('google-chrome')):
        if c and Path(c).exists():
            return c
    return None


def unavailable(reason: str):
    "Skip the test for `reason`, or fail it under CI."
    if IN_CI:
        pytest.fail(f'{reason} (CI=true: the browser test must run in CI; .ci/run installs Chromium)')
    pytest.skip(reason)


def require_chromium() -> str:
    "Chromium's path, after checking that Playwright is importable; skips (or fails under CI) if not."
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable('playwright (Python) is not installed')
    exe = find_chromium()
    if exe is None:
        unavailable('Chromium not found (/usr/bin/chromium; set CHROMIUM=/path/to/chromium)')
    return exe
