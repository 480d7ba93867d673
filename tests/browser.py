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
