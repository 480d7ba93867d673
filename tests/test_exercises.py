"""Exercises, their checks and their worked solutions: every exercise can be checked where it is
stated and has a worked solution that passes its check.

The layout these tests expect (`nbs/08_exercises.ipynb` holds `check`, `exercise`, `expect`, `compare`):

- A topic notebook `nbs/NN_<topic>.ipynb` ends with a `## Exercises` section. Each exercise is a
  markdown cell that starts with `**Exercise NN.k.**` (k = 1, 2, ... in order). Under it, before the
  next exercise, come its check, registered in an exported cell (`#| export` then
  `@exercise('NN.k', 'title')` on a function that yields verdicts), and the answer cell: a stub
  (`None`, or code that raises `NotImplementedError`) and `check('NN.k', answer)`, stored with its
  output, "not attempted yet".
- The worked solutions of topic NN are `nbs/solutions/NN_<topic>_solutions.ipynb`, titled
  `# Solutions: <topic>` (no `default_exp`, no exported cell, no `nbdev_export`; the hidden
  Colab cell first, as in every notebook; it imports the topic's module and `from seqlab.exercises
  import check`, and links back to `../NN_<topic>.ipynb#exercises`). Under a heading `## Exercise NN.k`,
  each exercise's solution cell ends with `assert check('NN.k', solution)` (stored output: "all N
  checks passed"), and a typical wrong answer is shown failing with `assert not check('NN.k', wrong)`.
- A stub answer is "not attempted": `check(key, None)` for every exercise, and a function that raises
  `NotImplementedError` for a check that takes one answer (it may fail instead, but never pass or crash).
- The topic's `## Exercises` section links to it: `[worked solutions](solutions/NN_<topic>_solutions.ipynb)`;
  the docs turn that link into one to the solutions page, `<topic>_solutions.html`.

The collectors below take a project root, so the rules are tested both on the real notebooks
(whichever topics have exercises so far) and on a toy project built here (topic 99, one exercise),
which is also rendered into a docs site to show the Solutions section at work.
"""
from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build as docs_build  # noqa: E402
from myst_proc import SOLUTIONS, is_solutions, nb_number, page_name, solutions_topic  # noqa: E402

from seqlab import exercises as X  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Collectors: what the notebooks of a project hold
def _src(cell) -> str:
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s


def _load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding='utf-8'))


def _stdout(cell) -> str:
    "The text a code cell printed, as stored."
    return ''.join(_src({'source': o.get('text', '')}) for o in cell.get('outputs', []) if o.get('output_type') == 'stream')


def topic_notebooks(root: Path) -> list[Path]:
    "The topic notebooks `nbs/NN_<topic>.ipynb` (NN >= 10), in number order."
    return [p for p in docs_build.notebooks(root) if not is_solutions(p) and (nb_number(p.name) or 0) >= 10]


def solutions_notebooks(root: Path) -> list[Path]:
    "The worked-solutions notebooks `nbs/solutions/*.ipynb`, in topic order."
    return [p for p in docs_build.notebooks(root) if is_solutions(p)]


def solutions_path(topic_nb: Path) -> Path:
    "Where the worked solutions of a topic notebook live (whether they exist yet or not)."
    return topic_nb.parent / SOLUTIONS / f'{topic_nb.stem}_solutions.ipynb'


def topic_module(topic_nb: Path) -> str | None:
    "The module a notebook exports (`#| default_exp imdb` -> 'imdb'), or None."
    for c in _load(topic_nb)['cells']:
        m = re.search(r'^\s*#\s*\|\s*default_exp\s+(\S+)', _src(c), flags=re.MULTILINE) if c['cell_type'] == 'code' else None
        if m:
            return m.group(1)
    return None


def registered(topic_nb: Path) -> dict[str, str]:
    "The exercises {key: title} registered for a topic notebook's number, after importing its module."
    mod = topic_module(topic_nb)
    if mod:
        importlib.import_module(f'seqlab.{mod}')
    n = nb_number(topic_nb.name)
    return {k: title for k, (title, _) in X.EXERCISES.items() if int(k.split('.')[0]) == n}


_re_heading = re.compile(r'^#{1,2}\s+(?!Exercise\s+\d)', flags=re.MULTILINE)  # a new section ends the Exercises
_re_marker = re.compile(r'^\s*(?:>\s*)?(?:#{1,6}\s*)?\*{0,2}Exercise\s+(\d+)\.(\d+)\b')
_re_check = re.compile(r'''\bcheck\(\s*(['"])([^'"]*)\1''')


def exercises_section(nb: dict) -> list[int] | None:
    "Indices of the cells of the `## Exercises` section (its heading cell first), or None."
    cells = nb['cells']
    start = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown'
                  and re.search(r'^##\s+Exercises\s*$', _src(c), flags=re.MULTILINE)), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(cells)) if cells[i]['cell_type'] == 'markdown'
                and _re_heading.search(_src(cells[i]))), len(cells))
    return list(range(start, end))


