"""The docs site in a real browser: `_site/` served on 127.0.0.1, opened in headless Chromium.

Checks the home page, a foundation page with its API reference, a topic page with a rendered
plot, a worked-solutions page with a check cell and its passed report, the navigation (every
notebook, in order: foundations, topics, solutions), search, and that no page shows raw `#|` option
lines or `:::` callout fences or asks for anything but the local server.

While `nbs/solutions/` holds no notebook, the solutions page is that of a toy project (one topic,
one exercise, its worked solution; `tests/test_exercises.py`), rendered by the same build; from the
first solutions notebook on, it is the first solutions page of the real site. Screenshots are saved
outside the repository, in `$SEQLAB_SCREENSHOTS` (default: `<tmp>/seqlab-docs-screenshots`).

Without Chromium or Playwright the tests are skipped, except under CI (`CI=true`), where they fail.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from browser import CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build as docs_build  # noqa: E402
import readme as docs_readme  # noqa: E402
from myst_proc import is_solutions, nb_number, page_name, solutions_topic  # noqa: E402

SHOTS = Path(os.environ.get('SEQLAB_SCREENSHOTS', Path(tempfile.gettempdir()) / 'seqlab-docs-screenshots'))




@pytest.fixture(scope='module')
def site():
    return docs_build.build(ROOT)


def _serve(directory: Path):
    "Serve `directory` on 127.0.0.1; yields the base URL."
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def server(site):
    yield from _serve(site)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope='module')
def browser():
    exe = require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    "A page that records every request that does not go to the local server."
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    pg = ctx.new_page()
    pg.external = []
    pg.errors = []
    pg.local = [server]  # the local servers a test may open (the toy site's too)

    def route(r):
        if r.request.url.startswith((*pg.local, 'data:', 'blob:')):
            r.continue_()
        else:
            pg.external.append(r.request.url)
            r.abort()
    pg.route('**/*', route)
    pg.on('pageerror', lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def _notebooks():
    return docs_build.notebooks(ROOT)


def _rel(p: Path) -> str:
    "A notebook's path inside nbs/: '10_cnn_lstm.ipynb', 'solutions/10_cnn_lstm_solutions.ipynb'."
    return p.relative_to(ROOT / 'nbs').as_posix()


def _goto(pg, server, name):
    pg.goto(f'{server}/{name}', wait_until='load')
    pg.wait_for_timeout(300)


def _shot(pg, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / name), full_page=False)


def _assert_clean(pg, what):
    text = pg.inner_text('article')
    raw_opts = [l for l in text.splitlines() if re.match(r'^\s*#\s*\|', l)]
    assert not raw_opts, f'{what} shows raw cell options: {raw_opts[:3]}'
    fences = [l for l in text.splitlines() if re.match(r'^\s*:{3,}', l)]
    assert not fences, f'{what} shows raw callout fences: {fences[:3]}'
    assert not pg.external, f'{what} asked for non-local URLs: {pg.external[:5]}'
    assert not pg.errors, f'{what} raised JavaScript errors: {pg.errors[:3]}'


def test_home_page(page, server):
    _goto(page, server, 'index.html')
    assert page.inner_text('article h1').strip().startswith('seqlab')
    assert page.locator('p.lead').count() == 1
    # the table of notebooks: one Colab badge per numbered notebook, each pointing at that notebook
    numbered = [p for p in _notebooks() if nb_number(p.name) is not None]
    hrefs = page.eval_on_selector_all('article a:has(img[alt="Open In Colab"])', 'els => els.map(e => e.href)')
    assert len(hrefs) == len(numbered), 'the table of notebooks on the home page is stale: run `make readme`'
    for p, h in zip(numbered, hrefs):
        assert h.endswith(f'/nbs/{_rel(p)}') and h.startswith('https://colab.research.google.com/github/')
    badge_ok = page.eval_on_selector('article img[alt="Open In Colab"]', 'i => i.complete && i.naturalWidth > 0')
    assert badge_ok, 'the Colab badge image did not load from the site'
    # the callout became an admonition with its title
    assert page.locator('article .admonition.note .admonition-title').inner_text().strip() == 'Which data am I looking at?'
    assert 'make lab' in page.inner_text('article') and 'make test' in page.inner_text('article')
    _assert_clean(page, 'index.html')
    _shot(page, 'home.png')
    page.goto(f'{server}/index.html#notebooks')
    page.wait_for_timeout(300)
    _shot(page, 'home_notebooks.png')


def test_navigation_lists_every_notebook_in_order(page, server):
    _goto(page, server, 'index.html')
    hrefs = page.eval_on_selector_all('nav.bd-docs-nav a.reference.internal', 'els => els.map(e => e.getAttribute("href"))')
    pages = [re.sub(r'\.html$', '', h.split('#')[0]) for h in hrefs]
    want = [page_name(p.name) for p in _notebooks() if p.stem != 'index']
    assert [p for p in pages if p in want] == want
    captions = page.inner_text('nav.bd-docs-nav')
    assert 'Foundations' in captions
    if any((nb_number(p.name) or 0) >= 10 for p in _notebooks()):
        assert captions.index('Foundations') < captions.index('Topics')
    if any(is_solutions(p) for p in _notebooks()):
        assert captions.index('Topics') < captions.index('Solutions')
    # the same navigation on a notebook page, with that page marked current
    _goto(page, server, 'core.html')
    cur = page.inner_text('nav.bd-docs-nav li.current > a').strip()
    assert cur == 'Core'


def test_foundation_page_api_reference(page, server):
    _goto(page, server, 'core.html')
    assert page.inner_text('article h1').strip().startswith('Core')
    for name in ['default_device', 'set_seed', 'quick_mode', 'mode_banner', 'env_report']:
        h = page.locator(f'article section:has(> div#{name}) > h3')
        assert h.count() == 1, f'no API entry for {name}'
        assert name in h.inner_text()
        sig = page.locator(f'article section:has(> div#{name}) pre').first.inner_text()
        assert f'def {name}(' in sig
    # docments: the parameter comments are in the signature
    assert 'force a device' in page.inner_text('article section:has(> div#default_device)')
    # stored outputs are shown, the Colab install cell and the export cells are not
    text = page.inner_text('article')
    assert 'QUICK mode' in text
    assert 'google.colab' not in text and 'nbdev_export' not in text
    # nbdev's symbol links go to the anchors on this site
    link = page.locator('article a[href="core.html#default_device"]').first
    assert link.count() == 1
    _assert_clean(page, 'core.html')
    page.goto(f'{server}/core.html#set_seed')
    page.wait_for_timeout(300)
    _shot(page, 'foundation_api.png')


def _has_plot(nb_path: Path) -> bool:
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    return any('image/png' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))


def _plot_page():
    "The topic page to check for a plot: 10_cnn_lstm or 17_autoregressive first, then any other topic."
    nbs = _notebooks()
    topics = [p for p in nbs if (nb_number(p.name) or 0) >= 10]
    if not topics:
        return 'metrics'  # no topic notebook yet: the foundation page with the most plots
    first = {'10_cnn_lstm': 0, '17_autoregressive': 1}
    for p in sorted(topics, key=lambda p: first.get(p.stem, 2)):
        if _has_plot(p):
            return page_name(p.name)
    pytest.fail(f'no topic notebook has a stored plot: {[p.name for p in topics]} '
                '(topic notebooks are committed with their quick-mode outputs)')


def test_topic_page_with_plot(page, server):
    name = _plot_page()
    _goto(page, server, f'{name}.html')
    imgs = page.locator('article .cell_output img')
    assert imgs.count() >= 1, f'{name}.html shows no plot'
    imgs.first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    loaded = page.eval_on_selector_all('article .cell_output img', 'els => els.map(i => i.complete && i.naturalWidth > 50)')
    assert all(loaded), f'{name}.html has plots that did not load'
    _assert_clean(page, f'{name}.html')
    _shot(page, f'topic_{name}.png')


@pytest.fixture(scope='module')
def solutions_page(site, server, tmp_path_factory):
    "(base URL, page name, notebook) of the first solutions page: the real site's, or the toy project's while there is none."
    sols = [p for p in _notebooks() if is_solutions(p)]
    if sols:
        yield server, page_name(sols[0].name), sols[0]
        return
    from test_exercises import toy_site
    toy = toy_site(tmp_path_factory)
    for url in _serve(toy):
        yield url, 'toy_solutions', toy.parent / 'nbs' / 'solutions' / '99_toy_solutions.ipynb'


def test_solutions_page(page, solutions_page):
    base, name, nb = solutions_page
    topic = page_name(solutions_topic(nb.name))
    page.local.append(base)
    _goto(page, base, f'{name}.html')
    assert page.inner_text('article h1').strip().startswith(docs_readme.nb_info(nb)['title'])
    badge = page.eval_on_selector('article a:has(img[alt="Open In Colab"])', 'e => e.href')
    assert badge.endswith(f'/nbs/solutions/{nb.name}'), badge
    # a worked solution: its code, `assert check(...)`, and the check's report under it
    cell = page.locator('article div.cell').filter(has=page.locator('div.cell_input', has_text=re.compile(r'assert check\('))).first
    assert cell.count() == 1, f'{name}.html shows no cell with assert check(...)'
    cell.scroll_into_view_if_needed()
    code = cell.locator('div.cell_input').inner_text()
    report = cell.locator('div.cell_output').inner_text()
    key = re.search(r"assert check\(['\"]([\d.]+)['\"]", code).group(1)
    assert re.search(rf'Exercise {re.escape(key)} \(.+\): all \d+ checks passed\.', report), report
    assert 'PASS' in report and 'FAIL' not in report
    _shot(page, f'solutions_{name}.png')
    # the way back to the exercises, and the page's place in the navigation, under Solutions after Topics
    assert page.locator(f'article a[href^="{topic}.html"]').count() >= 1, f'{name}.html does not link back to {topic}.html'
    nav = page.inner_text('nav.bd-docs-nav')
    assert nav.index('Topics') < nav.index('Solutions')
    assert page.inner_text('nav.bd-docs-nav li.current > a').strip() == docs_readme.nb_info(nb)['title']
    _assert_clean(page, f'{name}.html')
    page.goto(f'{base}/{name}.html')
    page.wait_for_timeout(300)
    page.evaluate("document.querySelector('nav.bd-docs-nav li.current').scrollIntoView({block: 'center'})")
    _shot(page, f'solutions_{name}_nav.png')


def test_every_page_is_clean(page, server):
    for p in _notebooks():
        _goto(page, server, f'{page_name(p.name)}.html')
        assert page.locator('article h1').count() == 1, f'{p.name}: page has no title'
        _assert_clean(page, f'{page_name(p.name)}.html ({p.name})')


def test_search(page, server):
    _goto(page, server, 'search.html?q=seed')
    page.wait_for_selector('#search-results ul.search li', timeout=20000)
    results = page.inner_text('#search-results')
    assert 'Core' in results
    assert page.locator('#search-results a[href*="core.html"]').count() >= 1
    assert not page.external, f'search asked for non-local URLs: {page.external[:5]}'
    assert not page.errors, f'search raised JavaScript errors: {page.errors[:3]}'
    _shot(page, 'search.png')
