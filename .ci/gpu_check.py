#!/usr/bin/env python3
"""`make gpu-check`: the cost table of full mode on a CUDA device, in one command.

Runs every notebook in full mode on the rehearsal data (`.ci/rehearse.py`: the machine with the GPU has no
internet) and every bench/ script's GPU branch, and writes a table of time per epoch, projected full-run time
and peak GPU memory per notebook to bench/gpu_check.md, with the device named.

How the time is measured (the choice this check makes): a full-mode run of every notebook takes hours, so each
notebook runs as a smoke run with more batches than the rehearsal's (SEQLAB_SMOKE=1, SEQLAB_SMOKE_BATCHES=8):
every fit trains one epoch of 8 batches at full model size, input length and batch size. The learner's CostCB
times batches 2-4 of each fit (the first pays for start-up: cuDNN autotuning, allocator growth) and projects
the fit as the notebook asks for it (its epochs x its batches per epoch, validation included), and `each_run`
loops (sweeps, k-fold, seeds) multiply by the runs a smoke run skips. A notebook's projected full run is the
sum over its fits; its time per epoch is that of its costliest fit. Loops a notebook writes without
`each_run` are not multiplied: their projection is a lower bound.

Without a CUDA device it still runs end to end, on the CPU: the bench GPU branches are skipped (and say so),
and the table goes to runs/gpu_check.md, since CPU timings on a shared machine are not the record.

    python .ci/gpu_check.py                                  # everything (about 10 minutes on one GPU)
    python .ci/gpu_check.py nbs/12_image_cnn.ipynb --no-bench  # a few notebooks
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import rehearse  # noqa: E402

# each bench script's GPU branch: the arguments that put it on CUDA, kept short (the defaults pick CUDA when it is there)
BENCH = {'audio_frontends.py': [], 'ddp_overhead.py': ['--device', 'cuda', '--steps', '50', '--repeats', '1'],
         'image_cnn_throughput.py': [], 'imdb_elman.py': ['--device', 'cuda'], 'padding_waste.py': ['--lstm', '2000'],
         'rnn_sentence_packing.py': [], 'transformer_attention.py': []}


def fmt(s) -> str:
    if s is None: return '-'
    if s < 1: return f'{s:.2g} s'
    if s < 90: return f'{s:.0f} s'
    if s < 5400: return f'{s / 60:.0f} min'
    return f'{s / 3600:.1f} h'


def summarise(r: dict) -> dict:
    "A notebook's fits, from its cost log: number, costliest epoch, projected full run, peak GPU memory."
    recs = []
    p = Path(r.get('cost_log', ''))
    if p.is_file():
        recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    peaks = [x['peak_gpu_mib'] for x in recs if x.get('peak_gpu_mib') is not None]
    return {'fits': len(recs), 'epoch_s': max((x['epoch_s'] for x in recs), default=None),
            'full_s': sum(x['fit_s'] * x.get('smoke_cut', 1) for x in recs) if recs else None,
            'peak_gpu_mib': max(peaks) if peaks else None}


def bench(cuda: bool, timeout: float) -> list:
    "Run every bench/ script's GPU branch (on CUDA only); (script, result, seconds, last line) per script."
    rows = []
    for f in sorted((ROOT / 'bench').glob('*.py')):
        if f.name not in BENCH:
            rows.append((f.name, 'not listed in .ci/gpu_check.py BENCH: add its GPU arguments', None, ''))
            continue
        if not cuda:
            rows.append((f.name, 'skipped: no CUDA device here', None, ''))
            continue
        t0 = time.monotonic()
        try:
            p = subprocess.run([sys.executable, str(f), *BENCH[f.name]], capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, 'PYTHONPATH': str(ROOT)}, cwd=str(ROOT))
            ok, out = p.returncode == 0, (p.stdout.strip() or p.stderr.strip())
            last = out.splitlines()[-1] if ok and out else (p.stderr.strip().splitlines() or [''])[-1]
            rows.append((f.name, 'passed' if ok else f'FAILED (exit {p.returncode})', time.monotonic() - t0, last[:160]))
        except subprocess.TimeoutExpired:
            rows.append((f.name, f'TIMEOUT after {timeout:.0f} s', time.monotonic() - t0, ''))
    return rows


def report(results: list, bench_rows: list, device: str, cuda: bool, batches: int) -> str:
    import torch
    lines = ['# GPU check: the cost of full mode', '',
             f'- device: **{device}**' + ('' if cuda else ' (no CUDA device: CPU timings, bench GPU branches skipped)'),
             f'- torch {torch.__version__}, Python {platform.python_version()}, {datetime.date.today().isoformat()}',
             f'- command: `make gpu-check` (`.ci/gpu_check.py`); data: the rehearsal archives (real formats, not the real data)',
             f'- each notebook in full mode as a smoke run of {batches} batches per fit; CostCB times batches 2-4 of every fit '
             'and projects it at the notebook\'s full settings; `each_run` loops multiply by the runs the smoke run skips', '',
             '| notebook | result | wall (smoke) | fits | time per epoch (costliest fit) | projected full run | peak GPU memory |',
             '|---|---|---|---|---|---|---|']
    for r in results:
        s = r['summary']
        res = 'passed' if r['status'] == 'passed' else f"**{r['status'].upper()}** {r['error']}".replace('|', '\\|').replace('\n', ' ')
        mem = f"{s['peak_gpu_mib']:.0f} MiB" if s['peak_gpu_mib'] is not None else '-'
        lines.append(f"| {r['notebook']} | {res} | {r['wall_s']:.0f} s | {s['fits']} | {fmt(s['epoch_s'])} | {fmt(s['full_s'])} | {mem} |")
    tot = sum(r['summary']['full_s'] or 0 for r in results)
    lines += ['', f'Projected full run of these notebooks, one after another: about {fmt(tot)} (training only).', '',
              '## bench/ GPU branches', '', '| script | result | seconds | last line |', '|---|---|---|---|']
    for name, res, sec, last in bench_rows:
        lines.append(f"| {name} | {res} | {fmt(sec) if sec is not None else '-'} | {last.replace('|', '/')} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: every notebook in nbs/)')
    ap.add_argument('--timeout', type=float, default=420, help='seconds per notebook (default 420)')
    ap.add_argument('--batches', type=int, default=8, help='batches per fit (SEQLAB_SMOKE_BATCHES, default 8)')
    ap.add_argument('--no-bench', action='store_true', help='skip the bench/ scripts')
    ap.add_argument('--out', type=Path, help='the table (default: bench/gpu_check.md on CUDA, runs/gpu_check.md otherwise)')
    a = ap.parse_args(argv)
    import torch
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else f'CPU ({os.cpu_count()} cores)'
    out = a.out or (ROOT / 'bench' / 'gpu_check.md' if cuda else ROOT / 'runs' / 'gpu_check.md')
    print(f'gpu-check on {device}' + ('' if cuda else ': no CUDA device, so the notebooks run on the CPU and the bench GPU branches are skipped'))
    def keep_cost(r): r['summary'] = summarise(r)  # read the cost log before the rehearsal folder goes
    results = rehearse.rehearse(rehearse.select(a.notebooks), a.timeout, smoke_batches=a.batches, on_result=keep_cost,
                                report=ROOT / 'runs' / 'gpu_check_rehearse.md', title=f'GPU check on {device}: notebooks')
    rows = [] if a.no_bench else bench(cuda, a.timeout)
    text = report(results, rows, device, cuda, a.batches)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print('\n' + text + f'\nwritten to {out}')
    return 0 if all(r['status'] == 'passed' for r in results) and all(r[1] in ('passed',) or r[1].startswith('skipped') for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