def exercise_cells(topic_nb: Path) -> list[dict]:
    "The exercises of a topic notebook: [{'key', 'cell' (its markdown), 'block' (cells up to the next one)}]."
    nb = _load(topic_nb)
    idx = exercises_section(nb) or []
    marks = [(i, m) for i in idx if nb['cells'][i]['cell_type'] == 'markdown'
             for m in [_re_marker.match(_src(nb['cells'][i]))] if m]
    out = []
    for j, (i, m) in enumerate(marks):
        end = marks[j + 1][0] if j + 1 < len(marks) else idx[-1] + 1
        out.append({'key': X._check_key(f'{m.group(1)}.{m.group(2)}'), 'topic': int(m.group(1)), 'n': int(m.group(2)),
                    'cell': i, 'block': list(range(i + 1, end))})
    return out


def check_calls(src: str) -> list[str]:
    "The exercise keys a cell passes to `check('<key>', ...)`, normalised ('15.2')."
    out = []
    for _, k in _re_check.findall(src):
        try:
            out.append(X._check_key(k))
        except ValueError:
            out.append(k)
    return out


def layout_problems(topic_nb: Path, keys: dict[str, str]) -> list[str]:
    "What is wrong with the layout of a topic notebook's Exercises section, given its registered exercises `keys`."
    nb, name, num = _load(topic_nb), topic_nb.name, nb_number(topic_nb.name)
    idx = exercises_section(nb)
    if idx is None:
        return [f'{name} has no `## Exercises` section']
    cells, exs, probs = nb['cells'], exercise_cells(topic_nb), []
    first = exs[0]['cell'] if exs else idx[-1] + 1
    if any(re.search(r'^\s*\d+\.\s', _src(cells[i]), flags=re.MULTILINE) for i in idx if i < first and cells[i]['cell_type'] == 'markdown'):
        probs.append(f'{name} still lists exercises as a numbered list: give each exercise its own markdown cell '
                     f'that starts with **Exercise {num}.1.**, **Exercise {num}.2.**, ...')
    wrong_topic = [e['key'] for e in exs if e['topic'] != num]
    if wrong_topic:
        probs.append(f'{name}: exercises {wrong_topic} are numbered for another topic; they are {num}.1, {num}.2, ... here')
    if [e['n'] for e in exs] != list(range(1, len(exs) + 1)):
        probs.append(f'{name}: the exercises are numbered {[e["key"] for e in exs]}; number them {num}.1, {num}.2, ... in order')
    for e in exs:
        called = [k for i in e['block'] if cells[i]['cell_type'] == 'code' for k in check_calls(_src(cells[i]))]
        if e['key'] not in called:
            probs.append(f"{name}: Exercise {e['key']} has no cell with check('{e['key']}', ...) under it "
                         f"(before the next exercise)")
        other = sorted(set(called) - {e['key']})
        if other:
            probs.append(f"{name}: under Exercise {e['key']}, a cell checks {other}: each exercise's check goes under it")
    called = {k for i in idx if cells[i]['cell_type'] == 'code' for k in check_calls(_src(cells[i]))}
    unknown = sorted(called - set(keys))
    if unknown:
        probs.append(f'{name}: check(...) names {unknown}, for which no check is registered: register each with '
                     f"@exercise('{num}.k', 'title') in an exported cell of this notebook")
    unstated = sorted(set(keys) - {e['key'] for e in exs})
    if unstated:
        probs.append(f'{name}: exercises {unstated} are registered but not stated in its Exercises section '
                     f'(a markdown cell starting with **Exercise {unstated[0]}.**)')
    sol = solutions_path(topic_nb)
    link = f'](solutions/{sol.name}'
    linked = any(link in _src(cells[i]) for i in idx if cells[i]['cell_type'] == 'markdown')
    if sol.exists() and not linked:
        probs.append(f'{name}: its Exercises section does not link to its worked solutions: add '
                     f'[worked solutions](solutions/{sol.name}) to the section\'s first cell')
    if linked and not sol.exists():
        probs.append(f'{name} links to solutions/{sol.name}, which does not exist')
    return probs


def _python(src: str) -> str:
    "A cell's source as plain Python (IPython's `!cmd` and `%magic` lines transformed)."
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(src)


def _check_key_of(node) -> str | None:
    "The key of a call `check('<key>', ...)` (or `x.check(...)`), else None."
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        f = node.func
        if (isinstance(f, ast.Name) and f.id == 'check') or (isinstance(f, ast.Attribute) and f.attr == 'check'):
            return X._check_key(node.args[0].value)
    return None


