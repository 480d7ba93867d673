"""Sphinx configuration of the seqlab docs site (built by `docs/build.py`, i.e. `make docs`).

The sources are the notebooks after nbdev's processing and `docs/myst_proc.py`, in `_docs/`;
their stored outputs are shown as they are (nothing is executed). Everything the pages load is
local, so the site works offline.
"""
from configparser import ConfigParser
from pathlib import Path

_root = Path(__file__).resolve().parent.parent
_cfg = ConfigParser(delimiters=['='])
_cfg.read(_root / 'settings.ini', encoding='utf-8')
_s = _cfg['DEFAULT']

project = _s.get('title', 'seqlab')
author = _s.get('author', '')
copyright = _s.get('copyright', '')
release = version = _s.get('version', '')

extensions = ['myst_nb']
root_doc = 'index'
exclude_patterns = ['_build', '**.ipynb_checkpoints']
source_suffix = {'.ipynb': 'myst-nb', '.md': 'myst-nb'}

# myst: the syntax the processed notebooks use
myst_enable_extensions = ['colon_fence', 'attrs_block', 'attrs_inline', 'dollarmath', 'amsmath',
                          'strikethrough', 'tasklist', 'deflist']
myst_heading_anchors = 0  # ids come from docutils (and nbdev-style ids on API entries)
# links are written as the site's own URLs (page.html#anchor, as nbdev writes them): keep them as they are
myst_all_links_external = True
suppress_warnings = ['myst.header', 'myst.strikethrough']

# myst-nb: stored outputs only, and no widget JavaScript from a CDN
nb_execution_mode = 'off'
nb_ipywidgets_js = {}
nb_render_markdown_format = 'myst'
nb_merge_streams = True
nb_output_stderr = 'remove-warn'
nb_mime_priority_overrides = [
    ('html', 'application/vnd.jupyter.widget-view+json', None),
    ('html', 'application/javascript', None),
]

# no CDN: MathJax 3.2.2 (tex-svg, one self-contained file, Apache-2.0) is vendored in _static/mathjax;
# Sphinx loads it only on pages with math
mathjax_path = 'mathjax/tex-svg.js'

html_theme = 'sphinx_book_theme'
html_title = 'seqlab'
html_static_path = ['_static']
html_css_files = ['seqlab.css']
html_favicon = '_static/favicon.svg'
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None

html_theme_options = {
    'repository_url': _s.get('git_url', ''),
    'repository_branch': _s.get('branch', 'main'),
    'path_to_docs': _s.get('nbs_path', 'nbs'),
    'use_repository_button': True,
    'use_download_button': False,
    'use_fullscreen_button': False,
    'home_page_in_toc': True,
    'show_navbar_depth': 1,
    'show_toc_level': 2,
    'navigation_with_keys': False,
    'search_bar_text': 'Search the course…',
    'article_header_start': ['toggle-primary-sidebar.html'],
}
html_context = {'default_mode': 'light'}
html_sidebars = {'**': ['navbar-logo.html', 'search-button-field.html', 'sbt-sidebar-nav.html']}
