"""The notebooks outside the project, as a learner meets them in Colab or in a downloaded copy.

Colab's install cell installs `seqlab[learn]`: the package and what the notebooks import (nbdev's
`show_doc`, `fastcore.test`), none of the dev extras. These tests build such an environment from
the package, with a Jupyter kernel, and run a topic notebook to its end outside the repository;
and they run every notebook's last cell (the guarded `nbdev_export()`) outside the project."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(ROOT.glob('nbs/[0-9][0-9]*_*.ipynb'))
SOLUTIONS = sorted(ROOT.glob('nbs/solutions/*.ipynb'))  # worked solutions: a Colab cell too, no export cell
TORCH_SPEC = os.environ.get('TORCH_SPEC', 'torch==2.13.0')
# A topic notebook that runs in seconds in quick mode, and a foundation one.
# 07_distributed asks for the optuna extra too, and runs DDP (forked processes) and a two-worker sweep in the kernel.
COLAB_NBS = ['00_core.ipynb', '17_autoregressive.ipynb', '07_distributed.ipynb']


def _src(cell) -> str:
    return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


def _last_code_cell(nb_path: Path) -> str:
    cells = [c for c in json.loads(nb_path.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']
    return _src(cells[-1])


@pytest.mark.parametrize('nb_path', NBS, ids=lambda p: p.name)
def test_last_cell_does_nothing_outside_the_project(nb_path, tmp_path, monkeypatch):
    "Run All in Colab or in a downloaded copy must not end on nbdev's 'not an nbdev project' error."
    src = _last_code_cell(nb_path)
    assert 'nbdev_export' in src, f'{nb_path.name}: the last cell should be the guarded nbdev_export() of nbs/00_core.ipynb'
    code = '\n'.join(l for l in src.splitlines() if not re.match(r'^\s*#\s*\|', l))
    (tmp_path / 'nbs').mkdir()
    monkeypatch.chdir(tmp_path / 'nbs')
    exec(compile(code, f'{nb_path.name}:last cell', 'exec'), {})
    assert sorted(p.name for p in tmp_path.rglob('*')) == ['nbs'], 'the last cell wrote files outside the project'


def test_last_cell_exports_inside_the_project():
    "Inside the project the same cell is the guard's other branch: it finds settings.ini one folder up."
    src = _last_code_cell(ROOT / 'nbs' / '00_core.ipynb')
    m = re.search(r"^(_ini = .*)$", src, re.M)
    assert m, 'the last cell of 00_core should name settings.ini in a line `_ini = ...`'
    env = {'Path': Path}
    cwd = os.getcwd()
    try:
        os.chdir(ROOT / 'nbs')
        exec(m.group(1), env)
    finally:
        os.chdir(cwd)
    assert env['_ini'].exists() and 'lib_name = seqlab' in env['_ini'].read_text()


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f'{" ".join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r


def colab_extras(name: str = '00_core.ipynb') -> str:
    "The extras the Colab install cell of notebook `name` asks for, e.g. '[learn]' from `pip install \"seqlab[learn] @ git+...\"`."
    cells = [_src(c) for c in json.loads((ROOT / 'nbs' / name).read_text())['cells'] if c['cell_type'] == 'code']
    cell = next(c for c in cells if "'google.colab' in sys.modules" in c)
    m = re.search(r'pip install[^\n]*?\bseqlab(\[[\w,]+\])?\s*@\s*git\+', cell)
    assert m, f'the Colab cell should install seqlab from git: {cell}'
    return m.group(1) or ''


def test_colab_cell_installs_the_learn_extra():
    assert colab_extras() == '[learn]'


# Import names that differ from the distribution's, and modules that come with what is installed anyway.
_MODULE_OF = {'scikit-learn': 'sklearn'}
_ALWAYS = {'seqlab', 'IPython', 'ipykernel', 'google', 'threadpoolctl'}  # the kernel's own; Colab's; scikit-learn's dependency


def _modules(reqs: str) -> set:
    "Top-level module names of a settings.ini requirements line, e.g. 'nbdev>=2,<3 scikit-learn' -> {'nbdev', 'sklearn'}."
    names = [re.split(r'[<>=!~\[ ;]', r, maxsplit=1)[0] for r in reqs.split()]
    return {_MODULE_OF.get(n, n).replace('-', '_') for n in names if n}


def _imports(nb_path: Path) -> set:
    "The top-level modules that the notebook's code cells import (shell and magic lines left out)."
    import ast
    mods = set()
    for c in json.loads(nb_path.read_text(encoding='utf-8'))['cells']:
        if c['cell_type'] != 'code':
            continue
        src = '\n'.join(l[:len(l) - len(l.lstrip())] + 'pass' if l.lstrip().startswith(('!', '%')) else l for l in _src(c).splitlines())
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.Import):
                mods |= {a.name.split('.')[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0:
                mods.add(n.module.split('.')[0])
    return mods - set(sys.stdlib_module_names)


@pytest.mark.parametrize('nb_path', NBS + SOLUTIONS, ids=lambda p: str(p.relative_to(ROOT / 'nbs')))
def test_colab_cell_installs_what_the_notebook_imports(nb_path):
    "A module of an optional extra (optuna) must be asked for by that notebook's Colab cell, or Run All stops there in Colab."
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'settings.ini')
    ini = cfg['DEFAULT']
    cell = next((_src(c) for c in json.loads(nb_path.read_text())['cells'] if "'google.colab' in sys.modules" in _src(c)), None)
    assert cell, f'{nb_path.name} has no Colab install cell'
    m = re.search(r'pip install[^\n]*?\bseqlab\[([\w,]+)\]\s*@\s*git\+', cell)
    extras = m.group(1).split(',') if m else []
    assert 'learn' in extras, f'{nb_path.name}: the Colab cell should install seqlab[learn]'
    have = _modules(ini['requirements']) | _ALWAYS
    for e in extras:
        have |= _modules(ini[f'{e}_requirements'])
    missing = _imports(nb_path) - have
    assert not missing, (f'{nb_path.name} imports {sorted(missing)}, which neither seqlab nor the extras of its Colab cell '
                         f'({extras}) install: add the extra to the cell, e.g. seqlab[learn,optuna]')


def test_solutions_notebooks_are_checked_too():
    "The parametrization above covers the worked solutions (a glob that found nothing would check nothing)."
    assert SOLUTIONS and all(p.suffix == '.ipynb' for p in SOLUTIONS), 'no notebook found in nbs/solutions/'


@pytest.fixture(scope='module')
def learner_env(tmp_path_factory):
    "A fresh virtual environment with seqlab[learn] installed from the package (not editable) and a kernel."
    if shutil.which('git') is None:
        pytest.skip('git is needed to copy the package')
    base = tmp_path_factory.mktemp('colab')
    src = base / 'src'
    # The package as it would be fetched: the committed and working-tree files, without .venv or builds.
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.venv', '.git', '_site', '_proc', '_docs', 'runs', 'build',
                                                             '*.egg-info', '__pycache__', '.pytest_cache', 'checkpoints'))
    venv = base / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)])
    py = venv / 'bin' / 'python'
    pip = [str(py), '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
    _run(pip + [TORCH_SPEC], timeout=900)
    # What the Colab cell installs (its extras), from the package; a kernel and a runner as Colab has them.
    _run(pip + [f'{src}{colab_extras()}', 'ipykernel', 'nbclient'], timeout=900)
    return py, src


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env.update(extra)
    return env


def test_learner_env_has_no_dev_extras(learner_env, tmp_path):
    learner_env, _ = learner_env
    r = _run([str(learner_env), '-c', textwrap.dedent('''
        import importlib.util as u
        print("DEV", *[m for m in ("pytest", "sphinx", "playwright", "jupyterlab", "papermill", "hypothesis") if u.find_spec(m)])
        import nbdev, fastcore.test, seqlab, seqlab.core
        print("SEQLAB_AT", seqlab.__file__)
    ''')], cwd=tmp_path, env=_clean_env())
    dev, at = r.stdout.strip().splitlines()[-2:]
    assert dev.strip() == 'DEV', f'dev extras leaked into the learner environment: {dev}'
    assert str(ROOT) not in at and 'site-packages' in at, f'seqlab was not imported from the installed package: {at}'


@pytest.mark.parametrize('name', COLAB_NBS)
def test_notebook_runs_to_its_end_outside_the_repository(learner_env, name, tmp_path):
    "Run All in a Jupyter kernel of the learner environment, in a folder outside the project."
    learner_env, src = learner_env
    if colab_extras(name) != colab_extras():  # what this notebook's Colab cell installs beyond the first's
        _run([str(learner_env), '-m', 'pip', 'install', '-q', '--disable-pip-version-check', f'{src}{colab_extras(name)}'], timeout=900)
    nb = tmp_path / name
    shutil.copy(ROOT / 'nbs' / name, nb)
    script = textwrap.dedent(f'''
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read({str(nb)!r}, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name='python3', resources={{'metadata': {{'path': {str(tmp_path)!r}}}}}).execute()
        errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
        assert not errors, errors
        print('RAN', len(nb.cells), 'cells')
    ''')
    env = _clean_env(SEQLAB_QUICK='1', SEQLAB_DATA=str(tmp_path / 'cache'),
                     PATH=f"{learner_env.parent}:{os.environ.get('PATH', '')}")
    r = _run([str(learner_env), '-c', script], cwd=tmp_path, env=env, timeout=900)
    assert 'RAN' in r.stdout
    assert not (tmp_path / 'seqlab').exists(), 'the notebook exported a library outside the project'