def solved(sol_nb: Path) -> dict[str, dict]:
    "Per exercise key, the cells of a solutions notebook with `assert check(key, ...)` ('pass') and `assert not check(key, ...)` ('fail'), or `r = check(key, ...)` then `assert r` / `assert not r` in the same cell."
    out = {}
    for i, c in enumerate(_load(sol_nb)['cells']):
        if c['cell_type'] != 'code':
            continue
        tree = ast.parse(_python(_src(c)))
        named = {n.targets[0].id: _check_key_of(n.value) for n in ast.walk(tree)  # r = check('16.1', ...)
                 if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and _check_key_of(n.value)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            t, kind = node.test, 'pass'
            if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
                t, kind = t.operand, 'fail'
            key = named.get(t.id) if isinstance(t, ast.Name) else _check_key_of(t)
            if key:
                out.setdefault(key, {'pass': [], 'fail': []})[kind].append(i)
    return out


def solution_problems(topic_nb: Path, keys: dict[str, str]) -> list[str]:
    "What is missing from the worked solutions of a topic notebook, given its registered exercises `keys`."
    sol = solutions_path(topic_nb)
    if not keys:
        return []
    if not sol.exists():
        return [f'{topic_nb.name} registers exercises {sorted(keys)} but has no worked solutions: write {sol.relative_to(topic_nb.parent.parent)}']
    cells, found, probs = _load(sol)['cells'], solved(sol), []
    for key, title in sorted(keys.items()):
        done = found.get(key, {'pass': [], 'fail': []})
        passed = re.compile(rf'Exercise {re.escape(key)} \(.*\): all \d+ checks passed\.')
        failed = re.compile(rf'Exercise {re.escape(key)} \(.*\): (\d+ of \d+ checks failed|your answer raised an error)')
        if not done['pass']:
            probs.append(f"{sol.name}: exercise {key} ({title}) has no worked solution: a cell that ends with "
                         f"assert check('{key}', solution)")
        elif not any(passed.search(_stdout(cells[i])) for i in done['pass']):
            probs.append(f"{sol.name}: the cell with assert check('{key}', ...) has no stored output saying that all checks "
                         f'passed: run the notebook and save it with its outputs')
        if not any(failed.search(_stdout(cells[i])) for i in done['fail']):
            probs.append(f"{sol.name}: exercise {key}: no typical wrong answer shown failing (assert not check('{key}', wrong), "
                         f'stored with its report)')
    stray = sorted(set(found) - set(keys))
    if stray:
        probs.append(f'{sol.name} checks {stray}, which are not exercises of {topic_nb.name}')
    return probs


def solutions_nb_problems(sol_nb: Path) -> list[str]:
    "What breaks the conventions of a solutions notebook (name, nothing exported, imports, link back)."
    name, probs = sol_nb.name, []
    topic = solutions_topic(name)
    if topic is None or not (sol_nb.parent.parent / topic).exists():
        probs.append(f'{name}: a solutions notebook is named after an existing topic notebook, NN_<topic>_solutions.ipynb')
    cells = _load(sol_nb)['cells']
    code = [_src(c) for c in cells if c['cell_type'] == 'code']
    md = [_src(c) for c in cells if c['cell_type'] == 'markdown']
    if any(re.search(r'^\s*#\s*\|\s*(default_exp|export|exporti|exports)\b', s, flags=re.MULTILINE) for s in code):
        probs.append(f'{name}: a solutions notebook exports nothing (no default_exp, no #| export cell)')
    if any('nbdev_export' in s for s in code):
        probs.append(f'{name}: a solutions notebook has no nbdev_export cell')
    if not any(re.search(r'^from seqlab\.exercises import .*\bcheck\b', s, flags=re.MULTILINE) for s in code):
        probs.append(f'{name}: import the check with `from seqlab.exercises import check`')
    if topic and not any(f'](../{topic}' in s for s in md):
        probs.append(f'{name}: link back to the exercises, [the exercises](../{topic}#exercises)')
    return probs


# ---------------------------------------------------------------------------------------------
# A toy project: one topic (99) with one exercise and its worked solution, in the real layout
TOY_CHECK = '''@exercise('99.1', 'a numerically stable softmax')
def _check_softmax(softmax):
    x = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    p = softmax(x)
    yield expect('returns a tensor', torch.is_tensor(p), f'got {type(p).__name__}: return a tensor')
    if not torch.is_tensor(p):
        return
    yield compare('equals torch.softmax', p, torch.softmax(x, 1))
    big = softmax(x + 1000.)
    yield expect('large scores (x + 1000) give the same probabilities', torch.isfinite(big).all(),
                 'exp of a large score overflows to inf: shift the scores without changing the probabilities')'''
COLAB = ('#| hide\n# Colab: install seqlab (hidden in the docs).\nimport sys\nif \'google.colab\' in sys.modules:\n'
         '    !pip install -q "seqlab[learn] @ git+https://github.com/seqlab/seqlab.git"')


def _cell(kind: str, src: str) -> dict:
    c = {'cell_type': kind, 'metadata': {}, 'source': src}
    return {**c, 'outputs': [], 'execution_count': None} if kind == 'code' else c


def _write_nb(path: Path, cells: list[dict]):
    path.parent.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(cells):
        c.setdefault('id', f'toy{i:03d}')
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb, indent=1) + '\n', encoding='utf-8')


