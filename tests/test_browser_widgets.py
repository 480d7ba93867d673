"""The two explorers in a real JupyterLab, driven by headless Chromium.

The test writes a small demo notebook into a temporary folder, starts JupyterLab on 127.0.0.1
(empty token, a free port, settings and workspaces in the temporary folder), opens the notebook
with the Log Console beside it, runs all cells, finds the hyperparameter explorer's sliders,
buttons and live plot, picks a value, clicks Run and waits for the new row in the runs table. It
types values outside the sliders' ranges (the explorer must say it corrected them), presses Stop
during a run (the run must be labelled stopped, with where it stopped), runs a grid sweep (the
heatmap's axes must be the sweep's values), checks that the runs table keeps its height and that
no figure reached the Log Console. It checks the attention explorer too, that no request left
127.0.0.1, and saves screenshots of both explorers outside the repository, in
`$SEQLAB_SCREENSHOTS` (default: `<tmp>/seqlab-widget-screenshots`).

A second test opens a copy of `nbs/06_widgets.ipynb` in a temporary git repository, lets the
kernel start, saves it from JupyterLab and checks that `git status` is clean: reading a notebook
must not modify it.

Without Chromium or Playwright the test is skipped, except under CI (`CI=true`), where it fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from browser import CHROMIUM_ARGS, require_chromium

SHOTS = Path(os.environ.get('SEQLAB_SCREENSHOTS', Path(tempfile.gettempdir()) / 'seqlab-widget-screenshots'))
SERVER_START_S = 90  # JupyterLab must answer within this
CELLS_S = 240  # all demo cells (kernel start, imports, one short training) must finish within this
RUN_S = 120  # one click on Run must add its row within this

DEMO_CELLS = [
    '''import os
os.environ['SEQLAB_QUICK'] = '1'
import numpy as np, torch, torch.nn as nn
torch.set_num_threads(1)
from seqlab.core import set_seed
from seqlab.data import TextDataset, DataLoaders
import time
from seqlab.learner import Callback, Learner
from seqlab.metrics import accuracy
from seqlab.widgets import HyperparamExplorer, AttentionExplorer''',
    '''KEYWORDS = {'sport': ['goal', 'match', 'team'], 'music': ['song', 'band', 'guitar'], 'food': ['bread', 'soup', 'chef']}
FILLER = 'the a we saw today very new with and it was on'.split()
def sentences(n, seed):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        c = int(rng.integers(3))
        words = list(rng.choice(FILLER, rng.integers(4, 8))) + list(rng.choice(KEYWORDS[list(KEYWORDS)[c]], 1))
        if rng.random() < 0.15:
            words.append(rng.choice(KEYWORDS[list(KEYWORDS)[(c + 1) % 3]]))
        rng.shuffle(words)
        xs.append(' '.join(words)); ys.append(c)
    return xs, ys
classes = list(KEYWORDS)
train_ds = TextDataset(*sentences(200, 0)); vocab = train_ds.vocab
valid_ds = TextDataset(*sentences(60, 1), vocab=vocab)
dls = DataLoaders.from_datasets(train_ds, valid_ds, bs=32)''',
    '''class TinyAttn(nn.Module):
    def __init__(self, vocab_size, n_classes, embedding_dim=16, num_heads=2):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.attn = nn.MultiheadAttention(embedding_dim, num_heads, batch_first=True)
        self.score, self.head = nn.Linear(embedding_dim, 1), nn.Linear(embedding_dim, n_classes)
    def forward(self, x, lengths=None, return_attn=False):
        pad = x == 0
        e = self.emb(x)
        h, sa = self.attn(e, e, e, key_padding_mask=pad, average_attn_weights=False)
        h = h + e
        w = self.score(h).squeeze(-1).masked_fill(pad, float('-inf')).softmax(-1)
        logits = self.head((w.unsqueeze(-1) * h).sum(1))
        return (logits, [sa, w]) if return_attn else logits

class SlowCB(Callback):
    "Sleeps after each training batch, so that an epoch lasts long enough for a click on Stop to land in it."
    def after_batch(self, learn):
        if learn.training:
            time.sleep(0.03)

def train_fn(lr, embedding_dim, num_heads):
    set_seed(0)
    return Learner(TinyAttn(len(vocab), 3, embedding_dim, num_heads), dls, lr=lr, metrics=[accuracy], cbs=[SlowCB()])

hx = HyperparamExplorer({'lr': (1e-3, 1e-1, 'log'), 'embedding_dim': [8, 16], 'num_heads': [1, 2]}, train_fn, epochs=4)
hx.controls['lr'].value = 0.03
hx.controls['embedding_dim'].value = 16
hx.controls['num_heads'].value = 2
hx''',
    '''hx.run(); hx.wait(180)
hx.runs_table()''',
    '''ae = AttentionExplorer(hx.learn.model, valid_ds, vocab, classes)
ae''',
]




def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_settings(settings: Path):
    "User settings for this JupyterLab only: render every cell (no windowing), no news, no update checks."
    files = {'@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
             '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false',
                                                                                   'checkForUpdates': False},
             # every message that reaches the Log Console is shown (a stray figure is logged at level 'info')
             '@jupyterlab/logconsole-extension/plugin.jupyterlab-settings': {'defaultLogLevel': 'debug'}}
    for name, value in files.items():
        p = settings / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))


@pytest.fixture(scope='module')
def chromium() -> str:
    "Chromium's path, checked (with Playwright) before any server starts."
    return require_chromium()


@pytest.fixture(scope='module')
def lab(chromium):
    "JupyterLab on 127.0.0.1 serving a temporary folder with the demo notebook; always stopped."
    tmp = Path(tempfile.mkdtemp(prefix='seqlab-lab-'))
    root = tmp / 'root'
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in DEMO_CELLS])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, root / 'widgets_demo.ipynb')
    _write_settings(tmp / 'settings')
    port = _free_port()
    env = {**os.environ, 'SEQLAB_QUICK': '1', 'OMP_NUM_THREADS': '1', 'JUPYTERLAB_SETTINGS_DIR': str(tmp / 'settings'),
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp / 'workspaces'), 'JUPYTER_RUNTIME_DIR': str(tmp / 'runtime'),
           'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}
    cmd = [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
           '--ServerApp.port_retries=0', '--IdentityProvider.token=', '--ServerApp.password=', f'--ServerApp.root_dir={root}',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
           '--LabApp.extension_manager=readonly', '--LabApp.expose_app_in_browser=True']
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        cmd.append('--allow-root')  # containers often run as root
    log = open(tmp / 'lab.log', 'w')
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                pytest.fail(f'JupyterLab exited with {proc.returncode}: {(tmp / "lab.log").read_text()[-2000:]}')
            try:
                urllib.request.urlopen(f'{url}/api/status', timeout=2)
                break
            except OSError:
                if time.time() - t0 > SERVER_START_S:
                    pytest.fail(f'JupyterLab did not answer within {SERVER_START_S} s: {(tmp / "lab.log").read_text()[-2000:]}')
                time.sleep(0.5)
        yield url, tmp
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope='module')
def page(chromium, lab):
    from playwright.sync_api import sync_playwright
    url, _ = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={'width': 1400, 'height': 1400})
            pg.set_default_timeout(30_000)
            pg.requests_seen = []
            pg.on('request', lambda r: pg.requests_seen.append(r.url))
            pg.goto(f'{url}/lab/tree/widgets_demo.ipynb', timeout=60_000)
            pg.wait_for_selector('.jp-Notebook .jp-Cell', timeout=60_000)
            yield pg
        finally:
            browser.close()


def _run_all_cells(pg):
    "Wait for the kernel, then run every cell through JupyterLab's own command."
    pg.wait_for_function('() => window.jupyterapp && window.jupyterapp.commands.hasCommand("notebook:run-all-cells")',
                         timeout=60_000)
    pg.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
               && w.sessionContext.session.kernel.connectionStatus === 'connected'; }""", timeout=90_000)
    pg.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def _dark_fraction(src: str) -> float:
    "The share of dark pixels (text, axes) in a `data:image/png;base64,...` image; a blank canvas has none."
    import base64
    import io
    import matplotlib.image as mpimg
    img = mpimg.imread(io.BytesIO(base64.b64decode(src.split(',', 1)[1])), format='png')
    return float((img[..., :3].mean(-1) < 0.35).mean())


