"""Package-wide rules: every notebook exports one module of the same name, and no name is exported twice."""
import importlib
import json
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / 'nbs').glob('[0-9][0-9]*_*.ipynb'))


def _default_exp(nb_path):
    for cell in json.loads(nb_path.read_text())['cells']:
        if cell['cell_type'] != 'code':
            continue
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
        if m:
            return m.group(1)
    return None


def test_each_notebook_exports_the_module_of_its_name():
    assert NBS, 'no numbered notebooks found in nbs/'
    for nb in NBS:
        want = nb.stem.split('_', 1)[1]
        assert _default_exp(nb) == want, f'{nb.name} should have `#| default_exp {want}`'
        assert (ROOT / 'seqlab' / f'{want}.py').exists(), f'seqlab/{want}.py missing: run nbdev_export'


def test_no_name_is_exported_twice():
    owners = defaultdict(list)
    for nb in NBS:
        mod = importlib.import_module(f'seqlab.{_default_exp(nb)}')
        for name in getattr(mod, '__all__', []):
            owners[name].append(mod.__name__)
    twice = {n: m for n, m in owners.items() if len(m) > 1}
    assert not twice, f'names exported by more than one module: {twice}'


def _code_cells(nb_path):
    return [''.join(c['source']) for c in json.loads(nb_path.read_text())['cells'] if c['cell_type'] == 'code']


def test_no_more_than_six_exported_cells_in_a_row():
    "A learner sees a demo or a check at least after every six exported cells (hidden cells do not count as either)."
    long = {}
    for nb in NBS:
        run = best = 0
        for src in _code_cells(nb):
            if re.search(r'^#\|\s*export\b', src, re.M):
                run += 1
                best = max(best, run)
            elif src.strip() and not re.search(r'^#\|\s*hide', src, re.M):
                run = 0
        if best > 6:
            long[nb.name] = best
    assert not long, f'notebooks with more than 6 exported cells in a row (add a demo or check between them): {long}'


def test_no_doc_heading_shows_a_private_name():
    "Every public function, class and method documents under its public name (a `def _x` attached as `x` shows `_x`)."
    bad = []
    for nb in NBS:
        mod = importlib.import_module(f'seqlab.{_default_exp(nb)}')
        for name in getattr(mod, '__all__', []):
            obj = getattr(mod, name)
            if callable(obj) and getattr(obj, '__name__', name).startswith('_'):
                bad.append(f'{mod.__name__}.{name} is named {obj.__name__}')
            if isinstance(obj, type) and obj.__module__ == mod.__name__:
                for attr, f in vars(obj).items():
                    if not attr.startswith('_') and callable(f) and getattr(f, '__name__', attr).startswith('_'):
                        bad.append(f'{mod.__name__}.{name}.{attr} is named {f.__name__}')
        for src in _code_cells(nb):
            for target in re.findall(r'^\s*show_doc\(\s*([\w.]+)', src, re.M):
                if target.split('.')[-1].startswith('_'):
                    bad.append(f'{nb.name} calls show_doc({target})')
    assert not bad, 'private names in the docs: ' + '; '.join(bad)


def test_make_test_runs_the_rehearsal_and_ci_runs_make_test():
    "Full mode is proven on every change: `make test` includes `make rehearse`, and CI calls exactly `make test`."
    mk = (ROOT / 'Makefile').read_text()
    assert 'rehearse' in re.search(r'^test:(.*)$', mk, re.M).group(1).split()
    assert re.search(r'^rehearse:', mk, re.M) and re.search(r'^gpu-check:', mk, re.M)
    assert (ROOT / '.ci' / 'run').read_text().strip().splitlines()[-1] == 'make test'