def toy_topic_cells(solutions_link: bool = True) -> list[dict]:
    "The cells of the toy topic notebook `99_toy.ipynb`, laid out as every topic's Exercises section."
    intro = '## Exercises\n\nEach exercise has its check under it; run it after your answer.'
    if solutions_link:
        intro += ' Stuck? Open the [worked solutions](solutions/99_toy_solutions.ipynb).'
    return [_cell('markdown', '# Toy topic\n\n> One exercise, its check and its worked solution.'),
            _cell('code', COLAB),
            _cell('code', 'import torch\nfrom seqlab.exercises import check, compare, exercise, expect'),
            _cell('markdown', '## A section\n\nWhat the topic teaches.'),
            _cell('markdown', intro),
            _cell('markdown', '**Exercise 99.1.** Write `softmax(x)` for a `(B, C)` tensor of scores, safe for large scores.'),
            _cell('code', TOY_CHECK),
            _cell('code', 'def softmax(x):\n    raise NotImplementedError  # your code here\ncheck(\'99.1\', softmax)')]


def toy_solutions_cells() -> list[dict]:
    "The cells of the toy worked-solutions notebook `solutions/99_toy_solutions.ipynb`."
    return [_cell('markdown', '# Toy topic: worked solutions\n\n> The solution of each exercise of the toy topic, run through its check.'),
            _cell('code', COLAB),
            _cell('code', 'import torch\nfrom seqlab.exercises import check'),
            _cell('markdown', 'Try [the exercises](../99_toy.ipynb#exercises) first.'),
            _cell('markdown', '## Exercise 99.1\n\nSubtract each row\'s largest score before `exp`: the probabilities do not change.'),
            _cell('code', 'def softmax(x):\n    e = torch.exp(x - x.amax(1, keepdim=True))  # (B, C)\n'
                          '    return e / e.sum(1, keepdim=True)\nassert check(\'99.1\', softmax)'),
            _cell('markdown', 'A typical wrong answer, `exp` without the shift, overflows on large scores:'),
            _cell('code', 'def softmax_naive(x):\n    e = torch.exp(x)\n    return e / e.sum(1, keepdim=True)\n'
                          'assert not check(\'99.1\', softmax_naive)')]


def _run_nb(path: Path):
    "Execute a notebook in this process (as nbdev_test does) and store its outputs; the process is left as it was."
    import matplotlib
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from IPython.core.interactiveshell import InteractiveShell
    backend, shell = matplotlib.get_backend(), InteractiveShell._instance  # CaptureShell makes itself the shell, inline plots
    nb = read_nb(path)
    try:
        with _chdir(path.parent):
            CaptureShell().run_all(nb, exc_stop=True)
    finally:
        InteractiveShell._instance = shell
        matplotlib.use(backend)
    write_nb(nb, path)


@contextmanager
def _chdir(d: Path):
    import os
    old = os.getcwd()
    os.chdir(d)
    try:
        yield
    finally:
        os.chdir(old)


@contextmanager
def toy_exercise():
    "Exercise 99.1 registered (as the toy topic's exported cell would), unregistered afterwards."
    ns = {}
    exec('import torch\nfrom seqlab.exercises import compare, exercise, expect\n' + TOY_CHECK, ns)
    try:
        yield X.EXERCISES['99.1']
    finally:
        X.EXERCISES.pop('99.1', None)


def toy_project(root: Path, solutions: bool = True) -> Path:
    "A project at `root` with a home page, the toy topic 99 and (if `solutions`) its worked solutions, run and stored."
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / 'settings.ini', root / 'settings.ini')
    nbs = root / 'nbs'
    _write_nb(nbs / 'index.ipynb', [_cell('markdown', '# seqlab\n\n> A toy project.')])
    _write_nb(nbs / '99_toy.ipynb', toy_topic_cells(solutions_link=solutions))
    if solutions:
        _write_nb(nbs / SOLUTIONS / '99_toy_solutions.ipynb', toy_solutions_cells())
    try:
        _run_nb(nbs / '99_toy.ipynb')  # registers 99.1, as importing the topic's module would
        if solutions:
            _run_nb(nbs / SOLUTIONS / '99_toy_solutions.ipynb')
    finally:
        X.EXERCISES.pop('99.1', None)
    return root


