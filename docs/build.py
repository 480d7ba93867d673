"""Build the seqlab docs site into `_site/`, offline: `python docs/build.py` (that is `make docs`).

1. nbdev's own processing of `nbs/*.ipynb` and `nbs/solutions/*.ipynb` (`nbdev.serve.proc_nbs`:
   front matter, `show_doc` for every exported name, hidden and export-only cells dropped) into `_proc/`;
2. `docs/myst_proc.py` maps the Quarto syntax that nbdev writes to MyST, one `_docs/<page>.ipynb`
   per notebook, plus the navigation (foundations, topics, then the topics' worked solutions) on
   the home page; a solutions notebook `nbs/solutions/15_imdb_solutions.ipynb` is the page
   `imdb_solutions`, and its Colab badge opens it in `nbs/solutions/`;
3. Sphinx with myst-nb (stored outputs, nothing re-executed) and sphinx-book-theme -> `_site/`;
4. checks: every notebook has its page and its place in the navigation.

The build fails, naming the notebook, on a notebook that is not valid JSON, that has a stored
error output, whose API cells fail, that has no title, or that ends up without a page, and on a
solutions notebook that is not named after a topic notebook; Sphinx warnings fail it too. It is
skipped when nothing it reads has changed (`--force` rebuilds).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from configparser import ConfigParser
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
from myst_proc import (SOLUTIONS, BrokenNotebook, is_solutions, nb_number, page_name,  # noqa: E402
                       process_nb, solutions_topic)

STAMP = '.seqlab-build.json'
# the navigation's sections, in order: which notebooks each one lists
SECTIONS = [('Foundations', lambda p: not is_solutions(p) and nb_number(p.name) is not None and nb_number(p.name) < 10),
            ('Topics', lambda p: not is_solutions(p) and nb_number(p.name) is not None and nb_number(p.name) >= 10),
            ('Solutions', is_solutions)]


def settings(root: Path) -> dict:
    "The `[DEFAULT]` section of `settings.ini`."
    cp = ConfigParser(delimiters=['='])
    if not cp.read(root / 'settings.ini', encoding='utf-8'):
        raise SystemExit(f'No settings.ini in {root}: run the docs build from the project root.')
    return dict(cp['DEFAULT'])


def notebooks(root: Path) -> list[Path]:
    "The notebooks that get a page: `nbs/*.ipynb`, `index` first, then in number order, then `nbs/solutions/*.ipynb`."
    nbs = root / settings(root).get('nbs_path', 'nbs')
    found = [p for d in (nbs, nbs / SOLUTIONS) for p in d.glob('*.ipynb') if not p.name.startswith(('_', '.'))]
    return sorted(found, key=lambda p: (p.stem != 'index', is_solutions(p), nb_number(p.name) is None,
                                        nb_number(p.name) or 0, p.name))


def _check_solutions(root: Path, nbs: list[Path]):
    "Each solutions notebook is named after a topic notebook, and nbdev looks into `nbs/solutions/`."
    names = {p.name for p in nbs if not is_solutions(p)}
    sols = [p for p in nbs if is_solutions(p)]
    for p in sols:
        topic = solutions_topic(p.name)
        if topic not in names:
            want = f'{Path(topic).stem} solves the exercises of {topic}, which does not exist' if topic else \
                'its name does not end in _solutions.ipynb'
            raise BrokenNotebook(f'{p}: a solutions notebook is named after its topic notebook, NN_<topic>_solutions.ipynb '
                                 f'(15_imdb_solutions.ipynb for 15_imdb.ipynb); {want}.')
    if sols and settings(root).get('recursive', 'False').strip().lower() not in ('true', '1', 'yes'):
        raise BrokenNotebook(f'settings.ini has recursive = False, so nbdev skips nbs/{SOLUTIONS}/ '
                             f'({sols[0].name}, ...): set recursive = True.')


def digest(root: Path) -> str:
    "A hash of everything the site is built from (notebooks, library, docs config)."
    h = hashlib.sha256()
    files = notebooks(root) + sorted((root / 'seqlab').glob('*.py')) + [root / 'settings.ini']
    files += sorted(p for p in DOCS.rglob('*') if p.is_file() and '__pycache__' not in p.parts)
    for p in files:
        h.update(str(p.relative_to(root) if p.is_relative_to(root) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def is_fresh(root: Path) -> bool:
    "True when `_site/` was built from the notebooks and docs files as they are now."
    stamp = root / '_site' / STAMP
    try:
        return json.loads(stamp.read_text())['digest'] == digest(root)
    except (OSError, ValueError, KeyError):
        return False


def _check_json(nbs: list[Path]):
    for p in nbs:
        try:
            nb = json.loads(p.read_text(encoding='utf-8'))
            assert isinstance(nb, dict) and isinstance(nb.get('cells'), list), 'no "cells" list'
        except Exception as e:
            raise BrokenNotebook(f'{p}: not a readable notebook ({e}); open it in Jupyter and save it again, '
                                 f'or restore it from git.') from e


def _filter_defaults():
    "nbdev's processors, with `exec_show_docs` running only the imports of a mixed cell."
    import ast
    from nbdev import processors as P

    class exec_show_docs_imports(P.exec_show_docs):
        """nbdev runs a cell that mixes imports with other code (and warns); a demo that uses a name
        from a cell nbdev skips would then fail the build, and a training demo would train. Here such
        a cell contributes its import statements only; everything else runs as in nbdev."""
        def __call__(self, cell):
            trees = cell.parsed_() if cell.cell_type == 'code' and cell.source else None
            mixed = (trees and P.cell_lang(cell) == 'python'
                     and not (cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'})
                     and not P._show_docs(trees)
                     and any(isinstance(n, (ast.Import, ast.ImportFrom)) for t in trees for n in ast.walk(t))  # nested too
                     and not all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees))
            if not mixed:
                return super().__call__(cell)
            if not self.nb.has_docs_ or not hasattr(self, 'k'):
                return
            if cell.directives_.get('eval:', [''])[0].lower() == 'false':
                return
            code = '\n'.join(ast.unparse(t) for t in trees if isinstance(t, (ast.Import, ast.ImportFrom)))
            if not code:  # imports only inside an `if` or a function: they belong to the demo, which the docs do not run
                return
            self.k.run(code)
            if self.k.exc:
                title = getattr(self.nb, 'frontmatter_', {}).get('title', '')
                raise Exception(f"Error in notebook: {title} in the imports of cell {cell.idx_}:\n{code}") from self.k.exc

    class SeqlabFilter(P.FilterDefaults):
        def base_procs(self):
            return [exec_show_docs_imports if p is P.exec_show_docs else p for p in super().base_procs()]

    return SeqlabFilter


def nbdev_proc(root: Path, nbs: list[Path]) -> Path:
    "Run nbdev's docs processing (`proc_nbs`, in this process) and return its cache folder."
    from unittest import mock
    import nbdev.serve
    from nbdev.config import get_config
    cwd, in_test = os.getcwd(), os.environ.get('IN_TEST')
    os.chdir(root)
    get_config.cache_clear()  # nbdev caches the settings of the first project it saw
    try:
        with mock.patch.object(nbdev.serve, 'FilterDefaults', _filter_defaults()):
            proc = Path(nbdev.serve.proc_nbs(n_workers=0, force=True))
        if proc.resolve() != (root / '_proc').resolve():
            raise BrokenNotebook(f'nbdev processed {proc}, not {root / "_proc"}')
        return proc
    except Exception as e:
        raise BrokenNotebook(f'nbdev could not process the notebooks: {e}\n'
                             f'(the cell above fails when its exported code and `show_doc` run)') from e
    finally:
        os.chdir(cwd)
        get_config.cache_clear()
        if in_test is None:  # nbdev sets IN_TEST while it processes and leaves it set when a notebook fails
            os.environ.pop('IN_TEST', None)


def _toctree(pages: list[tuple[Path, str]]) -> list[dict]:
    "Hidden toctrees, one per section, in notebook order: that is the site's navigation."
    cells = []
    for caption, want in SECTIONS:
        names = [page for nb, page in pages if want(nb)]
        if names:
            src = '```{toctree}\n:hidden:\n:caption: ' + caption + '\n\n' + '\n'.join(names) + '\n```'
            cells.append({'cell_type': 'markdown', 'id': f'toc-{caption.lower()}', 'metadata': {}, 'source': src})
    return cells


def _colab_badge(s: dict, rel: str) -> str:
    "The badge that opens `rel` (a path inside nbs/, e.g. 'solutions/15_imdb_solutions.ipynb') in Colab."
    repo = s.get('git_url', '').replace('https://github.com/', '').strip('/')
    url = f"https://colab.research.google.com/github/{repo}/blob/{s.get('branch', 'main')}/{s.get('nbs_path', 'nbs')}/{rel}"
    return f'[![Open In Colab](_static/colab-badge.svg)]({url})'


def _unlink_dangling(md: str, anchors: dict[str, set]) -> str:
    "nbdev links every backticked name it knows, private ones too; those without an API entry stay code."
    def sub(m):
        page, anchor = m.group(2), m.group(3)
        return m.group(1) if page in anchors and anchor not in anchors[page] else m.group(0)
    return re.sub(r'\[(`[^`\]]+`)\]\(([\w-]+)\.html#([^)\s]+)\)', sub, md)


def _write_if_changed(path: Path, text: str):
    if not path.exists() or path.read_text(encoding='utf-8') != text:
        path.write_text(text, encoding='utf-8')


def myst_sources(root: Path, nbs: list[Path], proc: Path) -> Path:
    "Write one MyST notebook per notebook into `_docs/`, the Sphinx source folder."
    s = settings(root)
    src = root / '_docs'
    src.mkdir(exist_ok=True)
    site_url = s.get('doc_host', '').rstrip('/') + s.get('doc_baseurl', '')
    nbs_dir = root / s.get('nbs_path', 'nbs')
    pages = [(p, page_name(p.name)) for p in nbs]
    dup = {pg for _, pg in pages if sum(pg == q for _, q in pages) > 1}
    if dup:
        raise BrokenNotebook(f'two notebooks would share the page(s) {sorted(dup)}: rename one of them.')
    processed = {}
    for p, (_, page) in zip(nbs, pages):
        pp = proc / p.relative_to(nbs_dir)
        if not pp.exists():
            raise BrokenNotebook(f'{p}: nbdev produced no processed copy ({pp}).')
        processed[page] = process_nb(json.loads(pp.read_text(encoding='utf-8')), p.name, site_url)
    anchors = {page: {a for c in nb['cells'] if c['cell_type'] == 'markdown'
                      for a in re.findall(r'<div id="([^"]+)" class="sd-anchor">', c['source'])}
               for page, nb in processed.items()}
    for p, (_, page) in zip(nbs, pages):
        nb = processed[page]
        for c in nb['cells']:
            if c['cell_type'] == 'markdown':
                c['source'] = _unlink_dangling(c['source'], anchors)
        for i, c in enumerate(nb['cells']):
            c.setdefault('id', f'c{i}')
        if p.stem == 'index':
            nb['cells'] += _toctree(pages)
        else:
            nb['cells'].insert(1, {'cell_type': 'markdown', 'id': 'colab-badge', 'metadata': {},
                                   'source': _colab_badge(s, p.relative_to(nbs_dir).as_posix())})
        _write_if_changed(src / f'{page}.ipynb', json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    keep = {f'{pg}.ipynb' for _, pg in pages}
    for old in src.glob('*.ipynb'):
        if old.name not in keep:
            old.unlink()
    (src / '_static').mkdir(exist_ok=True)
    shutil.copy2(DOCS / '_static' / 'colab-badge.svg', src / '_static' / 'colab-badge.svg')
    return src


def sphinx(root: Path, src: Path, site: Path, doctrees: Path, quiet: bool = True):
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(DOCS), '-d', str(doctrees),
           '-W', '--keep-going', '-j', 'auto', str(src), str(site)]
    if quiet:
        cmd.insert(3, '-q')
    r = subprocess.run(cmd, cwd=root)
    if r.returncode:
        raise SystemExit(f'Sphinx failed (exit {r.returncode}): see the warnings above; '
                         f'each names the page (_docs/<page>.ipynb comes from nbs/<NN>_<page>.ipynb, '
                         f'_docs/<topic>_solutions.ipynb from nbs/{SOLUTIONS}/<NN>_<topic>_solutions.ipynb).')


def check_site(site: Path, nbs: list[Path]):
    "Every notebook has its page and a place in the navigation, in notebook order."
    missing = [p.name for p in nbs if not (site / f'{page_name(p.name)}.html').exists()]
    if missing:
        raise SystemExit(f'No page was built for: {", ".join(missing)}.')
    home = (site / 'index.html').read_text(encoding='utf-8')
    nav = re.search(r'<nav class="[^"]*bd-docs-nav[^"]*".*?</nav>', home, flags=re.DOTALL)
    if not nav:
        raise SystemExit('The home page has no navigation (sidebar).')
    hrefs = re.findall(r'href="([\w-]+)\.html"', nav.group(0))
    want = [page_name(p.name) for p in nbs if p.stem != 'index']
    absent = [w for w in want if w not in hrefs]
    if absent:
        raise SystemExit(f'These pages are missing from the navigation: {", ".join(absent)}.')
    order = [h for h in dict.fromkeys(hrefs) if h in want]
    if order != want:
        raise SystemExit(f'Navigation order {order} differs from the notebook order {want}.')


def build(root: Path | str = '.', force: bool = False, quiet: bool = True) -> Path:
    "Build `root/_site` from `root/nbs`; returns the site folder."
    root = Path(root).resolve()
    site, doctrees = root / '_site', root / 'build' / 'docs' / 'doctrees'
    if not force and is_fresh(root):
        print(f'docs: {site} is up to date')
        return site
    t0 = time.time()
    nbs = notebooks(root)
    if not any(p.stem == 'index' for p in nbs):
        raise BrokenNotebook('nbs/index.ipynb is missing: it is the home page (and the README).')
    _check_json(nbs)
    _check_solutions(root, nbs)
    dig = digest(root)
    proc = nbdev_proc(root, nbs)
    src = myst_sources(root, nbs, proc)
    pages = sorted(page_name(p.name) for p in nbs)
    old = site / STAMP
    try:
        same_pages = json.loads(old.read_text())['pages'] == pages
    except (OSError, ValueError, KeyError):
        same_pages = False
    if force or not same_pages:  # a page came or went: start from scratch, leave no stale page
        shutil.rmtree(root / 'build' / 'docs', ignore_errors=True)
    html = root / 'build' / 'docs' / 'html'  # myst-nb keeps its image files beside it, in build/docs
    if not html.exists():
        shutil.rmtree(doctrees, ignore_errors=True)
    sphinx(root, src, html, doctrees, quiet=quiet)
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(html, site, ignore=shutil.ignore_patterns('.buildinfo', '.doctrees', '_sources'))
    check_site(site, nbs)
    (site / '.nojekyll').touch()
    (site / STAMP).write_text(json.dumps({'digest': dig, 'pages': pages}))
    print(f'docs: built {len(nbs)} pages into {site} in {time.time() - t0:.0f} s')
    return site


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=str(DOCS.parent), help='project root (holds settings.ini and nbs/)')
    ap.add_argument('--force', action='store_true', help='rebuild everything, even when up to date')
    ap.add_argument('--verbose', action='store_true', help="show Sphinx's progress")
    a = ap.parse_args(argv)
    try:
        build(a.root, force=a.force, quiet=not a.verbose)
    except BrokenNotebook as e:
        print(f'docs: FAILED: {e}', file=sys.stderr)
        return 1
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f'docs: FAILED: {e.code}', file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == '__main__':
    sys.exit(main())
