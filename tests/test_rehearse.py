"""The rehearsal machinery (`make rehearse`, .ci/rehearse.py): real-format archives served on 127.0.0.1, read by the
loaders in full mode; a notebook run outside the repository, its failing cell named, a hang cut by the time limit."""
import importlib.util, json, os, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / '.ci' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / '.ci'))
    spec.loader.exec_module(mod)
    return mod


rehearse = _load('rehearse')


def _nb(path: Path, *cells):
    nb = {'cells': [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': s}
                    for i, s in enumerate(cells)],
          'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb))
    return path


PROBE = '''
import os, warnings
from pathlib import Path
from seqlab.core import quick_mode, smoke_mode
from seqlab.datasets import load_bbc, load_trec, load_emotion
from seqlab.embeddings import load_vectors
assert not quick_mode() and smoke_mode() and Path.cwd().name == 'nbs' and not (Path.cwd().parent / 'settings.ini').exists()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    bbc, trec, emo = load_bbc(), load_trec(), load_emotion()
assert any('SEQLAB_CHECKSUMS' in str(w.message) for w in caught)  # the mirror's own checksums, announced
n = sum(len(s.x) for s in bbc.splits())
assert not bbc.generated and bbc.classes == ['business', 'entertainment', 'politics', 'sport', 'tech'] and 250 < n < 300, n
assert bbc.info['duplicates_removed'] == 1
assert len(trec.test.x) == 120 and trec.n_classes == 6 and ':' in trec.test.meta['fine'][0]
assert len(emo.train.x) == 480 and emo.n_classes == 6
kv = load_vectors('glove-wiki-gigaword-100')
assert kv.vector_size == 100 and len(kv) == 4000
print('probe ok')
'''


def test_rehearsal_serves_real_formats_and_names_the_failing_cell(tmp_path):
    nbs = tmp_path / 'nbs'
    nbs.mkdir()
    probe = _nb(nbs / 'probe.ipynb', PROBE)
    broken = _nb(nbs / 'broken.ipynb', 'x = 1', 'assert x == 2, "written for the generated sample"')
    hangs = _nb(nbs / 'hangs.ipynb', 'import time', 'time.sleep(600)')
    results = {}
    for nb, timeout in ((probe, 240), (broken, 120), (hangs, 25)):
        r = rehearse.rehearse([nb], timeout, report=tmp_path / f'{nb.stem}.md', sets=['bbc', 'trec', 'emotion', 'vectors'] if nb is probe else [])
        results[nb.stem] = r[0]
    assert results['probe']['status'] == 'passed', results['probe']['log']
    assert results['probe']['peak_mib'] > 50  # the kernel's memory was measured
    assert results['broken']['status'] == 'failed'
    assert results['broken']['error'].startswith('cell 1 `assert x == 2, "written for the generated sample"`: AssertionError')
    assert results['hangs']['status'] == 'timeout' and 'no end within 25 s' in results['hangs']['error']
    table = (tmp_path / 'broken.md').read_text()
    assert '| broken.ipynb | **FAILED** cell 1' in table and '0 of 1 notebooks passed' in table


def test_data_sets_a_notebook_needs():
    assert rehearse.needs([ROOT / 'nbs' / '16_audio.ipynb']) == ['esc50']
    assert rehearse.needs([ROOT / 'nbs' / '05_learner.ipynb']) == []
    assert rehearse.needs([ROOT / 'nbs' / '13_emotion_attention.ipynb', ROOT / 'nbs' / '10_cnn_lstm.ipynb']) == ['bbc', 'emotion', 'vectors']
    assert rehearse.needs([ROOT / 'nbs' / '02_datasets.ipynb']) == list(rehearse.rehearse_data.SETS)
    with pytest.raises(SystemExit, match='no notebook'):
        rehearse.select(['nbs/99_nothing.ipynb'])


def test_every_notebook_is_rehearsed_by_default():
    assert [p.name for p in rehearse.select([])] == sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb'))