def toy_site(tmp_path_factory) -> Path:
    "The docs site of the toy project (built once per test session): its `_site` folder."
    root = tmp_path_factory.getbasetemp() / 'seqlab-toy-project'
    if not (root / '_site' / docs_build.STAMP).exists():
        shutil.rmtree(root, ignore_errors=True)
        toy_project(root)
        docs_build.build(root, force=True)
    return root / '_site'


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "The toy project with its docs site built."
    return toy_site(tmp_path_factory).parent


@pytest.fixture
def toy_registered():
    with toy_exercise():
        yield


# ---------------------------------------------------------------------------------------------
# The toy project: the rules hold, and each one can fail
def test_toy_notebooks_ran(toy):
    topic, sol = _load(toy / 'nbs' / '99_toy.ipynb'), _load(toy / 'nbs' / SOLUTIONS / '99_toy_solutions.ipynb')
    assert 'Exercise 99.1 (a numerically stable softmax): not attempted yet.' in _stdout(topic['cells'][-1])
    assert 'all 3 checks passed' in _stdout(sol['cells'][5])
    assert '1 of 3 checks failed' in _stdout(sol['cells'][7]) and 'overflows' in _stdout(sol['cells'][7])
    assert '99.1' not in X.EXERCISES  # the toy leaves no exercise behind


def test_toy_follows_the_rules(toy, toy_registered):
    topic = toy / 'nbs' / '99_toy.ipynb'
    keys = registered(topic)
    assert keys == {'99.1': 'a numerically stable softmax'}
    assert [(e['key'], e['cell']) for e in exercise_cells(topic)] == [('99.1', 5)]
    assert layout_problems(topic, keys) == []
    assert solved(solutions_path(topic)) == {'99.1': {'pass': [5], 'fail': [7]}}
    assert solution_problems(topic, keys) == []
    assert solutions_nb_problems(solutions_path(topic)) == []
    assert solutions_notebooks(toy) == [solutions_path(topic)] and topic_notebooks(toy) == [topic]


def _edit(path: Path, dest: Path, fn) -> Path:
    "A copy of notebook `path` at `dest` (same name), its cells changed by `fn(cells)`."
    nb = _load(path)
    fn(nb['cells'])
    dest.mkdir(parents=True, exist_ok=True)
    (dest / path.name).write_text(json.dumps(nb), encoding='utf-8')
    return dest / path.name


def _set(i, src):
    def fn(cells):
        cells[i]['source'] = src
    return fn


@pytest.mark.parametrize('change,msg', [
    (lambda c: c.pop(7), "Exercise 99.1 has no cell with check('99.1', ...) under it"),
    (_set(7, "check('99.2', None)"), "names ['99.2'], for which no check is registered"),
    (lambda c: c.insert(6, _cell('code', "check('99.3', None)")), "under Exercise 99.1, a cell checks ['99.3']"),
    (_set(5, '**Exercise 99.2.** Write softmax.'), 'numbered [\'99.2\']; number them 99.1, 99.2'),
    (_set(5, '**Exercise 98.1.** Write softmax.'), 'numbered for another topic'),
    (_set(5, 'Write softmax.'), "exercises ['99.1'] are registered but not stated"),
    (_set(4, '## Exercises\n\n1. Write softmax.\n2. Write its gradient.'), 'still lists exercises as a numbered list'),
    (_set(4, '## Exercises'), 'does not link to its worked solutions'),
    (lambda c: c.pop(4), 'has no `## Exercises` section'),
])
def test_layout_rules_fail(toy, toy_registered, tmp_path, change, msg):
    nbs = tmp_path / 'nbs'
    shutil.copytree(toy / 'nbs' / SOLUTIONS, nbs / SOLUTIONS)
    topic = _edit(toy / 'nbs' / '99_toy.ipynb', nbs, change)
    probs = layout_problems(topic, registered(topic))
    assert any(msg in p for p in probs), probs


def test_link_to_missing_solutions_fails(toy, tmp_path):
    topic = _edit(toy / 'nbs' / '99_toy.ipynb', tmp_path / 'nbs', lambda c: None)  # no solutions/ beside it
    assert layout_problems(topic, {'99.1': 'x'}) == ['99_toy.ipynb links to solutions/99_toy_solutions.ipynb, which does not exist']


