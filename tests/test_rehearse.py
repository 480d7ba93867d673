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


gpu_check = _load('gpu_check')


def _fake_result(tmp_path, name, status='passed', error='', recs=()):
    log = tmp_path / f'{name}.jsonl'
    log.write_text(''.join(json.dumps(r) + '\n' for r in recs))
    r = {'notebook': name, 'status': status, 'error': error, 'wall_s': 12.0, 'cost_log': str(log)}
    r['summary'] = gpu_check.summarise(r)
    return r


def test_gpu_check_table_writer(tmp_path):
    "The cost table: fits summed (each_run loops multiplied), the costliest epoch, peak memory, a failure with its cell."
    ok = _fake_result(tmp_path, '12_image_cnn.ipynb', recs=[
        {'epoch_s': 3.0, 'fit_s': 30.0, 'smoke_cut': 4, 'peak_gpu_mib': 900.0},
        {'epoch_s': 5.0, 'fit_s': 100.0, 'peak_gpu_mib': 1500.0}])
    bad = _fake_result(tmp_path, '16_audio.ipynb', 'failed', 'cell 7 `x | y`: ValueError: bad')
    assert ok['summary'] == {'fits': 2, 'epoch_s': 5.0, 'full_s': 220.0, 'peak_gpu_mib': 1500.0}
    assert bad['summary'] == {'fits': 0, 'epoch_s': None, 'full_s': None, 'peak_gpu_mib': None}
    text = gpu_check.report([ok, bad], [('padding_waste.py', 'passed', 2.0, 'waste 40%')], 'NVIDIA H100', True, 8)
    assert '- device: **NVIDIA H100**\n' in text and '8 batches per fit' in text
    assert '| 12_image_cnn.ipynb | passed | 12 s | 2 | 5 s | 4 min | 1500 MiB |' in text
    assert '| 16_audio.ipynb | **FAILED** cell 7 `x \\| y`: ValueError: bad | 12 s | 0 | - | - | - |' in text
    assert 'about 4 min (training only)' in text and '| padding_waste.py | passed | 2 s | waste 40% |' in text
    cpu = gpu_check.report([ok], [], 'CPU (2 cores)', False, 8)
    assert 'no CUDA device: CPU timings, bench GPU branches skipped' in cpu


def test_gpu_check_skips_and_refuses_without_cuda(tmp_path, monkeypatch):
    "Without CUDA: bench GPU branches skipped, CPU numbers kept out of bench/gpu_check.md, a note saying so written there."
    rows = gpu_check.bench(False, 10)
    assert rows and all(r[1].startswith('skipped: no CUDA') or r[1].startswith('not listed') for r in rows)
    assert {r[0] for r in rows} == {p.name for p in (ROOT / 'bench').glob('*.py')}
    rec = tmp_path / 'bench' / 'gpu_check.md'
    with pytest.raises(SystemExit, match='refused: there is no CUDA device'):
        gpu_check.targets(False, rec, tmp_path)
    assert gpu_check.targets(False, None, tmp_path) == (tmp_path / 'runs' / 'gpu_check.md', rec)
    assert gpu_check.targets(True, None, tmp_path) == (rec, None)
    rec.parent.mkdir()
    rec.write_text('# GPU check: the cost of full mode\n- device: **NVIDIA H100**\n')
    assert gpu_check.targets(False, None, tmp_path)[1] is None  # a real GPU table is never replaced by a note
    for bad in (['--batches', '1'], ['--timeout', '0']):
        with pytest.raises(SystemExit, match='gpu-check: --'):
            gpu_check.main([*bad, '--no-bench'])
    # end to end on a CPU, the notebooks' run faked: the note names the date and the command to run on a GPU
    rec.unlink()
    fake = lambda nbs, timeout, on_result=None, **kw: [on_result(r) or r for r in [_fake_result(tmp_path, nbs[0].name)]]
    monkeypatch.setattr(gpu_check, 'ROOT', tmp_path)
    monkeypatch.setattr(gpu_check.rehearse, 'rehearse', fake)
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert gpu_check.main([str(ROOT / 'nbs' / '05_learner.ipynb'), '--no-bench']) == 0
    note = rec.read_text()
    assert note.startswith('# GPU check: not run on a CUDA device') and 'make gpu-check' in note and 'UTC' in note
    assert 'smoke run on the CPU: 05_learner.ipynb (passed)' in note
    assert 'MiB' not in note and (tmp_path / 'runs' / 'gpu_check.md').read_text().count('05_learner.ipynb') == 1


def test_nb_metadata_default_includes_solutions():
    nbm = _load('nb_metadata')
    got = nbm.default_paths(ROOT)
    assert set(p.name for p in (ROOT / 'nbs' / 'solutions').glob('*.ipynb')) <= {p.name for p in got}
    assert (ROOT / 'nbs' / '05_learner.ipynb') in got
