"""Give notebooks the metadata JupyterLab writes with this project's kernel, so that opening and saving
a notebook leaves `git status` clean.

On opening a notebook, JupyterLab stores the running kernel's kernelspec and its `language_info`; a
notebook stored with other metadata is modified by merely being read. This script stores exactly
those two keys (and drops the saved widget state, which JupyterLab does not write):

- kernelspec: `python3`, whose display name is also `python3` (`make install` installs the kernel so;
  nbdev_clean forces display_name = name, so no other display name survives it);
- language_info: what this environment's ipykernel reports (settings.ini lists `language_info` in
  `allowed_metadata_keys`, so nbdev_clean keeps it). It names the Python version, so a notebook opened
  with another Python minor or patch release still changes that one field.

Usage (with the project's environment): `.venv/bin/python .ci/nb_metadata.py [NOTEBOOK ...]` (default:
every notebook in nbs/ and nbs/solutions/), then `.venv/bin/nbdev_clean`.
"""
import json
import sys
from pathlib import Path

from ipykernel.ipkernel import IPythonKernel

KERNELSPEC = {'display_name': 'python3', 'language': 'python', 'name': 'python3'}


def nb_metadata() -> dict:
    "The notebook metadata JupyterLab writes when this environment's `python3` kernel runs."
    return {'kernelspec': dict(KERNELSPEC), 'language_info': json.loads(json.dumps(IPythonKernel.language_info))}


def set_metadata(path: Path) -> bool:
    "Rewrite `path`'s metadata; True if it changed."
    text = path.read_text(encoding='utf-8')
    nb = json.loads(text)
    md = {k: v for k, v in nb.get('metadata', {}).items() if k not in ('widgets', 'kernelspec', 'language_info')}
    nb['metadata'] = {**md, **nb_metadata()}
    new = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'
    if new != text:
        path.write_text(new, encoding='utf-8')
    return new != text


def default_paths(root: Path = Path('.')) -> list:
    "Every notebook the project ships: nbs/*.ipynb and the worked solutions in nbs/solutions/."
    return sorted((root / 'nbs').glob('*.ipynb')) + sorted((root / 'nbs' / 'solutions').glob('*.ipynb'))


if __name__ == '__main__':
    paths = [Path(p) for p in sys.argv[1:]] or default_paths()
    for p in paths:
        print(f"{p}: {'updated' if set_metadata(p) else 'unchanged'}")