def _rows(pg) -> int:
    return pg.locator('.seqlab-hyperparam-explorer .seqlab-runs-table table tbody tr').count()


def _status(hx) -> str:
    return hx.locator('.seqlab-status').inner_text()


def _typed_values_are_corrected_aloud(pg, hx):
    "Type lr = 5 (the range ends at 0.1) and epochs = 30 (the slider ends at 12): both are set to the end, and said."
    boxes = hx.locator('.widget-text input[type="text"]')  # the boxes beside the lr and epochs sliders
    boxes.nth(0).fill('5')
    boxes.nth(0).press('Enter')
    hx.locator('.seqlab-notice:has-text("lr 5 is outside its range 0.001 … 0.1: set to 0.1.")').wait_for(timeout=30_000)
    boxes.nth(0).fill('0.03')
    boxes.nth(0).press('Enter')
    boxes.nth(1).fill('30')
    boxes.nth(1).press('Enter')
    hx.locator('.seqlab-notice:has-text("epochs 30 is outside its range 1 … 12: set to 12.")').wait_for(timeout=30_000)
    assert 'lr 5' not in hx.locator('.seqlab-notice').inner_text()  # the corrected lr was replaced: no stale note
    assert boxes.nth(1).input_value() == '12'


def _stop_cuts_a_run_short(pg, hx):
    "Run 12 epochs, press Stop during epoch 3: the run is stopped, its 'stopped at' says where, and Stop acts fast."
    n0 = _rows(pg)
    hx.locator('button:has-text("Run")').click()
    pg.wait_for_function("() => /epoch [2-9] of 12/.test(document.querySelector('.seqlab-hyperparam-explorer .seqlab-status').innerText)",
                         timeout=RUN_S * 1000)
    assert re.search(r'Run \d+: epoch \d+ of 12, training with lr=0\.03', _status(hx)), _status(hx)
    t0 = time.time()
    hx.locator('button:has-text("Stop")').click()
    pg.wait_for_function(f"() => document.querySelectorAll('.seqlab-runs-table table tbody tr').length > {n0}", timeout=RUN_S * 1000)
    stop_s = time.time() - t0
    cells = hx.locator('.seqlab-runs-table table tbody tr').last.inner_text().split('\t')
    status, stopped_at, epochs_run = cells[-3], cells[-2], int(cells[-4])
    assert status == 'stopped' and epochs_run < 12, cells
    assert re.fullmatch(rf'epoch {epochs_run + 1} of 12: \d/7 batches|after epoch {epochs_run} of 12', stopped_at), cells
    assert 'stopped' in _status(hx)
    assert stop_s < 10, f'Stop took {stop_s:.1f} s to act'
    print(f'\nStop: {stopped_at!r}, {stop_s:.2f} s from the click to the row')


