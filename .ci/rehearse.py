#!/usr/bin/env python3
"""`make rehearse`: every notebook in full mode, as a learner with a GPU would run it, proven on a CPU in minutes.

1. builds small archives of every data set in its real format (`.ci/rehearse_data.py`: content unlike the
   generated samples) and the gensim-data vector sets the notebooks load by name;
2. serves the archives on 127.0.0.1 and points the loaders at them: SEQLAB_MIRROR (tried first by
   `seqlab.datasets.fetch`), SEQLAB_CHECKSUMS (the mirror's own checksums, announced with a warning),
   SEQLAB_DATA (a fresh, empty cache), GENSIM_DATA_DIR (the vector sets, as gensim.downloader leaves them);
3. runs each notebook with papermill in full mode (SEQLAB_QUICK=0) as a smoke run (SEQLAB_SMOKE=1: every fit
   one epoch of a few batches, model sizes kept), from a copy outside the repository (as a downloaded
   notebook: its export cell does nothing), one kernel per notebook, with a time limit per notebook;
4. prints a table (notebook, passed or the failing cell and its error, wall time, peak memory of the
   kernel and its children) and writes it to runs/rehearse.md; the executed notebooks go to runs/rehearse/.

    python .ci/rehearse.py                          # every notebook in nbs/
    python .ci/rehearse.py nbs/16_audio.ipynb       # one (or a few)
    python .ci/rehearse.py --timeout 900 --jobs 2 --keep

Exit status 1 when a notebook fails. `make gpu-check` (`.ci/gpu_check.py`) reuses this machinery on a GPU.
"""
from __future__ import annotations
import argparse, contextlib, functools, http.server, json, os, resource, shutil, signal, subprocess, sys, tempfile
import threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import rehearse_data  # noqa: E402

# which rehearsal data each notebook reads in full mode (None: all of it; [] none), to build only what a selection needs
NEEDS = {'02_datasets': None, '03_embeddings': ['vectors'], '06_widgets': [], '10_cnn_lstm': ['bbc', 'vectors'],
         '11_transformer': ['bbc'], '12_image_cnn': ['cifar10'], '13_emotion_attention': ['emotion', 'vectors'],
         '14_rnn_sentence': ['trec', 'vectors'], '15_imdb': ['imdb'], '16_audio': ['esc50'], '17_autoregressive': [], 'index': []}


def needs(notebooks: list) -> list:
    "The rehearsal data sets `notebooks` read (notebooks not in NEEDS read none; unknown ones everything)."
    out = set()
    for nb in notebooks:
        stem = Path(nb).stem
        got = NEEDS.get(stem, [] if stem[:2].isdigit() and stem[:2] < '10' else None)
        out |= set(rehearse_data.SETS if got is None else got)
    return [s for s in rehearse_data.SETS if s in out]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