@pytest.mark.parametrize('change,msg', [
    (lambda c: c.pop(5), 'exercise 99.1 (a numerically stable softmax) has no worked solution'),
    (_set(5, "check('99.1', softmax)"), 'has no worked solution: a cell that ends with'),
    (lambda c: c[5].update(outputs=[]), 'no stored output saying that all checks passed'),
    (lambda c: c.pop(7), 'no typical wrong answer shown failing'),
    (lambda c: c[7].update(outputs=[]), 'no typical wrong answer shown failing'),
    (lambda c: c.append(_cell('code', "assert check('98.1', softmax)")), "checks ['98.1'], which are not exercises of 99_toy"),
])
def test_solution_rules_fail(toy, toy_registered, tmp_path, change, msg):
    nbs = tmp_path / 'nbs'
    _edit(toy / 'nbs' / SOLUTIONS / '99_toy_solutions.ipynb', nbs / SOLUTIONS, change)
    topic = nbs / '99_toy.ipynb'
    shutil.copy(toy / 'nbs' / '99_toy.ipynb', topic)
    probs = solution_problems(topic, registered(topic))
    assert any(msg in p for p in probs), probs


def test_missing_solutions_notebook_fails(toy, toy_registered, tmp_path):
    topic = tmp_path / 'nbs' / '99_toy.ipynb'
    topic.parent.mkdir()
    shutil.copy(toy / 'nbs' / '99_toy.ipynb', topic)
    assert solution_problems(topic, registered(topic)) == [
        "99_toy.ipynb registers exercises ['99.1'] but has no worked solutions: write nbs/solutions/99_toy_solutions.ipynb"]


@pytest.mark.parametrize('name,change,msg', [
    ('99_toy_solutions.ipynb', lambda c: c.insert(2, _cell('code', '#| default_exp toy')), 'exports nothing'),
    ('99_toy_solutions.ipynb', lambda c: c.append(_cell('code', 'import nbdev; nbdev.nbdev_export()')), 'no nbdev_export cell'),
    ('99_toy_solutions.ipynb', _set(2, 'import torch\nfrom seqlab import exercises'), 'from seqlab.exercises import check'),
    ('99_toy_solutions.ipynb', _set(3, 'Try the exercises first.'), 'link back to the exercises'),
    ('99_toy_answers.ipynb', lambda c: None, 'named after an existing topic notebook'),
    ('98_toy_solutions.ipynb', lambda c: None, 'named after an existing topic notebook'),
])
def test_solutions_notebook_rules_fail(toy, tmp_path, name, change, msg):
    shutil.copy(toy / 'nbs' / '99_toy.ipynb', tmp_path / '99_toy.ipynb')
    sol = _edit(toy / 'nbs' / SOLUTIONS / '99_toy_solutions.ipynb', tmp_path / SOLUTIONS, change)
    sol = sol.rename(sol.parent / name)
    assert any(msg in p for p in solutions_nb_problems(sol)), solutions_nb_problems(sol)


# ---------------------------------------------------------------------------------------------
# The toy project's docs: a Solutions section, one page per solutions notebook
def test_toy_docs_have_a_solutions_section(toy):
    site = toy / '_site'
    nbs = docs_build.notebooks(toy)
    assert [p.relative_to(toy / 'nbs').as_posix() for p in nbs] == ['index.ipynb', '99_toy.ipynb', 'solutions/99_toy_solutions.ipynb']
    docs_build.check_site(site, nbs)  # a page for each, in the navigation in this order
    html = (site / 'toy_solutions.html').read_text(encoding='utf-8')
    assert re.search(r'<h1>Toy topic: worked solutions<a class="headerlink"', html)
    assert 'https://colab.research.google.com/github/seqlab/seqlab/blob/main/nbs/solutions/99_toy_solutions.ipynb' in html
    assert 'href="toy.html#exercises"' in html  # ../99_toy.ipynb#exercises, the link back
    assert 'all 3 checks passed' in html and 'assert' in html
    topic = (site / 'toy.html').read_text(encoding='utf-8')
    assert 'href="toy_solutions.html"' in topic  # solutions/99_toy_solutions.ipynb, the exercise's link
    assert 'id="exercises"' in topic
    nav = re.search(r'<nav class="[^"]*bd-docs-nav[^"]*".*?</nav>', (site / 'index.html').read_text(encoding='utf-8'), re.DOTALL).group(0)
    caps = re.findall(r'<p aria-level="2" class="caption" role="heading"><span class="caption-text">([^<]+)</span>', nav)
    assert caps == ['Topics', 'Solutions']
    assert nav.index('toy_solutions.html') > nav.index('Solutions') > nav.index('toy.html')


def test_toy_docs_without_solutions(tmp_path):
    "No solutions notebook: no Solutions section (the build itself runs on the real project in test_docs)."
    shutil.copy(ROOT / 'settings.ini', tmp_path / 'settings.ini')
    _write_nb(tmp_path / 'nbs' / 'index.ipynb', [_cell('markdown', '# seqlab\n\n> A toy project.')])
    _write_nb(tmp_path / 'nbs' / '99_toy.ipynb', toy_topic_cells(solutions_link=False))
    nbs = docs_build.notebooks(tmp_path)
    toc = docs_build._toctree([(p, page_name(p.name)) for p in nbs])
    assert [c['id'] for c in toc] == ['toc-topics']


