"""Turn notebooks processed by nbdev (`nbdev.serve.proc_nbs`) into notebooks that myst-nb renders.

nbdev writes its docs for Quarto: cell options as `#| key: value` lines, callouts as `:::` fenced
divs, `show_doc` cells marked `output: asis`, and the page title in a raw front-matter cell. This
module maps each of those to what MyST and myst-nb understand:

| nbdev / Quarto                   | MyST / myst-nb                                   |
|----------------------------------|--------------------------------------------------|
| `#| echo: false`                 | cell tag `remove-input`                          |
| `#| include: false`              | cell tag `remove-cell`                           |
| `#| output: false`               | cell tag `remove-output`                         |
| `#| output: asis`                | the cell's output becomes a markdown cell        |
| `#| code-fold: true`             | cell tag `hide-input` (folded, click to open)    |
| `::: {.callout-note}` ... `:::`  | `:::{note}` ... `:::` admonition                 |
| front matter (title, summary)    | `# Title` and a lead paragraph                   |

Links that nbdev writes to the published site (`doc_host` + `doc_baseurl`) become relative, so
that the site works offline and from any address. Links between notebooks become links between
pages, which all live in one folder: `03_embeddings.ipynb#vocab` -> `embeddings.html#vocab`, and for
the worked solutions in `nbs/solutions/`, `solutions/15_imdb_solutions.ipynb` (from a topic) ->
`imdb_solutions.html` and `../15_imdb.ipynb#exercises` (from a solutions notebook) -> `imdb.html#exercises`.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

__all__ = ['BrokenNotebook', 'SOLUTIONS', 'page_name', 'nb_number', 'is_solutions', 'solutions_topic',
           'parse_options', 'convert_callouts', 'fix_links', 'showdoc_md', 'process_nb']


class BrokenNotebook(Exception):
    "A notebook that cannot become a docs page (bad JSON, an error output, a failing doc cell)."


def page_name(nb_name: str) -> str:
    "The page (and nbdev doc-link) name of a notebook: `03_embeddings.ipynb` -> `embeddings`."
    stem = Path(nb_name).stem.lower()
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', stem)


def nb_number(nb_name: str) -> int | None:
    "The number in front of a notebook's name (`10_cnn_lstm.ipynb` -> 10), or None (`index`)."
    m = re.match(r'^(\d+)', Path(nb_name).name)
    return int(m.group(1)) if m else None


SOLUTIONS = 'solutions'  # nbs/solutions/: one worked-solutions notebook per topic, `NN_<topic>_solutions.ipynb`


def is_solutions(nb_path) -> bool:
    "True for a worked-solutions notebook, one in `nbs/solutions/`."
    return Path(nb_path).parent.name == SOLUTIONS


def solutions_topic(nb_name: str) -> str | None:
    "The topic notebook whose exercises a solutions notebook solves (`15_imdb_solutions.ipynb` -> `15_imdb.ipynb`), or None."
    m = re.match(r'^(\d+[a-zA-Z0-9]*_[\w-]+?)_solutions\.ipynb$', Path(nb_name).name)
    return f'{m.group(1)}.ipynb' if m else None


# ---------------------------------------------------------------------------------------------
# Cell options
_re_opt = re.compile(r'^\s*#\s*\|\s?(.*)$')


def parse_options(source: str) -> tuple[dict, str]:
    "Split the leading `#|` option lines off a code cell: `(options, remaining source)`."
    lines = source.splitlines()
    opts, i = {}, 0
    while i < len(lines):
        m = _re_opt.match(lines[i])
        if not m:
            if lines[i].strip() == '' and i + 1 < len(lines) and _re_opt.match(lines[i + 1]):
                i += 1
                continue
            break
        body = m.group(1).strip()
        if ':' in body:
            k, v = body.split(':', 1)
            v = v.strip()
            try:
                v = yaml.safe_load(v) if v else True
            except yaml.YAMLError:
                pass
            opts[k.strip()] = v
        elif body:
            for word in body.split():  # nbdev directives: `#| hide`, `#| export mod`
                opts.setdefault(word, True)
                break
        i += 1
    # option lines after the top (e.g. `#| hide_line` already handled by nbdev) never reach the page
    rest = [l for l in lines[i:] if not _re_opt.match(l)]
    return opts, '\n'.join(rest).strip('\n')


def _false(v) -> bool:
    return v is False or (isinstance(v, str) and v.strip().lower() in ('false', 'no', 'off'))


def _true(v) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() in ('true', 'yes', 'on'))


# ---------------------------------------------------------------------------------------------
# Callouts and other fenced divs
_CALLOUTS = {'note': 'note', 'tip': 'tip', 'warning': 'warning', 'caution': 'caution',
             'important': 'important'}
_re_fence_open = re.compile(r'^(?P<indent>\s*)(?P<colons>:{3,})\s*\{(?P<attrs>[^}]*)\}\s*$')
_re_fence_open_bare = re.compile(r'^(?P<indent>\s*)(?P<colons>:{3,})\s*(?P<cls>[A-Za-z][\w-]*)\s*$')
_re_fence_close = re.compile(r'^(?P<indent>\s*)(?P<colons>:{3,})\s*$')
_re_attr = re.compile(r'''([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))''')


def _parse_attrs(attrs: str) -> tuple[list[str], dict]:
    classes = re.findall(r'(?:^|\s)\.([\w-]+)', attrs)
    kv = {m.group(1): next(g for g in m.groups()[1:] if g is not None) for m in _re_attr.finditer(attrs)}
    return classes, kv


def _admonition_open(colons: str, classes: list[str], kv: dict, title: str | None) -> list[str]:
    kind = next((c[len('callout-'):] for c in classes if c.startswith('callout-')), None)
    if kind is not None:
        kind = _CALLOUTS.get(kind, 'note')
        title = kv.get('title') or title
        extra = ['dropdown'] if _true(kv.get('collapse')) else []
        if title:
            return [f'{colons}{{admonition}} {title}', f':class: {" ".join([kind] + extra)}']
        return [f'{colons}{{{kind}}}'] + ([f':class: {" ".join(extra)}'] if extra else [])
    # any other fenced div (`.column-margin`, `.py-2 .border`, ...): a plain container
    cls = ' '.join(c for c in classes) or 'docutils'
    return [f'{colons}{{container}} {cls}']


def convert_callouts(md: str) -> str:
    "Quarto fenced divs (`::: {.callout-note}` ... `:::`) -> MyST colon-fence directives."
    lines = md.splitlines()
    out, stack, i, in_code = [], [], 0, False
    while i < len(lines):
        l = lines[i]
        if l.lstrip().startswith('```'):
            in_code = not in_code
            out.append(l)
            i += 1
            continue
        if in_code:
            out.append(l)
            i += 1
            continue
        m = _re_fence_open.match(l) or _re_fence_open_bare.match(l)
        if m:
            if 'attrs' in m.groupdict():
                classes, kv = _parse_attrs(m.group('attrs'))
            else:
                classes, kv = [m.group('cls')], {}
            # Quarto takes a callout's title from a leading `## Heading` inside it
            title = None
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if any(c.startswith('callout-') for c in classes) and j < len(lines):
                hm = re.match(r'^\s*#{1,6}\s+(.*\S)\s*$', lines[j])
                if hm and not kv.get('title'):
                    title = hm.group(1)
                    lines[j] = ''
            colons = m.group('colons')
            out.extend(m.group('indent') + x for x in _admonition_open(colons, classes, kv, title))
            stack.append(colons)
            i += 1
            continue
        m = _re_fence_close.match(l)
        if m and stack:
            out.append(m.group('indent') + stack.pop())
            i += 1
            continue
        out.append(l)
        i += 1
    if stack:
        raise ValueError(f'unclosed fenced div ({stack[-1]} ...) in markdown:\n{md[:300]}')
    return '\n'.join(out)


# ---------------------------------------------------------------------------------------------
# Links
_COLAB_BADGE = 'https://colab.research.google.com/assets/colab-badge.svg'
# a link between notebooks, relative to the notebook that holds it: `03_embeddings.ipynb`, from a topic
# `solutions/15_imdb_solutions.ipynb`, from a solutions notebook `../15_imdb.ipynb` (all pages share one folder)
_re_nb_link = re.compile(r'\]\((?:\./|\.\./)?(?:' + SOLUTIONS + r'/)?(\d+[a-zA-Z0-9]*_[\w-]+|index)\.ipynb(#[^)]*)?\)')


def fix_links(md: str, site_url: str) -> str:
    "Make links to the published site relative; point notebook links (solutions ones too) at their pages."
    if site_url:
        base = site_url.rstrip('/') + '/'
        md = md.replace('](' + base, '](')
        md = md.replace('href="' + base, 'href="')
    md = _re_nb_link.sub(lambda m: f']({page_name(m.group(1))}.html{m.group(2) or ""})', md)
    md = md.replace(_COLAB_BADGE, '_static/colab-badge.svg')
    return md


_re_src_link = re.compile(r'^\[source\]\((\S+?)\)(?:\{[^}]*\})?[ \t]*\n?', flags=re.MULTILINE)
_re_sd_heading = re.compile(r'^(#{1,6})[ \t]+(\S.*?)[ \t]*$', flags=re.MULTILINE)


def showdoc_md(md: str) -> str:
    "Tidy nbdev's `show_doc` markdown for MyST: heading, nbdev's anchor, source link, signature."
    md = re.sub(r'^\s*---[ \t]*\n', '', md, count=1)
    src = _re_src_link.search(md)
    md = _re_src_link.sub('', md, count=1).lstrip('\n')
    m = _re_sd_heading.search(md)
    if not m:
        return md
    # nbdev links symbols to `page.html#name` (lower case): the entry gets that id too
    anchor = m.group(2).strip('`').lower()
    extra = f'\n\n<div id="{anchor}" class="sd-anchor"></div>'
    if src:
        extra += f'\n\n<div class="sd-source-link"><a href="{src.group(1)}">[source]</a></div>'
    return md[:m.end()] + extra + '\n' + md[m.end():]


# ---------------------------------------------------------------------------------------------
# Cells
def _md_cell(source: str) -> dict:
    return {'cell_type': 'markdown', 'metadata': {}, 'source': source}


def _text(v) -> str:
    return ''.join(v) if isinstance(v, list) else str(v)


def _asis_markdown(cell: dict) -> str:
    "The markdown that an `output: asis` cell prints."
    parts = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout':
            parts.append(_text(o.get('text', '')))
        elif o.get('output_type') in ('execute_result', 'display_data'):
            data = o.get('data', {})
            if 'text/markdown' in data:
                parts.append(_text(data['text/markdown']))
            elif 'text/plain' in data:
                parts.append(_text(data['text/plain']))
    return '\n\n'.join(p.strip('\n') for p in parts if p.strip())


def _error_outputs(cell: dict) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.get('outputs', [])
            if o.get('output_type') == 'error']


def _title_cell(fm: dict) -> dict:
    title = str(fm.get('title') or '').strip()
    src = f'# {title}'
    desc = str(fm.get('description') or '').strip()
    if desc:
        src += '\n\n{.lead}\n' + desc
    return _md_cell(src)


def process_nb(nb: dict, name: str, site_url: str = '') -> dict:
    "Map one nbdev-processed notebook (`nbformat` dict) to a MyST/myst-nb notebook."
    try:
        return _process_nb(nb, name, site_url)
    except ValueError as e:
        raise BrokenNotebook(f'{name}: {e}') from e


def _process_nb(nb: dict, name: str, site_url: str) -> dict:
    nb = copy.deepcopy(nb)
    cells, fm = [], {}
    for idx, cell in enumerate(nb.get('cells', [])):
        src = _text(cell.get('source', ''))
        ctype = cell.get('cell_type')
        if ctype == 'raw':
            m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, flags=re.DOTALL)
            if m and not fm:
                fm = yaml.safe_load(m.group(1)) or {}
                cells.append(_title_cell(fm))
            continue  # other raw cells (Quarto-only output) have no place in the HTML page
        if ctype == 'markdown':
            if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'):
                continue
            cells.append(_md_cell(fix_links(convert_callouts(src), site_url)))
            continue
        if ctype != 'code':
            continue
        errs = _error_outputs(cell)
        if errs:
            raise BrokenNotebook(f'{name}: cell {idx} has a stored error output ({"; ".join(errs)}); '
                                 f'fix the notebook, re-run it and save it with its outputs.\n{src[:400]}')
        opts, body = parse_options(src)
        if _false(opts.get('include')):
            continue  # Quarto drops the whole cell; so does the page
        cell = dict(cell, source=body)
        md = cell.setdefault('metadata', {})
        tags = list(md.get('tags', []))
        if str(opts.get('output', '')).lower() == 'asis':
            text = _asis_markdown(cell)
            if body.strip().startswith('show_doc'):
                text = showdoc_md(text)
            if body and not _false(opts.get('echo', True)):
                cells.append(dict(cell, outputs=[], execution_count=None))
            if text.strip():
                cells.append(_md_cell(fix_links(convert_callouts(text), site_url)))
            continue
        if _false(opts.get('echo', True)):
            tags.append('remove-input')
        if _false(opts.get('output', True)):
            tags.append('remove-output')
        fold = opts.get('code-fold')
        if fold is not None and fold != 'show' and _true(fold):
            tags.append('hide-input')
        if not body.strip() and not cell.get('outputs'):
            continue
        if tags:
            md['tags'] = list(dict.fromkeys(tags))
        cells.append(cell)
    if not fm:
        raise BrokenNotebook(f'{name}: no title; start the notebook with a markdown cell '
                             f'"# Title" followed by "> one-line summary".')
    nb['cells'] = cells
    meta = nb.setdefault('metadata', {})
    meta.pop('widgets', None)  # nbdev adds an empty widget state; no widget JavaScript on the site
    meta.setdefault('kernelspec', {'display_name': 'python3', 'language': 'python', 'name': 'python3'})
    meta['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}  # code highlighting
    meta['seqlab_page'] = {'title': fm.get('title', ''),
                                                    'description': fm.get('description', '')}
    return nb