@contextlib.contextmanager
def serve(folder: Path):
    "Serve `folder` on 127.0.0.1 (a free port) in a thread; yields the base URL."
    handler = functools.partial(_Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f'http://127.0.0.1:{srv.server_address[1]}'
    finally:
        srv.shutdown()
        srv.server_close()


def prepare(work: Path, notebooks: list, sets=None, log=print) -> dict:
    "Build the data the notebooks need (or `sets`) under `work`; the environment variables that point seqlab and gensim at it."
    sets = needs(notebooks) if sets is None else list(sets)
    t0 = time.monotonic()
    sums = rehearse_data.build(work / 'mirror', work / 'gensim-data', only=sets)
    (work / 'checksums.json').write_text(json.dumps(sums, indent=1))
    (work / 'cache').mkdir(exist_ok=True)
    (work / 'gensim-data').mkdir(exist_ok=True)
    log(f"rehearsal data: {', '.join(sets) or 'none needed'} built in {time.monotonic() - t0:.0f} s under {work}")
    return {'SEQLAB_DATA': str(work / 'cache'), 'SEQLAB_CHECKSUMS': str(work / 'checksums.json'),
            'GENSIM_DATA_DIR': str(work / 'gensim-data')}


def notebook_env(base: dict, mirror_url: str, lib: Path, smoke_batches: int | None = None) -> dict:
    "The environment of one notebook run: full mode, a smoke run, the mirror, the copy of this checkout's seqlab first."
    path = [str(lib)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p and Path(p).resolve() != ROOT]
    env = {**os.environ, **base, 'SEQLAB_QUICK': '0', 'SEQLAB_SMOKE': '1', 'SEQLAB_MIRROR': mirror_url,
           'MPLBACKEND': 'Agg', 'PYTHONUNBUFFERED': '1', 'PYTHONPATH': os.pathsep.join(path)}
    if smoke_batches:
        env['SEQLAB_SMOKE_BATCHES'] = str(smoke_batches)
    return env


def _first_line(src) -> str:
    s = ''.join(src) if isinstance(src, list) else str(src)
    lines = [l for l in s.splitlines() if l.strip() and not l.startswith('#|')]
    return (lines[0].strip() if lines else '')[:70]


def _short(msg, n: int = 200) -> str:
    "An error message on one line, cut to `n` characters (a DataFrame in an assert message spans many)."
    s = ' '.join(str(msg).split())
    return s if len(s) <= n else s[:n - 3] + '...'


def _running_cell(path: Path) -> str:
    "In a partly executed notebook: the cell papermill marked as running (or the last one started)."
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return ''
    for i, c in enumerate(nb.get('cells', [])):
        if c.get('metadata', {}).get('papermill', {}).get('status') == 'running':
            return f'cell {i} `{_first_line(c["source"])}`'
    return ''


def _watch_rss(pid: int, peak: list, stop: threading.Event):
    "Every half second, the summed RSS of `pid`'s children (the kernel and its workers: DDP ranks, sweep workers)."
    try:
        import psutil
        me = psutil.Process(pid)
    except Exception:  # no psutil: the runner's own measure (the largest child) stands
        return
    while not stop.wait(0.5):
        total = 0
        with contextlib.suppress(psutil.Error):
            for c in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += c.memory_info().rss
        peak[0] = max(peak[0], total / 2**20)


_NOISE = ('Kernel is running over TCP without encryption', 'Parent appears to have exited', 'KeyboardInterrupt caught in kernel')


def run_one(nb: Path, out: Path, timeout: float, env: dict) -> dict:
    "Run one notebook in its own process group (papermill in `--one` mode); its result as a dict."
    res = out.with_suffix('.json')
    cmd = [sys.executable, __file__, '--one', str(nb), '--out', str(out)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, cwd=str(nb.parent), start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, stop = [0.], threading.Event()
    threading.Thread(target=_watch_rss, args=(p.pid, peak, stop), daemon=True).start()
    try:
        log, _ = p.communicate(timeout=timeout)
        r = json.loads(res.read_text()) if res.exists() else {'notebook': nb.name, 'status': 'failed', 'error': f'runner exited {p.returncode}'}
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        log, _ = p.communicate()
        where = _running_cell(out)
        r = {'notebook': nb.name, 'status': 'timeout', 'error': f'no end within {timeout:.0f} s' + (f' (in {where})' if where else '')}
    finally:
        stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # a kernel or worker left behind
    r['peak_mib'] = max(peak[0], r.get('peak_mib') or 0) or None
    r['wall_s'] = time.monotonic() - t0
    r['log'] = '\n'.join(l for l in log.splitlines() if not any(n in l for n in _NOISE))[-3000:]
    return r


def _one(nb: Path, out: Path):
    "Inside the runner process: papermill on `nb` (the kernel is our child, so its memory is measured here)."
    import papermill as pm
    r = {'notebook': nb.name, 'status': 'passed', 'error': ''}
    try:
        pm.execute_notebook(str(nb), str(out), cwd=str(nb.parent), kernel_name='python3', progress_bar=False,
                            log_output=False, request_save_on_cell_execute=True)
    except pm.PapermillExecutionError as e:
        src = _first_line(e.source or '')
        r.update(status='failed', cell=e.cell_index, error=f"cell {e.cell_index} `{src}`: {e.ename}: {_short(e.evalue)}")
    except Exception as e:  # the kernel died (memory), papermill itself failed
        r.update(status='failed', error=f'{type(e).__name__}: {_short(e)}')
    r['peak_mib'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child (the kernel), MiB
    out.with_suffix('.json').write_text(json.dumps(r))


def table(results: list, title: str) -> str:
    "The results as a Markdown table."
    lines = [f'## {title}', '', '| notebook | result | wall | peak memory |', '|---|---|---|---|']
    for r in results:
        res = 'passed' if r['status'] == 'passed' else f"**{r['status'].upper()}** {r['error']}".replace('|', '\\|').replace('\n', ' ')
        mem = f"{r['peak_mib']:.0f} MiB" if r.get('peak_mib') else '-'
        lines.append(f"| {r['notebook']} | {res} | {r['wall_s']:.0f} s | {mem} |")
    n_ok = sum(r['status'] == 'passed' for r in results)
    lines += ['', f'{n_ok} of {len(results)} notebooks passed.', '']
    return '\n'.join(lines)


def select(names: list) -> list:
    "The notebooks to run: the given ones (checked), or every notebook in nbs/."
    if not names:
        return sorted((ROOT / 'nbs').glob('*.ipynb'))
    out = []
    for n in names:
        p = Path(n) if Path(n).exists() else ROOT / n
        if not (p.exists() and p.suffix == '.ipynb'):
            raise SystemExit(f'rehearse: no notebook {n!r}; give paths such as nbs/16_audio.ipynb (or nothing for all of them).')
        out.append(p.resolve())
    return out


def rehearse(notebooks: list, timeout: float, jobs: int = 1, keep: bool = False, report: Path | None = None,
             smoke_batches: int | None = None, title: str = 'Rehearsal: full mode on real-format data, smoke run',
             extra_env: dict | None = None, on_result=None, sets=None) -> list:
    "Run `notebooks` (paths) in full mode on the rehearsal data; their results, the table printed and written to `report`."
    work = Path(tempfile.mkdtemp(prefix='seqlab-rehearse-'))
    runs = ROOT / 'runs' / 'rehearse'
    runs.mkdir(parents=True, exist_ok=True)
    try:
        base = prepare(work, notebooks, sets)
        copies = work / 'nbs'  # outside the repository: no settings.ini above, so the export cells do nothing
        copies.mkdir()
        for nb in notebooks:
            shutil.copy(nb, copies / nb.name)
        shutil.copytree(ROOT / 'seqlab', work / 'lib' / 'seqlab', ignore=shutil.ignore_patterns('__pycache__'))  # as installed
        with serve(work / 'mirror') as url:
            env = notebook_env(base, url, work / 'lib', smoke_batches)
            def one(nb):
                e = {**env, **(extra_env or {}), 'SEQLAB_COST_LOG': str(work / 'cost' / f'{nb.stem}.jsonl')}
                (work / 'cost').mkdir(exist_ok=True)
                r = run_one(copies / nb.name, runs / nb.name, timeout, e)
                r['cost_log'] = e['SEQLAB_COST_LOG']
                print(f"  {r['notebook']}: {r['status']} in {r['wall_s']:.0f} s" + (f" -- {r['error']}" if r['error'] else ''), flush=True)
                if on_result:
                    on_result(r)
                return r
            print(f'rehearse: {len(notebooks)} notebook(s), full mode, smoke run, data from {url}, {jobs} at a time', flush=True)
            if jobs > 1:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(jobs) as ex:
                    results = list(ex.map(one, notebooks))
            else:
                results = [one(nb) for nb in notebooks]
        text = table(results, title)
        print('\n' + text)
        report = report or ROOT / 'runs' / 'rehearse.md'
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text)
        print(f'table written to {report}; executed notebooks in {runs}')
        for r in results:
            if r['status'] != 'passed' and r['log'].strip():
                print(f"\n--- {r['notebook']}: last lines of its run ---\n{r['log'][-1500:]}")
        return results
    finally:
        if keep:
            print(f'kept the rehearsal data and cache in {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: every notebook in nbs/)')
    ap.add_argument('--timeout', type=float, default=600, help='seconds per notebook (default 600)')
    ap.add_argument('--jobs', type=int, default=1, help='notebooks run at once (default 1)')
    ap.add_argument('--keep', action='store_true', help='keep the temporary data, cache and copies')
    ap.add_argument('--report', type=Path, help='where to write the table (default runs/rehearse.md)')
    ap.add_argument('--one', type=Path, help=argparse.SUPPRESS)
    ap.add_argument('--out', type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        return _one(a.one, a.out)
    results = rehearse(select(a.notebooks), a.timeout, max(1, a.jobs), a.keep, a.report)
    return 0 if all(r['status'] == 'passed' for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