# ---------------------------------------------------------------------------------------------
# The real notebooks: every topic has exercises with checks
TOPICS = topic_notebooks(ROOT)


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_check_finds_the_topic_module(topic_nb):
    "`check('NN.k', ...)` imports the topic's module by its number: the two must agree."
    assert X.TOPIC_MODULES.get(f'{nb_number(topic_nb.name):02d}') == topic_module(topic_nb), (
        f"seqlab.exercises.TOPIC_MODULES should map '{nb_number(topic_nb.name)}' to '{topic_module(topic_nb)}' "
        f'(the module {topic_nb.name} exports), so that check() finds its exercises')


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_every_exercise_has_its_check_under_it(topic_nb):
    "(ii) Each `**Exercise NN.k.**` has a cell with `check('NN.k', ...)` under it; each check names a registered exercise."
    keys = registered(topic_nb)
    assert keys and exercise_cells(topic_nb), (
        f'{topic_nb.name}: every topic ends with exercises that have checks, but it registers no @exercise or has no '
        f'**Exercise {nb_number(topic_nb.name)}.k.** cell')
    probs = layout_problems(topic_nb, keys)
    assert not probs, '\n'.join(probs)


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_every_exercise_has_a_worked_solution(topic_nb):
    "(i) Every registered exercise of the topic is solved in its solutions notebook under `assert check(...)`."
    probs = solution_problems(topic_nb, registered(topic_nb))
    assert not probs, '\n'.join(probs)


def _raises_not_implemented(*args, **kwargs):
    raise NotImplementedError


def _answers_needed(key: str) -> int:
    "How many answers the check of exercise `key` takes (its positional parameters without a default)."
    import inspect
    ps = inspect.signature(X.EXERCISES[key][1]).parameters.values()
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in ps)


def stub_problems(topic_nb: Path, keys: dict[str, str]) -> list[str]:
    "What goes wrong when the registered exercises `keys` get a stub answer, and in the stored answer cells."
    cells = _load(topic_nb)['cells']
    stored = {e['key']: ''.join(_stdout(cells[i]) for i in e['block']) for e in exercise_cells(topic_nb)}
    probs = []
    for key, title in sorted(keys.items()):
        r = X.check(key, None, quiet=True)
        if r.status != 'not attempted':
            probs.append(f'{key}: check({key!r}, None) gave {r.status}: {r}')
        if _answers_needed(key) == 1:  # a check that also takes data cannot be handed a stub for it here
            r = X.check(key, _raises_not_implemented, quiet=True)
            if r or r.status == 'error':
                probs.append(f"{key}: check({key!r}, f), f raising NotImplementedError, gave {'a pass' if r else r.status} ({r}); "
                             f'a check reports an answer of the wrong kind as a failed verdict (expect(...)), it does not crash')
        if f'Exercise {key} ({title}): not attempted yet.' not in stored.get(key, ''):
            probs.append(f'{topic_nb.name}: the answer cell of exercise {key} should be stored with its stub answer and the '
                         f'output "Exercise {key} ({title}): not attempted yet." (run the notebook and save it)')
    return probs


def heading_problems(topic_nb: Path, keys: dict[str, str]) -> list[str]:
    "Headings of the exercises (`### Exercise NN.k: title` in the topic, `## ...` in its solutions) against the registered titles."
    probs = []
    for nb, level in ((topic_nb, '### '), (solutions_path(topic_nb), '## ')):
        heads = [_src(c).splitlines()[0] for c in _load(nb)['cells'] if c['cell_type'] == 'markdown'
                 and _src(c).startswith(f'{level}Exercise {nb_number(topic_nb.name)}.')]
        want = [f'{level}Exercise {k}: {t}' for k, t in sorted(keys.items(), key=lambda kt: int(kt[0].split('.')[1]))]
        if heads != want:
            probs.append(f'{nb.name}: exercise headings {heads} should be {want} (the titles given to @exercise)')
    return probs


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_headings_carry_the_registered_titles(topic_nb):
    "Both the topic notebook and its solutions head each exercise with the title its check was registered under, in order."
    probs = heading_problems(topic_nb, registered(topic_nb))
    assert not probs, '\n'.join(probs)


