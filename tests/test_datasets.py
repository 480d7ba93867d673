"""seqlab.datasets: real-format downloads from a loopback server, failure paths, generated samples, checkers."""
import hashlib
import io
import os
import pickle
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from seqlab import datasets as D
from seqlab.download import _parse_checksum
from seqlab.datasets import (
    BBC_CLASSES, CIFAR10_CLASSES, EMOTION_CLASSES, ESC10_CLASSES, IMDB_CLASSES, NDFA_WORDS, TREC_CLASSES,
    DownloadError, TaskData, brackets, download, extract, is_balanced, is_ndfa, load_bbc, load_cifar10,
    load_emotion, load_esc10, load_imdb, load_trec, ndfa)


def sha(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def cache_files(cache):
    """Every file and folder under the cache, as relative paths (hidden temporaries included)."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob('*')) if cache.exists() else []


# ---------------------------------------------------------------- archives in the real formats

def tar_gz(members: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def bbc_zip() -> bytes:
    """bbc/<class>/NNN.txt, 10 articles per class, one exact duplicate and one Latin-1 file."""
    m = {'bbc/README.TXT': b'BBC dataset'}
    for c in BBC_CLASSES:
        for i in range(10):
            m[f'bbc/{c}/{i + 1:03d}.txt'] = f'{c} headline {i}\n\nThe {c} story number {i}.\n'.encode()
    m['bbc/sport/011.txt'] = m['bbc/sport/003.txt']  # exact duplicate
    m['bbc/business/011.txt'] = 'Prices rose to \xa3100 in business.\n'.encode('latin-1')
    return zip_bytes(m)


def cifar_tar(n_per_batch=20, n_test=20, seed=0) -> tuple:
    rng = np.random.default_rng(seed)
    m = {'cifar-10-batches-py/batches.meta': pickle.dumps({b'label_names': [c.encode() for c in CIFAR10_CLASSES],
                                                           b'num_vis': 3072}, protocol=2)}
    arrays = {}
    for name, n in [(f'data_batch_{i}', n_per_batch) for i in range(1, 6)] + [('test_batch', n_test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(n)]
        arrays[name] = (data, labels)
        m[f'cifar-10-batches-py/{name}'] = pickle.dumps({b'batch_label': name.encode(), b'labels': labels,
                                                         b'data': data, b'filenames': [b'x.png'] * n}, protocol=2)
    return tar_gz(m), arrays


def emotion_parquet(n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({'text': [f'i feel thing {seed} {i}' for i in range(n)], 'label': rng.integers(0, 6, n)})
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue(), df


def trec_files() -> tuple:
    fine = {'ABBR': 'exp', 'DESC': 'def', 'ENTY': 'animal', 'HUM': 'ind', 'LOC': 'city', 'NUM': 'date'}
    train = [f'{c}:{fine[c]} What is question {i} about {c} ?' for c in TREC_CLASSES for i in range(10)]
    train.append('LOC:other Where is Montr\xe9al ?')  # the real files are Latin-1
    test = [f'{c}:{fine[c]} Test question {c} ?' for c in TREC_CLASSES]
    return ('\n'.join(train) + '\n').encode('latin-1'), ('\n'.join(test) + '\n').encode('latin-1')


def trec_checksums() -> dict:
    train, test = trec_files()
    return {'train_5500.label': sha(train), 'TREC_10.label': sha(test)}


def imdb_tar() -> bytes:
    m = {}
    for split, n in [('train', 10), ('test', 5)]:
        for c in IMDB_CLASSES:
            for i in range(n):
                m[f'aclImdb/{split}/{c}/{i}_7.txt'] = f'A {c} review {i}.<br /><br />The end.'.encode()
    for i in range(3):
        m[f'aclImdb/train/unsup/{i}_0.txt'] = b'unlabelled review'
    m['aclImdb/imdb.vocab'] = b'the\na\n'
    return tar_gz(m)


ESC10_TARGETS = {0: 'dog', 1: 'rooster', 10: 'rain', 11: 'sea_waves', 12: 'crackling_fire', 20: 'crying_baby',
                 21: 'sneezing', 38: 'clock_tick', 40: 'helicopter', 41: 'chainsaw'}


def wav_bytes(x, sr) -> bytes:
    buf = io.BytesIO()
    wavfile.write(buf, sr, x)
    return buf.getvalue()


def esc50_files(sr=44_100, seconds=0.1) -> dict:
    """{path: bytes} of ESC-50-master/meta/esc50.csv + audio/*.wav: the 50 ESC-10 clips (10 classes x 5 folds) and 5 others."""
    rows, m = [], {}
    t = np.arange(int(sr * seconds)) / sr
    for target, cat in ESC10_TARGETS.items():
        for fold in range(1, 6):
            fname = f'{fold}-{target}00-A-{target}.wav'
            x = (0.5 * np.sin(2 * np.pi * (200 + 10 * target) * t) * 32767).astype(np.int16)
            if target == 0 and fold == 1:
                x = np.stack([x, x], 1)  # one stereo clip
            m[f'ESC-50-master/audio/{fname}'] = wav_bytes(x, sr)
            rows.append((fname, fold, target, cat, True, 100 + target, 'A'))
    for fold in range(1, 6):
        fname = f'{fold}-99-A-5.wav'
        m[f'ESC-50-master/audio/{fname}'] = wav_bytes(np.zeros(int(sr * seconds), np.int16), sr)
        rows.append((fname, fold, 5, 'cat', False, 99, 'A'))
    meta = pd.DataFrame(rows, columns=['filename', 'fold', 'target', 'category', 'esc10', 'src_file', 'take'])
    m['ESC-50-master/meta/esc50.csv'] = meta.to_csv(index=False).encode()
    m['ESC-50-master/README.md'] = b'ESC-50'
    return m


def esc50_zip(sr=44_100, seconds=0.1) -> bytes:
    """ESC-50-master.zip in the real layout (see `esc50_files`)."""
    return zip_bytes(esc50_files(sr, seconds))


def serve(srv, fname, data, **kw):
    """Serve `data` as `fname`; the loader arguments that point at it with its checksum."""
    return {'urls': {fname: srv.add(fname, data, **kw)}, 'checksums': {fname: sha(data)}}


# ---------------------------------------------------------------- every real format through the loaders

def test_bbc_zip_download_dedup_and_cache(loopback_http_server, seqlab_data_cache, capsys):
    srv = loopback_http_server
    kw = serve(srv, 'bbc-fulltext.zip', bbc_zip())
    td = load_bbc(quick=False, **kw)
    assert isinstance(td, TaskData) and not td.generated
    assert td.classes == BBC_CLASSES
    assert td.info['duplicates_removed'] == 1
    assert len(td.train) + len(td.valid) + len(td.test) == 51  # 52 files, one an exact duplicate
    texts = td.concat().x
    assert len(set(texts)) == len(texts)
    assert any('\xa3100' in t for t in texts)  # Latin-1 file decoded
    x, y = td.train[0]
    assert isinstance(x, str) and td.classes[y] in x
    assert str(seqlab_data_cache) in td.source and 'generated' not in td.source
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and 'BBC News: real data' in out[0]
    # second call: from the cache, with the server gone
    n = len(srv.requests)
    srv.stop()
    td2 = load_bbc(quick=False, **kw)
    assert td2.train.x == td.train.x and len(srv.requests) == n


def test_cifar10_pickle_batches(loopback_http_server, seqlab_data_cache):
    data, arrays = cifar_tar()
    kw = serve(loopback_http_server, 'cifar-10-python.tar.gz', data)
    td = load_cifar10(quick=False, verbose=False, **kw)
    assert td.classes == CIFAR10_CLASSES
    assert (len(td.train), len(td.valid), len(td.test)) == (90, 10, 20)
    assert td.train.x.shape == (90, 32, 32, 3) and td.train.x.dtype == np.uint8
    tx, ty = arrays['test_batch']
    np.testing.assert_array_equal(td.test.x, tx.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(td.test.y, ty)
    assert sorted(np.bincount(td.valid.y)) == [1] * 10  # stratified
    img, label = td.test[3]
    assert img.shape == (32, 32, 3) and label == 3
    # extracted once, atomically: the archive and one folder, no temporaries
    top = sorted(p.name for p in (seqlab_data_cache / 'cifar10').iterdir())
    assert top == ['.cifar-10-python.seqlab.json', '.cifar-10-python.tar.gz.seqlab.json', 'cifar-10-python',
                   'cifar-10-python.tar.gz']  # each with the note of where it came from
    assert not [p for p in cache_files(seqlab_data_cache) if '.tmp' in p or '.part' in p]


def test_emotion_parquet(loopback_http_server, seqlab_data_cache):
    urls, checks, frames = {}, {}, {}
    for i, s in enumerate(['train', 'validation', 'test']):
        data, frames[s] = emotion_parquet(12 - 3 * i, seed=i)
        f = f'{s}-00000-of-00001.parquet'
        urls[f], checks[f] = loopback_http_server.add(f, data), sha(data)
    td = load_emotion(quick=False, urls=urls, checksums=checks, verbose=False)
    assert td.classes == EMOTION_CLASSES
    assert (len(td.train), len(td.valid), len(td.test)) == (12, 9, 6)
    assert td.train.x == frames['train']['text'].tolist()
    np.testing.assert_array_equal(td.valid.y, frames['validation']['label'].to_numpy())


def test_emotion_csv_and_txt_readers(tmp_path):
    pd.DataFrame({'text': ['i am glad', 'i am sad'], 'label': [1, 0]}).to_csv(tmp_path / 'a.csv', index=False)
    assert D.read_emotion(tmp_path / 'a.csv')[1].tolist() == [1, 0]
    (tmp_path / 'b.txt').write_text('i am glad;joy\ni am scared;fear\n')
    x, y = D.read_emotion(tmp_path / 'b.txt')
    assert x == ['i am glad', 'i am scared'] and y.tolist() == [1, 4]
    (tmp_path / 'c.txt').write_text('i am glad;bliss\n')
    with pytest.raises(DownloadError, match='labels outside'):
        D.read_emotion(tmp_path / 'c.txt')


def test_trec_label_files(loopback_http_server, seqlab_data_cache):
    train, test = trec_files()
    srv = loopback_http_server
    urls = {'train_5500.label': srv.add('train_5500.label', train), 'TREC_10.label': srv.add('TREC_10.label', test)}
    td = load_trec(quick=False, urls=urls, checksums=trec_checksums(), verbose=False)
    assert td.classes == TREC_CLASSES == ['ABBR', 'DESC', 'ENTY', 'HUM', 'LOC', 'NUM']
    assert len(td.train) + len(td.valid) == 61 and len(td.test) == 6
    for split in (td.train, td.valid, td.test):
        for fine, y in zip(split.meta['fine'], split.y):
            assert fine.split(':')[0] == td.classes[y]
    assert 'Where is Montr\xe9al ?' in td.concat().x
    assert td.test.meta['fine'][3] == 'HUM:ind' and td.test.x[3] == 'Test question HUM ?'


def test_trec_reader_rejects_bad_lines(tmp_path):
    (tmp_path / 'x.label').write_text('NOPE:x what ?\n')
    with pytest.raises(DownloadError, match="label like 'HUM:ind'"):
        D.read_trec(tmp_path / 'x.label')


def test_imdb_tar_gz_ignores_unsup(loopback_http_server, seqlab_data_cache):
    kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', imdb_tar())
    td = load_imdb(quick=False, verbose=False, **kw)
    assert td.classes == ['neg', 'pos']
    assert len(td.train) + len(td.valid) == 20 and len(td.test) == 10
    allx = td.concat().x
    assert not any('unlabelled' in t for t in allx)
    assert not any('<br />' in t for t in allx)
    assert all(IMDB_CLASSES[y] in x for x, y in zip(td.test.x, td.test.y))


def test_esc10_zip_wav_folds_resampled(loopback_http_server, seqlab_data_cache):
    kw = serve(loopback_http_server, 'ESC-50-master.zip', esc50_zip())
    td = load_esc10(quick=False, verbose=False, **kw)
    assert td.classes == ESC10_CLASSES
    assert (len(td.train), len(td.valid), len(td.test)) == (30, 10, 10)
    assert set(td.train.meta['fold']) == {1, 2, 3} and set(td.valid.meta['fold']) == {4} and set(td.test.meta['fold']) == {5}
    assert td.info['sample_rate'] == 16_000
    assert td.train.x.shape[1] == 1600 and td.train.x.dtype == np.float32  # 0.1 s at 16 kHz
    assert np.abs(td.concat().x).max() <= 1.0
    # the stereo clip became mono; a 200 Hz tone stays a 200 Hz tone after resampling
    w = td.concat().x[np.flatnonzero(td.concat().y == 0)[0]]
    assert abs(np.argmax(np.abs(np.fft.rfft(w))) * 16_000 / len(w) - 200) <= 10
    all_ = td.concat()
    assert pd.crosstab(all_.y, all_.meta['fold']).values.tolist() == [[1] * 5] * 10


def test_read_wav_formats(tmp_path):
    sr = 8000
    x = (np.sin(np.linspace(0, 20, sr)) * 0.5).astype(np.float32)
    wavfile.write(tmp_path / 'f.wav', sr, x)
    wavfile.write(tmp_path / 'u8.wav', sr, ((x + 1) * 127.5).astype(np.uint8))
    wavfile.write(tmp_path / 's.wav', sr, np.stack([(x * 32767).astype(np.int16)] * 2, 1))
    for name in ['f.wav', 'u8.wav', 's.wav']:
        w, r = D.read_wav(tmp_path / name, 16_000)
        assert r == 16_000 and w.ndim == 1 and len(w) == 2 * sr
        assert np.abs(w[100:-100] - np.interp(np.arange(2 * sr) / 2, np.arange(sr), x)[100:-100]).max() < 0.05


# ---------------------------------------------------------------- failure paths: clear error, nothing half written

def assert_clear_error(err, url, cache):
    msg = str(err)
    assert url in msg, msg
    assert str(cache) in msg, msg
    assert 'by hand' in msg, msg


def test_404_names_url_cache_and_manual_placement(loopback_http_server, seqlab_data_cache):
    url = loopback_http_server.url('cifar-10-python.tar.gz')  # nothing served there
    with pytest.raises(DownloadError) as e:
        load_cifar10(quick=False, urls={'cifar-10-python.tar.gz': url}, verbose=False)
    assert 'HTTP 404' in str(e.value)
    assert_clear_error(e.value, url, seqlab_data_cache / 'cifar10' / 'cifar-10-python.tar.gz')
    assert cache_files(seqlab_data_cache) in ([], ['cifar10'])


def test_checksum_mismatch_leaves_nothing(loopback_http_server, seqlab_data_cache):
    data, _ = cifar_tar()
    url = loopback_http_server.add('cifar-10-python.tar.gz', data)
    with pytest.raises(DownloadError) as e:
        load_cifar10(quick=False, urls={'cifar-10-python.tar.gz': url}, checksums={'cifar-10-python.tar.gz': sha(b'other')},
                     verbose=False)
    assert 'checksum mismatch' in str(e.value)
    assert_clear_error(e.value, url, seqlab_data_cache / 'cifar10' / 'cifar-10-python.tar.gz')
    assert cache_files(seqlab_data_cache) in ([], ['cifar10'])


def test_official_checksum_is_checked_by_default(loopback_http_server, seqlab_data_cache):
    """A file that is not the real IMDb archive fails its published sha256."""
    url = loopback_http_server.add('aclImdb_v1.tar.gz', imdb_tar())
    with pytest.raises(DownloadError, match='checksum mismatch'):
        load_imdb(quick=False, urls={'aclImdb_v1.tar.gz': url}, verbose=False)
    assert cache_files(seqlab_data_cache) in ([], ['imdb'])


def test_connection_cut_mid_download(loopback_http_server, seqlab_data_cache):
    data = imdb_tar()
    kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', data, cut=True)
    with pytest.raises(DownloadError) as e:
        load_imdb(quick=False, verbose=False, **kw)
    assert 'connection cut' in str(e.value) and f'{len(data) * 2:,}' in str(e.value)
    assert_clear_error(e.value, kw['urls']['aclImdb_v1.tar.gz'], seqlab_data_cache / 'imdb' / 'aclImdb_v1.tar.gz')
    assert cache_files(seqlab_data_cache) in ([], ['imdb'])


def test_connection_cut_without_checksum(loopback_http_server, tmp_path):
    url = loopback_http_server.add('f.bin', b'x' * 100_000, cut=True)
    with pytest.raises(DownloadError, match='connection cut'):
        download(url, tmp_path / 'c' / 'f.bin', None, progress=False)
    assert os.listdir(tmp_path / 'c') == []


@pytest.mark.parametrize('garbage', [b'not an archive at all' * 10, 'truncated'])
def test_corrupt_archive_is_removed_with_partial_extraction(loopback_http_server, seqlab_data_cache, garbage):
    data, _ = cifar_tar()
    bad = data[: len(data) // 2] if garbage == 'truncated' else garbage
    kw = serve(loopback_http_server, 'cifar-10-python.tar.gz', bad)  # the checksum matches: the archive itself is bad
    with pytest.raises(DownloadError) as e:
        load_cifar10(quick=False, verbose=False, **kw)
    assert 'corrupt' in str(e.value)
    assert str(seqlab_data_cache / 'cifar10' / 'cifar-10-python.tar.gz') in str(e.value)
    assert cache_files(seqlab_data_cache) == ['cifar10']
    # a good archive afterwards works
    good = serve(loopback_http_server, 'cifar-10-python.tar.gz', data)
    assert len(load_cifar10(quick=False, verbose=False, **good).test) == 20


def test_corrupt_zip_crc(tmp_path):
    data = bytearray(zip_bytes({'top/a.txt': b'hello world ' * 200}))
    data[30 + len('top/a.txt') + 3] ^= 0xFF  # a byte of the compressed payload, after the local header
    (tmp_path / 'a.zip').write_bytes(bytes(data))
    with pytest.raises(DownloadError, match='corrupt'):
        extract(tmp_path / 'a.zip', tmp_path / 'a')
    assert sorted(os.listdir(tmp_path)) == ['a.zip']  # no partial folder; the archive is not seqlab's, so it is kept


def test_mirrors_tried_in_turn(loopback_http_server, seqlab_data_cache):
    srv = loopback_http_server
    train, test = trec_files()
    srv.add('good/train_5500.label', train)
    srv.add('good/TREC_10.label', test)
    urls = {f: [srv.url(f'missing/{f}'), 'http://127.0.0.1:9/nothing', srv.url(f'good/{f}')]
            for f in ('train_5500.label', 'TREC_10.label')}
    td = load_trec(quick=False, urls=urls, checksums=trec_checksums(), verbose=False)
    assert len(td.test) == 6
    assert srv.requests[:2] == ['missing/train_5500.label', 'good/train_5500.label']


def test_all_mirrors_fail_lists_each(loopback_http_server, tmp_path):
    urls = [loopback_http_server.url('a'), loopback_http_server.url('b')]
    with pytest.raises(DownloadError) as e:
        download(urls, tmp_path / 'x.bin', progress=False)
    msg = str(e.value)
    assert msg.count('HTTP 404') == 2 and all(u in msg for u in urls)


def test_seqlab_mirror_env(loopback_http_server, seqlab_data_cache, monkeypatch):
    srv = loopback_http_server
    data = bbc_zip()
    srv.add('lab/bbc-fulltext.zip', data)
    monkeypatch.setenv('SEQLAB_MIRROR', f'{srv.base}/nowhere, {srv.base}/lab')
    td = load_bbc(quick=False, checksums={'bbc-fulltext.zip': sha(data)}, verbose=False)
    assert td.info['duplicates_removed'] == 1
    assert srv.requests == ['nowhere/bbc-fulltext.zip', 'lab/bbc-fulltext.zip']


def test_hand_placed_file_needs_no_network(seqlab_data_cache):
    train, test = trec_files()
    (seqlab_data_cache / 'trec').mkdir(parents=True)
    (seqlab_data_cache / 'trec' / 'train_5500.label').write_bytes(train)
    (seqlab_data_cache / 'trec' / 'TREC_10.label').write_bytes(test)
    urls = {f: 'http://127.0.0.1:9/unreachable' for f in ('train_5500.label', 'TREC_10.label')}
    assert len(load_trec(quick=False, urls=urls, checksums=trec_checksums(), verbose=False).test) == 6


def test_cached_file_with_wrong_checksum_is_reported(seqlab_data_cache):
    p = seqlab_data_cache / 'x' / 'f.bin'
    p.parent.mkdir(parents=True)
    p.write_bytes(b'damaged')
    with pytest.raises(DownloadError, match='does not match') as e:
        download('http://127.0.0.1:9/f.bin', p, sha(b'good'), progress=False)
    assert str(p) in str(e.value) and p.read_bytes() == b'damaged'


def test_checksum_forms():
    assert _parse_checksum('md5:' + 'AB' * 16) == ('md5', 'ab' * 16)
    assert _parse_checksum('ab' * 32) == ('sha256', 'ab' * 32)
    assert _parse_checksum(None) == ('sha256', None)
    with pytest.raises(ValueError, match='Unknown checksum algorithm'):
        _parse_checksum('crc32:1234')


@pytest.mark.parametrize('checksum', ['sha256:', '', 'md5:', 'sha256:abc', 'md5:' + 'g' * 32, 'sha256: '])
def test_empty_or_cut_digest_is_refused(loopback_http_server, tmp_path, checksum):
    """An empty digest used to turn the check off: the file below would have been cached unchecked."""
    url = loopback_http_server.add('f.bin', b'anything')
    with pytest.raises(ValueError, match='digest'):
        download(url, tmp_path / 'f.bin', checksum, progress=False)
    assert not (tmp_path / 'f.bin').exists() and loopback_http_server.requests == []


def test_checksum_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match='checksum must be a str'):
        download('http://127.0.0.1:9/f', tmp_path / 'f', 12345, progress=False)


def test_md5_checksum(loopback_http_server, tmp_path):
    url = loopback_http_server.add('f', b'hello')
    p = download(url, tmp_path / 'f', 'md5:' + hashlib.md5(b'hello').hexdigest(), progress=False)
    assert p.read_bytes() == b'hello'


def test_unknown_dataset():
    with pytest.raises(ValueError, match='Unknown data set'):
        D.fetch('mnist')


def test_data_dir_default(monkeypatch):
    monkeypatch.delenv('SEQLAB_DATA', raising=False)
    assert D.data_dir() == D.Path.home() / '.cache' / 'seqlab'


def test_extract_rejects_path_traversal(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        info = tarfile.TarInfo('../evil.txt')
        info.size = 4
        t.addfile(info, io.BytesIO(b'evil'))
    (tmp_path / 'a.tar.gz').write_bytes(buf.getvalue())
    with pytest.raises(DownloadError):
        extract(tmp_path / 'a.tar.gz', tmp_path / 'out')
    assert not (tmp_path / 'evil.txt').exists() and not (tmp_path / 'out').exists()


# ---------------------------------------------------------------- generated samples

LOADERS = [load_bbc, load_cifar10, load_emotion, load_trec, load_imdb, load_esc10]
CLASSES = {'BBC News': BBC_CLASSES, 'CIFAR-10': CIFAR10_CLASSES, 'dair-ai emotion': EMOTION_CLASSES,
           'TREC': TREC_CLASSES, 'IMDb': IMDB_CLASSES, 'ESC-10': ESC10_CLASSES}


@pytest.mark.parametrize('loader', LOADERS, ids=lambda f: f.__name__)
def test_quick_loaders_schema(loader, capsys, monkeypatch):
    monkeypatch.setenv('SEQLAB_QUICK', '1')
    td = loader()  # quick=None follows SEQLAB_QUICK
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and 'GENERATED sample' in out[0]
    assert td.generated and 'generated sample' in td.source
    assert td.classes == CLASSES[td.name]
    for split in (td.train, td.valid, td.test):
        assert len(split) > 0 and len(split.x) == len(split.y)
        x, y = split[0]
        assert 0 <= y < len(td.classes)
        assert set(np.unique(split.y)) <= set(range(len(td.classes)))
    assert set(td.train.y) == set(range(len(td.classes)))  # every class in training
    n = len(td.train) + len(td.valid) + len(td.test)
    assert 200 <= n <= 5000


@pytest.mark.parametrize('loader', LOADERS, ids=lambda f: f.__name__)
def test_same_seed_same_sample(loader):
    a, b, c = (loader(quick=True, seed=s, verbose=False) for s in (3, 3, 4))
    assert np.array_equal(np.asarray(a.train.x), np.asarray(b.train.x))
    assert np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(np.asarray(a.train.x[:20]), np.asarray(c.train.x[:20]))


def test_sample_sizes_and_types():
    x, y, classes = D.cifar10_sample()
    assert 2000 <= len(x) <= 5000 and x.shape[1:] == (32, 32, 3) and x.dtype == np.uint8
    w, y, folds, classes = D.esc10_sample()
    assert 200 <= len(w) <= 400 and w.shape[1] == 16_000 and np.abs(w).max() <= 1.01
    for f in (D.bbc_sample, D.emotion_sample, D.imdb_sample):
        assert 1000 <= len(f()[0]) <= 3000
    with pytest.raises(ValueError, match='multiple of 50'):
        D.esc10_sample(n=123)


@pytest.mark.parametrize('seed', [0, 1])
def test_cifar10_sample_shapes_stand_out(seed):
    """Every generated image shows its shape: the brightness of 2x2 blocks spans at least 45 levels (1st to 99th percentile).
    A foreground drawn at random, as the first sample did, can match its background and leave an image with no visible shape."""
    x, _, _ = D.cifar10_sample(1000, seed=seed)
    lum = x.astype(np.float32).reshape(len(x), 16, 2, 16, 2, 3).mean((2, 4, 5)).reshape(len(x), -1)  # (n, 256)
    lo, hi = np.percentile(lum, [1, 99], axis=1)
    assert (hi - lo).min() >= 45, np.sort(hi - lo)[:5]


TEXT_SAMPLES = [D.bbc_sample, D.emotion_sample, D.trec_sample, D.imdb_sample]


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('sample', TEXT_SAMPLES, ids=lambda f: f.__name__)
def test_text_samples_have_real_shape(sample, seed):
    """Long-tailed lengths (longest >= 5x median) and a Zipf-like vocabulary (rarest half of types < 10% of tokens)."""
    st_ = D.corpus_stats(sample(seed=seed)[0])
    assert st_['longest / median'] >= 5, st_
    assert st_['rarest half of types, share of tokens'] < 0.10, st_
    assert st_['word types'] >= (5000 if sample in (D.bbc_sample, D.imdb_sample) else 1500), st_


def test_corpus_stats_can_fail():
    """The shape measure flags uniform text: equal lengths and a tiny vocabulary."""
    st_ = D.corpus_stats(['the cat sat on the mat'] * 100)
    assert st_['longest / median'] == 1 and st_['rarest half of types, share of tokens'] > 0.1


def test_emotion_keywords_found_by_lift_not_by_count():
    """Per class, a plain count ranks filler first, a lift (shrunk by 10 pseudo-counts) ranks the planted keywords first."""
    for seed in (0, 1, 2):
        x, y, classes = D.emotion_sample(seed=seed)
        words = pd.Series([w for t in x for w in t.split()])
        label = np.repeat(y, [len(t.split()) for t in x])
        cnt = words.value_counts()
        for c, name in enumerate(classes):
            cnt_c = words[label == c].value_counts()
            p_c = (label == c).mean()
            lift = (cnt_c + 10 * p_c) / (cnt[cnt_c.index] + 10) / p_c
            assert not set(cnt_c.index[:5]) & set(D.EMOTION_KEYWORDS[name]), (seed, name)
            assert set(lift.sort_values(ascending=False).index[:5]) <= set(D.EMOTION_KEYWORDS[name]), (seed, name)


def _ends_in_own_polarity(texts, labels) -> float:
    "Share of reviews whose last 10 tokens carry a word of their own polarity and none of the other."
    from seqlab.data import tokenize
    n = 0
    for t, c in zip(texts, labels):
        end, own, other = set(tokenize(t)[-10:]), D._IMDB_POLAR[int(c)], D._IMDB_POLAR[1 - int(c)]
        n += bool(end & set(own['s'] + own['r'])) and not end & set(other['s'])
    return n / len(texts)


@pytest.mark.parametrize('seed', [0, 1])
def test_imdb_reviews_end_in_a_verdict_of_their_class(seed):
    """Most generated reviews end in a verdict (as many real ones do), so a model that reads the end can learn."""
    x, y, _ = D.imdb_sample(400, seed=seed)
    x0, y0, _ = D.imdb_sample(400, seed=seed, p_verdict=0.0)
    assert _ends_in_own_polarity(x, y) > _ends_in_own_polarity(x0, y0) + 0.25
    with pytest.raises(ValueError, match='p_verdict'):
        D.imdb_sample(10, p_verdict=1.5)


def test_emotion_words_share_contexts_with_their_own_class():
    """Some sentences hold two emotion words of one class, as real text does, so word vectors can group a class's words."""
    x, y, classes = D.emotion_sample(seed=0)
    kw = {w: c for c, ws in D.EMOTION_KEYWORDS.items() for w in ws}
    pairs = [[kw[w] for w in t.split() if w in kw] for t in x]
    two = [p for p in pairs if len(p) >= 2]
    assert len(two) > 0.1 * len(x) and all(len(set(p)) == 1 for p in two)  # two words, always of one class


def test_trec_sample_keeps_fine_labels():
    td = load_trec(quick=True, verbose=False)
    fine = td.train.meta['fine']
    assert len(fine) == len(td.train) and all(f.split(':')[0] == td.classes[y] for f, y in zip(fine, td.train.y))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_trec_sample_questions_end_as_their_template(seed):
    """Filler never comes last: a question ends on its template's words (or a name), where a last-state RNN reads them."""
    ends = {w for ts in D._TREC_TEMPLATES.values() for _, t in ts for w in t.split()}
    ends |= {w for vs in D._TREC_SLOTS.values() for v in vs for w in v.split()}
    qs, y, fine, classes = D.trec_sample(seed=seed)
    lens = [len(q.split()) for q in qs]
    assert max(lens) >= 5 * np.median(lens)  # filler still gives the long tail
    last = [q.split()[-2] for q in qs]
    assert all(q.endswith(' ?') for q in qs)
    assert all(w in ends or w[0].isupper() for w in last), [q for q, w in zip(qs, last) if not (w in ends or w[0].isupper())][:3]


def test_split_and_taskdata():
    s = D.Split(['a', 'b', 'c', 'd'], [0, 1, 0, 1], {'fine': ['x', 'y', 'z', 'w']})
    assert s[2] == ('c', 0) and s[1:3].meta['fine'] == ['y', 'z']
    with pytest.raises(ValueError, match='must match'):
        D.Split(['a'], [0, 1])
    td = TaskData('toy', s, s[:1], s[1:], ['u', 'v'], 'generated sample', True)
    assert len(td.concat()) == 8 and td.n_classes == 2 and 'GENERATED' in repr(td)


# ---------------------------------------------------------------- generated languages and their checkers

def ndfa_oracle(s: str) -> bool:
    if len(s) < 2 or s[0] != 's' or s[-1] != 's':
        return False
    mid = s[1:-1]
    return mid == '' or (len(mid) % 4 == 0 and any(mid == w * (len(mid) // 4) for w in NDFA_WORDS))


def balanced_oracle(s: str) -> bool:
    if set(s) - {'(', ')'} or s == '':  # the language has at least one pair
        return False
    depth = np.cumsum([1 if c == '(' else -1 for c in s]) if s else np.array([0])
    return bool(depth.min() >= 0 and depth[-1] == 0)


def test_generated_languages_pass_checkers():
    for seed in (0, 1):
        assert all(map(is_ndfa, ndfa(10_000, seed=seed)))
        assert all(map(is_balanced, brackets(10_000, seed=seed)))
    nd = ndfa(10_000)
    assert 'ss' in nd and {s[1:5] for s in nd if s != 'ss'} == set(NDFA_WORDS)
    br = brackets(10_000)
    assert len({len(s) for s in br}) >= 15 and len({D.bracket_depth(s) for s in br}) >= 8
    assert ndfa(100, seed=5) == ndfa(100, seed=5) and brackets(100, seed=5) == brackets(100, seed=5)


@pytest.mark.parametrize('s', ['', 's', 'sss', 'sabc!klm!s', 'sabc!', 'abc!s', 'sabcs', 'sab!s', 'sabc!abc', 'ssabc!s',
                               'sabc!s ', ' sabc!s', 'Sabc!s', 'sabc!abc!klm!s', 'sxyz!s', 'sabc!sabc!s', 'sabc!!s', None, 3])
def test_is_ndfa_rejects(s):
    assert is_ndfa(s) is False


@pytest.mark.parametrize('s', ['', ')', '(', ')(', '(()', '())', '())(()', '(a)', '[]', '( )', '(((', None, 5])
def test_is_balanced_rejects(s):
    assert is_balanced(s) is False


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match='non-negative'):
        ndfa(-1)
    with pytest.raises(ValueError, match='p_stop'):
        ndfa(3, p_stop=0)
    with pytest.raises(ValueError, match='min_pairs'):
        brackets(3, min_pairs=5, max_pairs=2)
    with pytest.raises(ValueError, match='at least one pair'):
        brackets(3, min_pairs=0)  # would make empty strings, which are not in the language
    with pytest.raises(ValueError, match=r"'\(' and '\)' only"):
        D.bracket_depth('(a)')
    with pytest.raises(ValueError, match='only'):
        D.bracket_depth(None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='sabcklmuvw!x', max_size=24))
def test_is_ndfa_matches_oracle(s):
    assert is_ndfa(s) == ndfa_oracle(s)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2), st.integers(0, 6), st.integers(0, 30), st.sampled_from('sabcklmuvw!'), st.sampled_from(['ins', 'del', 'sub']))
def test_is_ndfa_mutations(w, k, pos, ch, op):
    s = 's' + NDFA_WORDS[w] * k + 's'
    assert is_ndfa(s)
    i = pos % (len(s) + (op == 'ins'))
    t = s[:i] + ch + s[i:] if op == 'ins' else s[:i] + s[i + 1:] if op == 'del' else s[:i] + ch + s[i + 1:]
    assert is_ndfa(t) == ndfa_oracle(t)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='()', max_size=30) | st.text(alphabet='()x ', max_size=12))
def test_is_balanced_matches_oracle(s):
    assert is_balanced(s) == balanced_oracle(s)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 100))
def test_deleting_a_bracket_unbalances(seed, pos):
    s = brackets(1, seed=seed)[0]
    i = pos % len(s)
    assert is_balanced(s) and not is_balanced(s[:i] + s[i + 1:])


# ---------------------------------------------------------------- sample sizes

@pytest.mark.parametrize('n', [0, -50, 1.5, True, 3])
@pytest.mark.parametrize('loader', LOADERS, ids=lambda f: f.__name__)
def test_sample_size_too_small_is_a_clear_error(loader, n):
    """`load_esc10(quick=True, n=0)` used to return 0/0/0 items."""
    with pytest.raises(ValueError, match=r'n \(the size of the generated sample\) must be an int') as e:
        loader(quick=True, n=n, verbose=False)
    assert repr(n) in str(e.value)


def test_esc10_sample_size_is_a_multiple_of_50():
    with pytest.raises(ValueError, match='multiple of 50'):
        load_esc10(quick=True, n=120, verbose=False)
    assert len(load_esc10(quick=True, n=50, verbose=False).concat()) == 50


# ---------------------------------------------------------------- a learner's own data: path=, layouts, the true source

def _write_tree(root, files: dict):
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob('*'))}


def _esc_meta(files, edit):
    key = 'ESC-50-master/meta/esc50.csv'
    files[key] = edit(pd.read_csv(io.BytesIO(files[key]))).to_csv(index=False).encode()
    return files


def test_esc10_from_a_folder_given_as_path(tmp_path, seqlab_data_cache, monkeypatch):
    monkeypatch.setenv('SEQLAB_QUICK', '1')  # path= wins over the mode
    mine = _write_tree(tmp_path / 'mine', esc50_files())
    before = _tree(mine)
    td = load_esc10(path=mine, verbose=False)
    assert not td.generated and td.classes == ESC10_CLASSES and (len(td.train), len(td.valid), len(td.test)) == (30, 10, 10)
    assert str(mine) in td.source and 'mine' in td.name
    assert all(f.startswith(f'{k}-') for s in td.splits() for f, k in zip(s.meta['filename'], s.meta['fold']))
    assert _tree(mine) == before and sorted(os.listdir(tmp_path)) == ['mine', 'seqlab-cache']  # nothing written in or beside it
    assert any(p.endswith('.decoded.pkl') for p in cache_files(seqlab_data_cache))  # the decoded clips are kept in the cache
    np.testing.assert_array_equal(load_esc10(path=mine, verbose=False).test.x, td.test.x)


def test_esc10_from_a_zip_given_as_path(tmp_path, seqlab_data_cache):
    zp, data = tmp_path / 'my-esc.zip', esc50_zip()
    zp.write_bytes(data)
    td = load_esc10(quick=False, path=zp, verbose=False)
    assert len(td.concat()) == 50 and zp.read_bytes() == data and sorted(os.listdir(tmp_path)) == ['my-esc.zip', 'seqlab-cache']
    zp.write_bytes(zip_bytes(_esc_meta(esc50_files(), lambda d: d.assign(esc10=d.esc10 | (d.category == 'cat')))))
    td2 = load_esc10(quick=False, path=zp, verbose=False)  # the learner's zip changed: extracted anew
    assert 'cat' in td2.classes and len(td2.concat()) == 55


ESC_LAYOUTS = {  # a layout that is not ESC-50's: (edit of the table, what the error says)
    'folds 0-4': (lambda d: d.assign(fold=d.fold - 1), 'fold must number'),
    'a sixth fold': (lambda d: d.assign(fold=np.where(d.target == 41, 6, d.fold)), 'found [1, 2, 3, 4, 5, 6]'),
    'one name, two targets': (lambda d: d.assign(category=d.category.replace('rooster', 'dog')), "[1, 'dog']"),
    'a file listed twice': (lambda d: pd.concat([d, d.iloc[:1]]), 'listed twice'),
}


@pytest.mark.parametrize('kind', list(ESC_LAYOUTS))
def test_esc50_layout_that_is_not_esc50s_is_refused(tmp_path, seqlab_data_cache, kind):
    edit, says = ESC_LAYOUTS[kind]
    mine = _write_tree(tmp_path / 'mine', _esc_meta(esc50_files(), edit))
    before = _tree(mine)
    with pytest.raises(DownloadError) as e:
        load_esc10(quick=False, path=mine, verbose=False)
    assert says in str(e.value) and 'esc50.csv' in str(e.value) and 'Nothing was deleted' in str(e.value)
    assert _tree(mine) == before


def test_short_clips_are_padded_with_a_warning(tmp_path, seqlab_data_cache):
    files = esc50_files()
    files['ESC-50-master/audio/2-1000-A-10.wav'] = wav_bytes(np.zeros(441, np.int16), 44_100)  # 10 ms of 100 ms
    with pytest.warns(UserWarning, match=r'1 of 50 clips are shorter .* 2-1000-A-10.wav \(0.01 s\)'):
        td = load_esc10(quick=False, path=_write_tree(tmp_path / 'mine', files), verbose=False)
    assert td.train.x.shape[1] == 1600


def test_esc10_source_names_the_url_actually_read(tmp_path, seqlab_data_cache):
    zp = tmp_path / 'ESC-50-master.zip'
    zp.write_bytes(esc50_zip())
    td = load_esc10(quick=False, urls={'ESC-50-master.zip': zp.as_uri()}, verbose=False)
    assert td.source.startswith(zp.as_uri()) and 'github' not in td.source


def test_generated_esc10_has_file_names_in_esc50s_pattern():
    td = load_esc10(quick=True, n=100, verbose=False)
    for s in td.splits():
        assert [int(f.split('-')[0]) for f in s.meta['filename']] == s.meta['fold'].tolist()
        assert [int(f.split('-')[3][:-4]) for f in s.meta['filename']] == s.y.tolist()


def test_texts_in_class_folders_given_as_path(tmp_path, seqlab_data_cache):
    files = {f'notes/{c}/{i}.txt': f'{c} note number {i}'.encode() for c in ('alpha', 'beta', 'gamma') for i in range(12)}
    files['notes/gamma/empty.txt'] = b'  \n'
    mine = _write_tree(tmp_path, files) / 'notes'
    with pytest.warns(UserWarning, match='1 empty text files were left out'):
        td = load_bbc(path=mine, verbose=False)
    assert td.classes == ['alpha', 'beta', 'gamma'] and len(td.concat()) == 36 and not td.generated
    assert all(td.classes[y] in x for x, y in zip(td.concat().x, td.concat().y))


def test_text_folder_without_class_folders_is_refused(tmp_path, seqlab_data_cache):
    _write_tree(tmp_path, {'flat/a.txt': b'one', 'flat/b.txt': b'two'})
    with pytest.raises(DownloadError, match=r'class folders of \.txt files.*0 sub-folder'):
        load_bbc(path=tmp_path / 'flat', verbose=False)
    _write_tree(tmp_path, {'two/a/1.txt': b'one', 'two/b/readme.md': b'no texts'})
    with pytest.raises(DownloadError, match=r"hold no \.txt file: \['b'\]"):
        load_bbc(path=tmp_path / 'two', verbose=False)


def test_imdb_folder_and_archive_given_as_path(tmp_path, seqlab_data_cache):
    (tmp_path / 'a.tar.gz').write_bytes(imdb_tar())
    td = load_imdb(path=tmp_path / 'a.tar.gz', verbose=False)
    assert len(td.test) == 10 and td.classes == ['neg', 'pos']
    tarfile.open(tmp_path / 'a.tar.gz').extractall(tmp_path / 'x', filter='data')
    assert len(load_imdb(path=tmp_path / 'x', verbose=False).test) == 10
    import shutil
    shutil.rmtree(tmp_path / 'x' / 'aclImdb' / 'test' / 'pos')
    with pytest.raises(DownloadError, match=r"lacks review files \(\*\.txt\) in \['test/pos'\]"):
        load_imdb(path=tmp_path / 'x', verbose=False)


def test_cifar10_folder_given_as_path(tmp_path, seqlab_data_cache):
    data, arrays = cifar_tar()
    (tmp_path / 'c.tar.gz').write_bytes(data)
    tarfile.open(tmp_path / 'c.tar.gz').extractall(tmp_path / 'mine', filter='data')
    td = load_cifar10(path=tmp_path / 'mine', verbose=False)
    assert td.test.x.shape == (20, 32, 32, 3) and str(tmp_path / 'mine') in td.source


def test_emotion_and_trec_folders_given_as_path(tmp_path, seqlab_data_cache):
    for s in ('train', 'val', 'test'):
        (tmp_path / 'emo').mkdir(exist_ok=True)
        (tmp_path / 'emo' / f'{s}.txt').write_text('i am glad;joy\ni am scared;fear\ni feel low;sadness\n' * 5)
    td = load_emotion(path=tmp_path / 'emo', verbose=False)
    assert (len(td.train), len(td.valid), len(td.test)) == (15, 15, 15)
    train, test = trec_files()
    _write_tree(tmp_path, {'trec/train_5500.label': train, 'trec/TREC_10.label': test})
    assert len(load_trec(path=tmp_path / 'trec', verbose=False).test) == 6
    with pytest.raises(FileNotFoundError, match=r"lacks validation: looked for"):
        (tmp_path / 'emo' / 'val.txt').unlink()
        load_emotion(path=tmp_path / 'emo', verbose=False)


@pytest.mark.parametrize('loader', LOADERS, ids=lambda f: f.__name__)
def test_missing_path_is_a_clear_error(tmp_path, seqlab_data_cache, loader):
    with pytest.raises(FileNotFoundError, match='does not exist|is not a folder') as e:
        loader(path=tmp_path / 'nowhere', verbose=False)
    assert 'nowhere' in str(e.value)


def test_path_with_urls_is_refused(tmp_path, seqlab_data_cache):
    with pytest.raises(ValueError, match='do not apply'):
        load_imdb(path=tmp_path, urls={'aclImdb_v1.tar.gz': 'http://127.0.0.1:9/x'}, verbose=False)


def test_taskdata_without_valid_split_and_bad_labels():
    s = D.Split(['a', 'b', 'c'], [0, 1, 0], {'fold': np.array([1, 2, 3])})
    td = TaskData('mine', s, None, s[:1], ['u', 'v'], 'my files', False)
    assert 'no valid split' in td.summary() and len(td.concat()) == 4 and td.splits() == [s, td.test]
    assert list(TaskData('mine', s, D.Split(['d'], [1]), None, ['u', 'v'], 'x', False).concat().meta) == []
    with pytest.raises(ValueError, match='outside the 2 classes'):
        TaskData('mine', D.Split(['a'], [2]), None, None, ['u', 'v'], 'x', False)
    with pytest.raises(TypeError, match='TaskData.valid must be a Split or None'):
        TaskData('mine', s, [1, 2], None, ['u', 'v'], 'x', False)


# ---------------------------------------------------------------- inputs checked where they enter

def _wav_and_csv(t):
    (t / 'n.wav').write_text('not a wav file')
    (t / 'half.csv').write_text('text,label\nhi,0.5\n')
    (t / 'nan.csv').write_text('text,label\n,0\nok,1\n')
    return t


@pytest.mark.parametrize('call,err,says', [
    (lambda t: D.Split(['a', 'b'], [0, 1], {'fold': [1]}), ValueError, "these do not: {'fold': 1}"),
    (lambda t: D.Split(['a'], [0], [1]), TypeError, 'Split.meta must be a dict'),
    (lambda t: D.Split(['a'], [-1]), ValueError, 'class ids >= 0'),
    (lambda t: D.Split(None, [0]), TypeError, 'Split.x must be a list'),
    (lambda t: TaskData('t', D.Split(['a'], [0]), None, None, None, 's', False), TypeError, 'TaskData.classes must be a non-empty list'),
    (lambda t: D.fetch_archive('trec'), ValueError, "'trec' is not a data set that comes as one archive"),
    (lambda t: D.corpus_stats([]), ValueError, 'non-empty list of texts'),
    (lambda t: D.corpus_stats(['', ' ']), ValueError, 'none of the 2 texts has a token'),
    (lambda t: D.read_wav(t / 'n.wav'), ValueError, 'n.wav is not a WAV file'),
    (lambda t: D.read_wav(t / 'n.wav', -5), ValueError, 'sample_rate must be a positive int'),
    (lambda t: D.read_emotion(t / 'half.csv'), DownloadError, 'has labels outside'),
    (lambda t: D.read_emotion(t / 'nan.csv'), DownloadError, 'rows with no text, e.g. row 0'),
    (lambda t: D.read_emotion(t / 'missing.csv'), FileNotFoundError, 'missing.csv is not a file'),
    (lambda t: load_bbc(quick='no', verbose=False), TypeError, 'quick must be True'),
    (lambda t: load_bbc(path=5, verbose=False), TypeError, 'path must be a folder or archive'),
    (lambda t: load_esc10(quick=True, sample_rate=0, verbose=False), ValueError, 'sample_rate must be a positive int'),
    (lambda t: D.plot_images(np.zeros((4, 8, 8, 3), np.uint8), [0, 5, 0, 1], ['a', 'b']), ValueError, 'labels must lie in 0..1'),
    (lambda t: D.plot_images(np.zeros((4, 8, 8, 3), np.uint8), [0, 1], ['a', 'b']), ValueError, 'one label per image'),
    (lambda t: D.plot_images(np.zeros((2, 8, 8, 3), np.uint8), [0, 1], ['a', 'b'], n_per_class=0), ValueError, 'n_per_class must be'),
    (lambda t: D.plot_audio(np.zeros((2, 100)), [0, 0], ['a', 'b']), ValueError, "no clip of the classes ['b']"),
    (lambda t: D.plot_audio(np.zeros((2, 1000)), [0, 1], ['a', 'b'], sample_rate=0), ValueError, 'sample_rate must be'),
])
def test_bad_dataset_input_is_refused_at_the_boundary(tmp_path, seqlab_data_cache, call, err, says):
    with pytest.raises(err) as e:
        call(_wav_and_csv(tmp_path))
    assert says in str(e.value), str(e.value)


def test_plot_images_shows_grey_images():
    fig = D.plot_images(np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1], ['a', 'b'], n_per_class=2)
    assert fig.axes[0].images[0].get_array().shape == (20, 20, 3)


def test_plots_are_figures_outside_pyplot():
    """plot_images and plot_audio return a Figure that pyplot does not track (safe in threads and widgets, nothing left open)."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    before = plt.get_fignums()
    figs = [D.plot_images(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1], ['a', 'b'], n_per_class=2),
            D.plot_audio(np.random.default_rng(0).uniform(-1, 1, (2, 4000)), [0, 1], ['a', 'b'], sample_rate=8000)]
    assert all(isinstance(f, Figure) for f in figs), [type(f) for f in figs]
    assert all(f._repr_png_()[:4] == b'\x89PNG' for f in figs)  # shown as a PNG when it ends a cell
    assert plt.get_fignums() == before
    assert [len(f.axes) for f in figs] == [1, 4]  # the mosaic; waveform and spectrogram per class


def test_decoded_data_of_given_folders_does_not_pile_up(tmp_path, seqlab_data_cache):
    """Each folder given as path= gets its decoded data kept in the cache; temporary folders must not fill it."""
    tarfile.open(fileobj=io.BytesIO(imdb_tar())).extractall(tmp_path / 'src', filter='data')
    import shutil
    for i in range(11):
        shutil.copytree(tmp_path / 'src', tmp_path / f'copy{i}')
        load_imdb(path=tmp_path / f'copy{i}', verbose=False)
    kept = list((seqlab_data_cache / 'imdb' / 'given').glob('*decoded.pkl'))
    assert len(kept) == 9 and any('copy10-' in p.name for p in kept)


def test_with_valid_splits_the_training_items_stratified_and_keeps_test():
    """A learner's own data without a validation split gets one from train: disjoint, stratified, repeatable; test untouched."""
    tr = D.Split([f't{i}' for i in range(40)], [0] * 30 + [1] * 10, {'id': np.arange(40)})
    te = D.Split(['a', 'b'], [0, 1])
    td = D.TaskData('own', tr, None, te, ['x', 'y'], 'my folder', False)
    got = td.with_valid(0.2, seed=3)
    assert (len(got.train), len(got.valid), got.test) == (32, 8, te) and td.valid is None  # a copy
    assert np.bincount(got.valid.y).tolist() == [6, 2]  # each class keeps its share
    assert not set(got.train.meta['id']) & set(got.valid.meta['id'])
    assert sorted(got.train.x + got.valid.x) == sorted(tr.x)
    assert got.with_valid.__self__ is got and td.with_valid(0.2, seed=3).valid.x == got.valid.x
    with pytest.raises(ValueError, match='already has a validation split'):
        got.with_valid(0.2)
    with pytest.raises(ValueError, match='frac must'):
        td.with_valid(0)