def _grid_sweep_and_heatmap(pg, hx):
    "A grid sweep of 12 one-epoch runs; the heatmap's axes are the sweep's values, not the manual runs'."
    boxes = hx.locator('.widget-text input[type="text"]')
    boxes.nth(1).fill('1')
    boxes.nth(1).press('Enter')
    assert hx.locator('input[type="number"]').is_disabled()  # 'runs' does not apply to a grid
    assert 'grid: 12 runs' in hx.locator('.seqlab-sweep-size').inner_text()
    n0 = _rows(pg)
    hx.locator('button:has-text("Sweep")').click()
    pg.wait_for_function(f"() => document.querySelectorAll('.seqlab-runs-table table tbody tr').length >= {n0 + 12}"
                         " && document.querySelector('.seqlab-heatmap-axes')", timeout=4 * RUN_S * 1000)
    axes = hx.locator('.seqlab-heatmap-axes').inner_text()
    assert 'over 12 runs (the last sweep)' in axes and 'x: lr = 0.001, 0.01, 0.1; y: embedding_dim = 8, 16' in axes, axes
    hx.locator('.seqlab-analysis-plot img').wait_for(state='visible', timeout=30_000)
    hx.locator('select').nth(2).select_option('num_heads')  # y (the selects: overlay list, x, y, runs)
    hx.locator('button:has-text("Heatmap")').click()
    hx.locator('.seqlab-heatmap-axes:has-text("y: num_heads = 1, 2")').wait_for(timeout=30_000)
    hx.locator('select').nth(2).select_option('lr')  # x == y: refused next to the button, the old heatmap cleared
    hx.locator('button:has-text("Heatmap")').click()
    hx.locator('.seqlab-analysis-msg .seqlab-error:has-text("x and y are both lr")').wait_for(timeout=30_000)
    assert hx.locator('.seqlab-analysis-plot img').count() == 0
    hx.locator('select').nth(2).select_option('embedding_dim')
    hx.locator('button:has-text("Heatmap")').click()
    hx.locator('.seqlab-analysis-plot img').wait_for(state='visible', timeout=30_000)


