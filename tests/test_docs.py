"""The docs site, the README and the Colab entry points.

- `make docs` output (`_site/`, rebuilt here when stale): one page per notebook (the worked solutions
  in `nbs/solutions/` too), the navigation in notebook order (foundations, topics, solutions), no raw `#|` option lines or `:::` fences, nothing loaded from another host,
  every internal link and anchor resolves, the API reference from `show_doc`;
- the build fails, naming the notebook, on a broken notebook;
- the Quarto -> MyST processor (`docs/myst_proc.py`) on each construct it maps;
- README.md and the home page's table of notebooks are up to date (`docs/readme.py --check`);
- every notebook installs seqlab in its first code cell when it runs in Colab.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build as docs_build  # noqa: E402
import readme as docs_readme  # noqa: E402
from myst_proc import (BrokenNotebook, convert_callouts, fix_links, is_solutions, page_name,  # noqa: E402
                       parse_options, process_nb, showdoc_md, solutions_topic)

NBS = docs_build.notebooks(ROOT)


# ---------------------------------------------------------------------------------------------
# The built site
@pytest.fixture(scope='module')
def site():
    return docs_build.build(ROOT)


class _Page(HTMLParser):
    "Visible text, ids, links and external resources of one HTML page."
    def __init__(self):
        super().__init__()
        self.text, self.ids, self.hrefs, self.external, self._skip = [], set(), [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ('script', 'style'):
            self._skip += 1
        if 'id' in a:
            self.ids.add(a['id'])
        if tag == 'a' and a.get('href'):
            self.hrefs.append(a['href'])
        url = a.get('src') if tag in ('script', 'img', 'iframe', 'source', 'audio', 'video') else \
            a.get('href') if tag == 'link' else None
        if url and re.match(r'^(https?:)?//', url):
            self.external.append(f'<{tag}> {url}')

    def handle_endtag(self, tag):
        if tag in ('script', 'style'):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding='utf-8'))
    return p


def _html_pages(site):
    return sorted(site.glob('*.html'))


def test_every_notebook_has_a_page(site):
    for nb in NBS:
        page = site / f'{page_name(nb.name)}.html'
        assert page.exists(), f'{nb.name} has no page'
        title = re.search(r'<h1>([^<]*)<a class="headerlink"', page.read_text(encoding='utf-8'))
        assert title, f'{page.name} has no title'
        if nb.stem != 'index':
            assert title.group(1).strip() == docs_readme.nb_info(nb)['title']
    docs_build.check_site(site, NBS)  # and its place in the navigation, in notebook order


def test_navigation_order(site):
    home = (site / 'index.html').read_text(encoding='utf-8')
    nav = re.search(r'<nav class="[^"]*bd-docs-nav[^"]*".*?</nav>', home, flags=re.DOTALL).group(0)
    hrefs = list(dict.fromkeys(re.findall(r'href="([\w-]+)\.html"', nav)))
    assert len(hrefs) == len(set(hrefs))
    want = [page_name(p.name) for p in NBS if p.stem != 'index']
    assert [h for h in hrefs if h in want] == want
    numbers = [docs_build.nb_number(p.name) for p in NBS if p.stem != 'index' and not is_solutions(p)]
    assert numbers == sorted(numbers), 'foundations (00-08) first, then topics (10-17)'
    sols = [is_solutions(p) for p in NBS if p.stem != 'index']
    assert sols == sorted(sols), 'the worked solutions come after the topics'
    captions = re.findall(r'<span class="caption-text">([^<]+)</span>', nav)
    assert captions == [c for c, want in docs_build.SECTIONS if any(want(p) for p in NBS)]


def test_no_raw_options_or_fences(site):
    for page in _html_pages(site):
        lines = ''.join(_parse(page).text).splitlines()
        raw = [l for l in lines if re.match(r'^\s*#\s*\|', l)]
        assert not raw, f'{page.name} shows raw cell options: {raw[:3]}'
        fences = [l for l in lines if re.match(r'^\s*:{3,}', l)]
        assert not fences, f'{page.name} shows raw fences: {fences[:3]}'
        assert 'google.colab' not in ''.join(_parse(page).text), f'{page.name} shows the Colab install cell'


def test_nothing_loaded_from_another_host(site):
    for page in _html_pages(site):
        ext = _parse(page).external
        assert not ext, f'{page.name} loads {ext[:3]}: the site must work offline'
    for css in (site / '_static').rglob('*.css'):
        urls = re.findall(r'url\(\s*[\'"]?(https?://[^)\'"]+)', css.read_text(encoding='utf-8', errors='replace'))
        assert not urls, f'{css.relative_to(site)} loads {urls[:3]}'


def test_internal_links_resolve(site):
    ids = {p.name: _parse(p).ids for p in _html_pages(site)}
    bad = []
    for page in _html_pages(site):
        for href in _parse(page).hrefs:
            if re.match(r'^([a-z]+:|//|#$)', href) or href.startswith('mailto:'):
                continue
            path, _, anchor = href.partition('#')
            target = page.name if not path else path.split('?')[0]
            if not (site / target).exists():
                bad.append(f'{page.name} -> {href} (no such file)')
            elif anchor and target.endswith('.html') and anchor not in ids.get(target, set()):
                bad.append(f'{page.name} -> {href} (no such anchor)')
    assert not bad, '\n'.join(bad[:20])


def test_api_reference_from_show_doc(site):
    core = _parse(site / 'core.html')
    for name in ['default_device', 'set_seed', 'quick_mode', 'mode_banner', 'env_report']:
        assert name in core.ids, f'no API entry (anchor) for {name}'
    html = (site / 'core.html').read_text(encoding='utf-8')
    assert 'force a device' in html  # docments: parameter comments in the signature
    assert 'https://github.com/seqlab/seqlab/blob/main/seqlab/core.py#L' in html  # source links


def test_plots_and_tables_are_shown(site):
    imgs = [p for p in _html_pages(site) if re.search(r'<img[^>]+src="_images/[^"]+\.png"', p.read_text(encoding='utf-8'))]
    assert imgs, 'no page shows a stored plot'
    for page in _html_pages(site):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text(encoding='utf-8')):
            if src.startswith('data:'):  # an image inlined in stored HTML (a widget's snapshot): it needs no file
                assert src.startswith('data:image/png;base64,iVBOR'), f'{page.name}: an inline image that is not a PNG: {src[:60]}'
                continue
            assert (site / src).exists(), f'{page.name}: image {src} is missing'
    assert '<table' in (site / 'index.html').read_text(encoding='utf-8')


def test_search_is_local(site):
    assert (site / 'search.html').exists() and (site / 'searchindex.js').exists()
    index = (site / 'searchindex.js').read_text(encoding='utf-8')
    for nb in NBS:
        assert f'"{page_name(nb.name)}"' in index, f'{nb.name} is not in the search index'


def test_up_to_date_build_is_skipped(site, capsys, monkeypatch):
    stamp = json.loads((site / docs_build.STAMP).read_text())
    monkeypatch.setattr(docs_build, 'digest', lambda root: stamp['digest'])  # inputs as they were built
    assert docs_build.is_fresh(ROOT)
    docs_build.build(ROOT)
    assert 'up to date' in capsys.readouterr().out
    monkeypatch.setattr(docs_build, 'digest', lambda root: 'changed')
    assert not docs_build.is_fresh(ROOT)


# ---------------------------------------------------------------------------------------------
# The build fails on a broken notebook
def _mini_project(tmp_path: Path, extra: dict[str, str]) -> Path:
    "A project with settings.ini, the home page and `extra` notebooks (path inside nbs/ -> JSON text)."
    shutil.copy(ROOT / 'settings.ini', tmp_path / 'settings.ini')
    (tmp_path / 'nbs').mkdir()
    shutil.copy(ROOT / 'nbs' / 'index.ipynb', tmp_path / 'nbs' / 'index.ipynb')
    for name, text in extra.items():
        (tmp_path / 'nbs' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'nbs' / name).write_text(text, encoding='utf-8')
    return tmp_path


def _nb(*cells) -> str:
    return json.dumps({'cells': list(cells), 'metadata': {'kernelspec': {'name': 'python3', 'language': 'python',
                       'display_name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5})


def _md(src):
    return {'cell_type': 'markdown', 'metadata': {}, 'source': src}


def _code(src, outputs=()):
    return {'cell_type': 'code', 'metadata': {}, 'source': src, 'outputs': list(outputs), 'execution_count': None}


@pytest.mark.parametrize('name,text,msg', [
    ('07_bad.ipynb', '{"cells": [', 'not a readable notebook'),
    ('07_err.ipynb', _nb(_md('# Bad\n\n> broken'), _code('1/0', [{'output_type': 'error', 'ename': 'ZeroDivisionError',
                                                                     'evalue': 'division by zero', 'traceback': []}])),
     'stored error output'),
    ('07_notitle.ipynb', _nb(_code('x = 1')), 'no title'),
    ('07_showdoc.ipynb', _nb(_md('# Bad\n\n> broken'), _code('from seqlab.no_such_module import thing'),
                             _code('show_doc(thing)')),
     'nbdev could not process'),
])
def test_build_fails_on_a_broken_notebook(tmp_path, capsys, name, text, msg):
    root = _mini_project(tmp_path, {name: text})
    assert docs_build.main(['--root', str(root)]) == 1
    err = capsys.readouterr().err
    assert msg in err
    if msg != 'nbdev could not process':
        assert name in err
    assert not (root / '_site' / 'index.html').exists()


@pytest.mark.parametrize('name,msg', [
    ('solutions/07_other_solutions.ipynb', '07_other.ipynb, which does not exist'),
    ('solutions/07_mini.ipynb', 'its name does not end in _solutions.ipynb'),
])
def test_build_fails_on_a_misnamed_solutions_notebook(tmp_path, capsys, name, msg):
    nb = _nb(_md('# Mini\n\n> A small notebook.'))
    root = _mini_project(tmp_path, {'07_mini.ipynb': nb, name: nb})
    assert docs_build.main(['--root', str(root)]) == 1
    err = capsys.readouterr().err
    assert 'NN_<topic>_solutions.ipynb' in err and msg in err and Path(name).name in err


def test_build_needs_nbdev_to_look_into_solutions(tmp_path, capsys):
    nb = _nb(_md('# Mini\n\n> A small notebook.'))
    root = _mini_project(tmp_path, {'07_mini.ipynb': nb, 'solutions/07_mini_solutions.ipynb': nb})
    ini = root / 'settings.ini'
    ini.write_text(re.sub(r'^recursive = .*$', 'recursive = False', ini.read_text(), flags=re.MULTILINE))
    assert docs_build.main(['--root', str(root)]) == 1
    assert 'set recursive = True' in capsys.readouterr().err


def test_solutions_notebooks_are_listed_last(tmp_path):
    nb = _nb(_md('# Mini\n\n> A small notebook.'))
    names = ['12_b.ipynb', '03_a.ipynb', 'solutions/12_b_solutions.ipynb', 'solutions/03_a_solutions.ipynb', '_hidden.ipynb']
    root = _mini_project(tmp_path, dict.fromkeys(names, nb))
    nbs = docs_build.notebooks(root)
    assert [p.relative_to(root / 'nbs').as_posix() for p in nbs] == [
        'index.ipynb', '03_a.ipynb', '12_b.ipynb', 'solutions/03_a_solutions.ipynb', 'solutions/12_b_solutions.ipynb']
    assert [page_name(p.name) for p in nbs] == ['index', 'a', 'b', 'a_solutions', 'b_solutions']
    assert solutions_topic('solutions/12_b_solutions.ipynb') == '12_b.ipynb' and solutions_topic('12_b.ipynb') is None
    toc = docs_build._toctree([(p, page_name(p.name)) for p in nbs])
    assert [c['id'] for c in toc] == ['toc-foundations', 'toc-topics', 'toc-solutions']
    assert toc[-1]['source'].endswith(':caption: Solutions\n\na_solutions\nb_solutions\n```')
    s = docs_build.settings(root)
    assert docs_build._colab_badge(s, 'solutions/12_b_solutions.ipynb').endswith(
        '(https://colab.research.google.com/github/seqlab/seqlab/blob/main/nbs/solutions/12_b_solutions.ipynb)')


def test_nbdev_processing_runs_only_the_imports_of_mixed_cells(tmp_path):
    "nbdev would run a cell that mixes imports with a demo (a training run, say); the build runs its imports only."
    marker = tmp_path / 'demo_ran.txt'
    nb = _nb(_md('# Mini\n\n> A small notebook.'),
             _code('#| default_exp mini'),
             _code('#| export\ndef double(x: int):  # a number\n    "Twice `x`."\n    return 2 * x'),
             _code(f'import pathlib, math\npathlib.Path({str(marker)!r}).write_text(str(math.pi))\nnot_defined_here'),
             _code('import math'))
    root = _mini_project(tmp_path, {'07_mini.ipynb': nb})
    proc = docs_build.nbdev_proc(root, docs_build.notebooks(root))
    out = json.loads((proc / '07_mini.ipynb').read_text())
    md = [''.join(o['data']['text/markdown']) for c in out['cells'] for o in c.get('outputs', [])
          if 'text/markdown' in o.get('data', {})]
    assert any('### double' in m and 'Twice' in m for m in md), 'show_doc(double) was not rendered'
    assert not marker.exists(), 'the demo in a mixed cell ran during the docs build'
    assert (root / '_proc').resolve() == proc.resolve()


def test_missing_page_or_nav_entry_fails(tmp_path, site):
    fake = tmp_path / 'site'
    shutil.copytree(site, fake, ignore=shutil.ignore_patterns('_static', '_images'))
    docs_build.check_site(fake, NBS)
    (fake / 'core.html').unlink()
    with pytest.raises(SystemExit, match='No page was built for: 00_core.ipynb'):
        docs_build.check_site(fake, NBS)
    extra = NBS + [ROOT / 'nbs' / '99_extra.ipynb']
    shutil.copy(site / 'core.html', fake / 'core.html')
    (fake / 'extra.html').write_text('<html></html>')
    with pytest.raises(SystemExit, match='missing from the navigation: extra'):
        docs_build.check_site(fake, extra)
    # a link in the page body is not a place in the navigation
    home = (fake / 'index.html').read_text(encoding='utf-8')
    (fake / 'index.html').write_text(home.replace('</article>', '<a href="extra.html">x</a></article>'))
    with pytest.raises(SystemExit, match='missing from the navigation: extra'):
        docs_build.check_site(fake, extra)


# ---------------------------------------------------------------------------------------------
# The Quarto -> MyST processor
def test_parse_options():
    opts, body = parse_options('#| echo: false\n#| output: asis\n#|hide\nshow_doc(f)\n#| hide_line\nx = 1')
    assert opts == {'echo': False, 'output': 'asis', 'hide': True}
    assert body == 'show_doc(f)\nx = 1'
    assert parse_options('x = 1  #| not an option') == ({}, 'x = 1  #| not an option')
    assert parse_options('#| code-fold: show\n#| code-summary: "Exported source"\ndef f(): pass')[0] == \
        {'code-fold': 'show', 'code-summary': 'Exported source'}


def test_convert_callouts():
    md = '::: {.callout-warning}\n## Careful\n\nText\n:::'
    assert convert_callouts(md) == ':::{admonition} Careful\n:class: warning\n\n\nText\n:::'
    assert convert_callouts('::: {.callout-tip}\nA tip\n:::') == ':::{tip}\nA tip\n:::'
    assert convert_callouts('::: {.callout-note title="Hi" collapse="true"}\nx\n:::').startswith(
        ':::{admonition} Hi\n:class: note dropdown')
    nested = ':::: {.callout-note}\nouter\n::: {.callout-tip}\ninner\n:::\n::::'
    assert convert_callouts(nested) == '::::{note}\nouter\n:::{tip}\ninner\n:::\n::::'
    assert convert_callouts('::: {.column-margin}\nside\n:::') == ':::{container} column-margin\nside\n:::'
    code = '```\n::: {.callout-note}\n```'
    assert convert_callouts(code) == code  # fences inside code blocks are code
    with pytest.raises(ValueError, match='unclosed'):
        convert_callouts('::: {.callout-note}\nno end')


def test_fix_links():
    md = '[`f`](https://seqlab.github.io/seqlab/core.html#f) and [nb](03_embeddings.ipynb#x) ' \
         '![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)'
    assert fix_links(md, 'https://seqlab.github.io/seqlab') == \
        '[`f`](core.html#f) and [nb](embeddings.html#x) ![Open In Colab](_static/colab-badge.svg)'
    # the worked solutions: from a topic to its solutions, back, and between solutions (all pages in one folder)
    md = ('[worked solutions](solutions/15_imdb_solutions.ipynb), [back](../15_imdb.ipynb#exercises), '
          '[next](16_audio_solutions.ipynb), [home](../index.ipynb), [code](../seqlab/imdb.py)')
    assert fix_links(md, '') == ('[worked solutions](imdb_solutions.html), [back](imdb.html#exercises), '
                                 '[next](audio_solutions.html), [home](index.html), [code](../seqlab/imdb.py)')


def test_showdoc_md():
    md = ('---\n\n[source](https://github.com/seqlab/seqlab/blob/main/seqlab/data.py#L9){target="_blank" '
          'style="float:right; font-size:smaller"}\n\n### Vocab.build\n\n```python\ndef build()\n```\n\n*Build.*')
    out = showdoc_md(md)
    assert out.startswith('### Vocab.build\n\n<div id="vocab.build" class="sd-anchor"></div>')
    assert '<a href="https://github.com/seqlab/seqlab/blob/main/seqlab/data.py#L9">[source]</a>' in out
    assert '---' not in out and '{target' not in out


def test_process_nb_maps_cell_options():
    fm = {'cell_type': 'raw', 'metadata': {}, 'source': '---\ntitle: Data\ndescription: From text to batches\n'
                                                          'output-file: data.html\n---\n\n'}
    cells = [fm,
             _md('<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->'),
             _code('#| echo: false\nprint(1)', [{'output_type': 'stream', 'name': 'stdout', 'text': '1\n'}]),
             _code('#| include: false\nsecret = 1'),
             _code('#| output: false\nx = 1', [{'output_type': 'stream', 'name': 'stdout', 'text': 'noise\n'}]),
             _code('#| echo: false\n#| output: asis\nshow_doc(f)',
                   [{'output_type': 'execute_result', 'metadata': {}, 'execution_count': 1,
                     'data': {'text/markdown': '---\n\n### f\n\n```python\ndef f()\n```', 'text/plain': 'f'}}]),
             _code('#| code-fold: true\ndef g(): pass'),
             _code('#| code-fold: show\n#| code-summary: "Exported source"\ndef h(): pass'),
             _md('::: {.callout-note}\nRemember\n:::')]
    nb = process_nb({'cells': cells, 'metadata': {}}, '01_data.ipynb', 'https://seqlab.github.io/seqlab')
    out = nb['cells']
    assert out[0]['source'] == '# Data\n\n{.lead}\nFrom text to batches'
    assert out[1]['metadata']['tags'] == ['remove-input'] and out[1]['source'] == 'print(1)'
    assert out[2]['metadata']['tags'] == ['remove-output']
    assert out[3]['cell_type'] == 'markdown' and out[3]['source'].startswith('### f\n\n<div id="f"')
    assert out[4]['metadata']['tags'] == ['hide-input']
    assert 'tags' not in out[5]['metadata'] and out[5]['source'] == 'def h(): pass'
    assert out[6]['source'] == ':::{note}\nRemember\n:::'
    assert len(out) == 7  # the warning comment and the include: false cell are gone
    assert not any('#|' in (c['source'] if isinstance(c['source'], str) else ''.join(c['source'])) for c in out)


def test_process_nb_rejects_error_outputs_and_missing_titles():
    err = _code('1/0', [{'output_type': 'error', 'ename': 'ZeroDivisionError', 'evalue': 'x', 'traceback': []}])
    with pytest.raises(BrokenNotebook, match='04_x.ipynb: cell 1 has a stored error output'):
        process_nb({'cells': [_md('x'), err]}, '04_x.ipynb')
    with pytest.raises(BrokenNotebook, match='no title'):
        process_nb({'cells': [_code('x = 1')]}, '04_x.ipynb')
    with pytest.raises(BrokenNotebook, match='04_x.ipynb: unclosed fenced div'):
        process_nb({'cells': [_md('# T\n\n> s'), _md('::: {.callout-note}\nno end')]}, '04_x.ipynb')


# ---------------------------------------------------------------------------------------------
# README.md and the table of notebooks
def test_readme_is_up_to_date(capsys):
    assert docs_readme.main(['--check']) == 0, capsys.readouterr().err


def test_readme_content():
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert 'make lab' in text and 'make test' in text and 'make run NB=' in text
    assert 'SEQLAB_QUICK' in text and 'make docs' in text
    for knob in ['SEQLAB_SMOKE=1', 'make rehearse', "load_esc10(path=", 'SEQLAB_CHECKSUMS', 'from seqlab.exercises import check']:
        assert knob in text, f'README does not say how to use {knob}'
    numbered = [p for p in NBS if docs_build.nb_number(p.name) is not None]
    for p in numbered:
        rel = p.relative_to(ROOT / 'nbs').as_posix()  # 'solutions/15_imdb_solutions.ipynb' for the worked solutions
        assert f'](nbs/{rel})' in text, f'README does not link {rel}'
        assert f'https://colab.research.google.com/github/seqlab/seqlab/blob/main/nbs/{rel})' in text
        assert docs_readme.nb_info(p)['summary'].replace('|', '\\|') in text
    assert ':::' not in text and '#|' not in text
    assert '> [!NOTE]' in text  # the callout as a GitHub alert


def test_readme_check_fails_when_stale(tmp_path, capsys):
    root = _mini_project(tmp_path, {})
    shutil.copy(ROOT / 'nbs' / '00_core.ipynb', root / 'nbs' / '00_core.ipynb')
    assert docs_readme.main(['--root', str(root)]) == 0
    assert docs_readme.main(['--root', str(root), '--check']) == 0
    # a new notebook: the table and the README are stale until `make readme`
    nb = json.loads((root / 'nbs' / '00_core.ipynb').read_text())
    nb['cells'][0]['source'] = '# Extra\n\n> An extra notebook.'
    (root / 'nbs' / '07_extra.ipynb').write_text(json.dumps(nb))
    capsys.readouterr()
    assert docs_readme.main(['--root', str(root), '--check']) == 1
    assert 'make readme' in capsys.readouterr().err
    assert docs_readme.main(['--root', str(root)]) == 0
    assert 'An extra notebook.' in (root / 'README.md').read_text()
    # a hand edit of README.md is stale too
    (root / 'README.md').write_text((root / 'README.md').read_text() + 'edit\n')
    assert docs_readme.main(['--root', str(root), '--check']) == 1


def test_readme_lists_the_solutions(tmp_path):
    root = _mini_project(tmp_path, {})
    nb = json.loads((ROOT / 'nbs' / '00_core.ipynb').read_text())
    nb['cells'][0]['source'] = '# Mini topic\n\n> A topic.'
    (root / 'nbs' / '12_mini.ipynb').write_text(json.dumps(nb))
    table = docs_readme.notebook_table(root)
    assert '### Solutions' not in table  # none yet: no section
    nb['cells'][0]['source'] = '# Mini topic: worked solutions\n\n> The solution of each exercise.'
    (root / 'nbs' / 'solutions').mkdir()
    (root / 'nbs' / 'solutions' / '12_mini_solutions.ipynb').write_text(json.dumps(nb))
    table = docs_readme.notebook_table(root)
    assert table.index('### Topics') < table.index('### Solutions')
    sols = table[table.index('### Solutions'):]
    assert '| 12 | [Mini topic: worked solutions](solutions/12_mini_solutions.ipynb) | The solution of each exercise. |' in sols
    assert 'https://colab.research.google.com/github/seqlab/seqlab/blob/main/nbs/solutions/12_mini_solutions.ipynb)' in sols
    assert docs_readme.main(['--root', str(root)]) == 0
    readme = (root / 'README.md').read_text()
    assert '](nbs/solutions/12_mini_solutions.ipynb)' in readme and '](nbs/12_mini.ipynb)' in readme


def test_gfm_callouts():
    md = '::: {.callout-tip}\n## Hint\n\nUse it.\n:::\nafter'
    assert docs_readme.gfm_callouts(md) == '> [!TIP]\n> **Hint**\n>\n> Use it.\nafter'


# ---------------------------------------------------------------------------------------------
# Colab
COLAB_GUARD = "'google.colab' in sys.modules"


def _first_code_cell(nb: dict) -> str | None:
    "The first code cell that does something (the `#| default_exp` cell only names the module)."
    for c in nb['cells']:
        if c['cell_type'] != 'code':
            continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if any(l.strip() and not re.match(r'^\s*#\s*\|', l) for l in src.splitlines()):
            return src
    return None


@pytest.mark.parametrize('nb_path', [p for p in NBS if p.stem != 'index'], ids=lambda p: p.name)
def test_notebook_is_committed_with_outputs(nb_path):
    "The docs, GitHub and Colab show the stored quick-mode outputs: a notebook is saved after running."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    ran = [c for c in code if c.get('outputs')]
    assert ran, (f'{nb_path.name} has no stored outputs: run it in quick mode and save it with its outputs '
                 f'(SEQLAB_QUICK=1 jupyter nbconvert --to notebook --execute --inplace {nb_path.name}, then nbdev_clean)')


@pytest.mark.parametrize('nb_path', [p for p in NBS if p.stem != 'index'], ids=lambda p: p.name)
def test_first_code_cell_installs_seqlab_in_colab(nb_path):
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    first = _first_code_cell(nb)
    assert first is not None, f'{nb_path.name} has no code cell'
    assert COLAB_GUARD in first and 'pip install' in first and 'seqlab' in first, (
        f'{nb_path.name}: the first code cell must install seqlab when the notebook runs in Colab, guarded by '
        f'`if {COLAB_GUARD}:` and hidden with `#| hide` (copy the cell from nbs/00_core.ipynb); it is:\n{first[:300]}')
    assert re.match(r'^\s*#\s*\|\s*hide\b', first), f'{nb_path.name}: the Colab cell must be hidden in the docs (`#| hide`)'


# ---------------------------------------------------------------------------------------------
# GitHub Actions
def test_workflows():
    import yaml
    wf = ROOT / '.github' / 'workflows'
    test = yaml.safe_load((wf / 'test.yml').read_text())
    steps = test['jobs']['test']['steps']
    assert test['jobs']['test']['runs-on'].startswith('ubuntu')
    assert any(s.get('with', {}).get('python-version') == '3.11' for s in steps)
    assert any(s.get('run', '').strip() == 'bash .ci/run' for s in steps)
    assert test['jobs']['test']['env']['CI'] == 'true'
    docs = yaml.safe_load((wf / 'docs.yml').read_text())
    build = docs['jobs']['build']['steps']
    assert any(s.get('run', '').strip() == 'make docs' for s in build)
    assert any(s.get('uses', '').startswith('actions/upload-pages-artifact') and s['with']['path'] == '_site' for s in build)
    assert any(s.get('uses', '').startswith('actions/deploy-pages') for s in docs['jobs']['deploy']['steps'])
    assert docs['permissions'] == {'contents': 'read', 'pages': 'write', 'id-token': 'write'}
