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