def test_explorers_in_jupyterlab(page, lab):
    pg = page
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.wait_for_function('() => window.jupyterapp && window.jupyterapp.commands.hasCommand("logconsole:open")', timeout=60_000)
    pg.evaluate("window.jupyterapp.commands.execute('logconsole:open', {insertMode: 'split-bottom'})")
    _run_all_cells(pg)
    hx = pg.locator('.seqlab-hyperparam-explorer')
    hx.wait_for(state='visible', timeout=CELLS_S * 1000)
    ae = pg.locator('.seqlab-attention-explorer')
    ae.wait_for(state='visible', timeout=CELLS_S * 1000)  # the cells before it (one training run) are done
    errors = pg.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] :text("Error")')
    assert errors.count() == 0, errors.first.inner_text()

    # the controls: a log slider for lr, toggle buttons for the choices, Run / Stop / Sweep
    assert hx.locator('.widget-slider').count() >= 1
    assert hx.locator('.widget-toggle-buttons').count() == 3  # embedding_dim, num_heads, sweep mode
    run, stop = hx.locator('button:has-text("Run")'), hx.locator('button:has-text("Stop")')
    assert run.is_enabled() and stop.is_disabled()
    assert hx.locator('button:has-text("Sweep")').count() == 1
    # the live plot of the run made in the notebook is an image in the output widget
    hx.locator('.seqlab-live-plot img').wait_for(state='visible', timeout=30_000)
    pg.wait_for_function("() => document.querySelectorAll('.seqlab-runs-table table tbody tr').length >= 1", timeout=30_000)
    n0 = _rows(pg)

    # pick embedding_dim = 8 (the notebook's run used 16), click Run: a new row appears with that value
    hx.locator('.widget-toggle-buttons', has_text='16').locator('button', has_text='8').click()
    run.click()
    pg.wait_for_function(f"() => document.querySelectorAll('.seqlab-runs-table table tbody tr').length > {n0}",
                         timeout=RUN_S * 1000)
    assert _rows(pg) == n0 + 1
    last = hx.locator('.seqlab-runs-table table tbody tr').last.inner_text()
    assert '\t8\t2\t' in last and 'done' in last, last  # embedding_dim 8, num_heads 2
    pg.wait_for_function("() => !document.querySelector('.seqlab-hyperparam-explorer button[title^=\"train once\"]').disabled",
                         timeout=30_000)
    assert 'Run 2 done' in hx.locator('.seqlab-status').inner_text()
    hx.locator('.seqlab-live-plot img').wait_for(state='visible', timeout=30_000)
    assert last.split('\t')[-2] == ''  # a run that Stop did not cut has no 'stopped at'

    _typed_values_are_corrected_aloud(pg, hx)
    _stop_cuts_a_run_short(pg, hx)
    _grid_sweep_and_heatmap(pg, hx)
    shot_hx = SHOTS / 'hyperparam_explorer.png'
    hx.screenshot(path=str(shot_hx))
    # the runs table keeps its height (it scrolls) however many runs there are
    box = hx.locator('.seqlab-runs-table').bounding_box()
    assert _rows(pg) >= 15 and box['height'] < 260, (box, _rows(pg))
    assert pg.evaluate("() => { const d = document.querySelector('.seqlab-hyperparam-explorer .seqlab-runs');"
                       " return d.scrollHeight > d.clientHeight; }")
    # no figure reached the Log Console: every click's output stayed in the explorer
    pg.wait_for_timeout(1000)
    log = pg.locator('.jp-LogConsole')
    assert log.count() >= 1
    assert log.locator('img').count() == 0, log.first.inner_text()[:500]
    assert 'image/png' not in log.first.inner_text() and '<Figure' not in log.first.inner_text()

    # the attention explorer: example picker, layer and head, shaded text, heatmap image, top-tokens table
    assert ae.locator('select').count() >= 3
    assert ae.locator('.seqlab-tok').count() >= 4
    ae.locator('.seqlab-attn-heatmap img').wait_for(state='visible', timeout=30_000)
    assert 'Most-attended tokens' in ae.inner_text()
    ae.locator('input[type="checkbox"]').check()  # misclassified only
    pg.wait_for_timeout(1500)
    shot_ae = SHOTS / 'attention_explorer.png'
    ae.screenshot(path=str(shot_ae))
    # layer 0 is the self-attention map: the head list offers 'mean' and each head
    ae.locator('select').nth(1).select_option(label='0 (self-attention, 2 head(s))')
    ae.locator('.seqlab-attn-info:has-text("layer 0")').wait_for(timeout=30_000)
    ae.locator('select').nth(2).select_option(label='mean')
    ae.locator('.seqlab-attn-info:has-text("head mean")').wait_for(timeout=30_000)
    pg.wait_for_function("""() => { const i = document.querySelector('.seqlab-attention-explorer .seqlab-attn-heatmap img');
        return i && i.complete && i.naturalHeight > 250; }""", timeout=30_000)  # the square T x T map, not the pooling strip
    pg.wait_for_timeout(1500)
    assert _dark_fraction(ae.locator('.seqlab-attn-heatmap img').get_attribute('src')) > 0.005  # title, tick labels drawn
    shot_sa = SHOTS / 'attention_explorer_self_attention.png'
    ae.screenshot(path=str(shot_sa))
    pg.screenshot(path=str(SHOTS / 'jupyterlab_page.png'))
    print(f'\nscreenshots: {shot_hx} {shot_ae} {shot_sa} {SHOTS / "jupyterlab_page.png"}')

    # nothing was fetched from outside the local server
    outside = sorted({u for u in pg.requests_seen if urlparse(u).scheme in ('http', 'https', 'ws', 'wss')
                      and urlparse(u).hostname not in ('127.0.0.1', 'localhost')})
    assert not outside, outside


ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args) -> str:
    env = {**os.environ, 'GIT_AUTHOR_NAME': 't', 'GIT_AUTHOR_EMAIL': 't@t', 'GIT_COMMITTER_NAME': 't',
           'GIT_COMMITTER_EMAIL': 't@t'}
    return subprocess.run(['git', *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def test_opening_and_saving_a_notebook_leaves_git_clean(page, lab):
    "Open a copy of a project notebook, let its kernel start, save it from JupyterLab: git sees no change."
    pg = page
    _, tmp = lab
    repo = tmp / 'root' / 'repo'
    repo.mkdir()
    shutil.copy(ROOT / 'nbs' / '06_widgets.ipynb', repo / '06_widgets.ipynb')
    shutil.copy(ROOT / '.gitignore', repo / '.gitignore')  # the project's: it ignores .ipynb_checkpoints/
    _git(repo, 'init', '-q')
    _git(repo, 'add', '06_widgets.ipynb', '.gitignore')
    _git(repo, 'commit', '-qm', 'the notebook as stored')
    pg.evaluate("window.jupyterapp.commands.execute('docmanager:open', {path: 'repo/06_widgets.ipynb'})")
    pg.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.path === 'repo/06_widgets.ipynb' && w.sessionContext.session
               && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected'
               && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=120_000)
    pg.wait_for_timeout(3000)  # kernel info (language_info) and kernelspec reach the notebook's metadata
    pg.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    pg.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.context.path === 'repo/06_widgets.ipynb' && !w.context.model.dirty; }""", timeout=60_000)
    pg.wait_for_timeout(2000)
    saved = json.loads((repo / '06_widgets.ipynb').read_text())
    assert saved['metadata']['kernelspec']['name'] == 'python3'
    status = _git(repo, 'status', '--porcelain')
    diff = _git(repo, 'diff', '--stat') + _git(repo, 'diff')[:3000]
    assert status == '', f'opening and saving the notebook changed it:\n{diff}'