def test_heading_rule_fails(tmp_path):
    "A renamed heading is caught (on a copy of a real topic notebook)."
    topic = TOPICS[0]
    keys = registered(topic)
    (tmp_path / SOLUTIONS).mkdir()
    shutil.copy(solutions_path(topic), tmp_path / SOLUTIONS / solutions_path(topic).name)
    nb = _load(topic)
    for c in nb['cells']:
        if c['cell_type'] == 'markdown' and _src(c).startswith('### Exercise '):
            c['source'] = _src(c).replace(': ', ': another title, ', 1)
            break
    (tmp_path / topic.name).write_text(json.dumps(nb))
    probs = heading_problems(tmp_path / topic.name, keys)
    assert len(probs) == 1 and 'another title' in probs[0], probs


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_stubs_are_not_attempted(topic_nb):
    "(iii) A stub answer (None, a function that raises NotImplementedError) is not attempted or failed, never passed or a crash."
    probs = stub_problems(topic_nb, registered(topic_nb))
    assert not probs, '\n'.join(probs)


def test_stub_rules_fail(toy, toy_registered, tmp_path):
    "The rules of the test above hold on the toy, and fail on a check that crashes on a stub or on a stale answer cell."
    topic = toy / 'nbs' / '99_toy.ipynb'
    assert stub_problems(topic, registered(topic)) == []
    assert X.check('99.1', _raises_not_implemented, quiet=True).status == 'not attempted'

    @X.exercise('99.2', 'a check that crashes on a function')
    def _bad(answer):
        yield X.expect('shape', answer.shape == (2,))

    @X.exercise('99.3', 'a check that takes data too')
    def _data(answer, data):
        yield X.expect('shape', answer(data).shape == (2,))
    try:
        probs = stub_problems(topic, registered(topic))
        assert any("99.2: check('99.2', f), f raising NotImplementedError, gave error" in p for p in probs), probs
        assert not any("check('99.3', f)" in p for p in probs), probs  # not handed a stub: its data cannot be faked
        assert any('exercise 99.3 should be stored with its stub answer' in p for p in probs), probs
    finally:
        X.EXERCISES.pop('99.2', None)
        X.EXERCISES.pop('99.3', None)
    stale = _edit(topic, tmp_path, lambda c: c[7].update(outputs=[]))
    assert stub_problems(stale, registered(stale)) == [
        '99_toy.ipynb: the answer cell of exercise 99.1 should be stored with its stub answer and the output '
        '"Exercise 99.1 (a numerically stable softmax): not attempted yet." (run the notebook and save it)']


@pytest.mark.parametrize('topic_nb', TOPICS, ids=lambda p: p.name)
def test_solutions_notebook_conventions(topic_nb):
    "A topic's solutions notebook, once it exists, is named after it, exports nothing, imports check, links back."
    sol = solutions_path(topic_nb)
    if not sol.exists():
        return
    probs = solutions_nb_problems(sol)
    assert not probs, '\n'.join(probs)


def test_every_solutions_notebook_belongs_to_a_topic():
    strays = [p.name for p in solutions_notebooks(ROOT) if p not in [solutions_path(t) for t in TOPICS]]
    assert not strays, f'nbs/solutions/ holds {strays}: name each NN_<topic>_solutions.ipynb after a topic notebook'


def test_solutions_pages_in_the_docs():
    "(iv) Every solutions notebook gets a page `<topic>_solutions`, in the Solutions section after Topics."
    nbs = docs_build.notebooks(ROOT)
    sols = [p for p in nbs if is_solutions(p)]
    assert sorted(sols) == sorted((ROOT / 'nbs' / SOLUTIONS).glob('[0-9]*.ipynb'))
    pages = [page_name(p.name) for p in nbs]
    assert len(pages) == len(set(pages)), 'two notebooks share a page'
    assert all(page_name(p.name) == page_name(solutions_topic(p.name)) + '_solutions' for p in sols)
    toc = {c['id']: c['source'] for c in docs_build._toctree([(p, page_name(p.name)) for p in nbs])}
    if sols:
        assert list(toc)[-2:] == ['toc-topics', 'toc-solutions']
        assert toc['toc-solutions'].split('\n\n')[1].strip('`\n').split('\n') == [page_name(p.name) for p in sols]
    else:
        assert 'toc-solutions' not in toc


def test_solved_reads_both_assert_forms(tmp_path):
    "`assert check(k, x)` / `assert not check(k, x)` and `r = check(k, x)` then `assert r` / `assert not r` count; other asserts do not."
    nb = tmp_path / 'nbs' / 'solutions' / '99_toy_solutions.ipynb'
    _write_nb(nb, [_cell('code', "assert check('99.1', softmax)"),
                   _cell('code', "r = check('99.1', softmax_naive)\nassert not r"),
                   _cell('code', "r = check('99.2', f)\nif True:\n    assert r"),
                   _cell('code', "r = 3\nassert r"),
                   _cell('code', "check('99.3', f)\nassert not ok")])
    found = solved(nb)
    assert found == {'99.1': {'pass': [0], 'fail': [1]}, '99.2': {'pass': [2], 'fail': []}}
