"""seqlab.download and the loaders' cache: nothing half-loaded, nothing cached wrong, nothing silent (issue 11)."""
import errno
import io
import json
import os
import stat
import tarfile
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from seqlab import datasets as D
from seqlab import download as DL
from seqlab.datasets import REMOTES, TaskData, Split, load_bbc, load_emotion, load_esc10, load_imdb, load_trec, load_cifar10
from seqlab.download import DownloadError, bad_content, download, extract

from test_datasets import (ESC10_CLASSES, bbc_zip, cache_files, cifar_tar, esc50_files, esc50_zip, imdb_tar, serve, sha, tar_gz,
                           trec_files, trec_checksums, zip_bytes)

HTML = b'<!DOCTYPE html>\n<html><head><title>Proxy</title></head><body>Please sign in to continue.</body></html>\n'


# ---------------------------------------------------------------- every remote file is checked

def test_every_remote_file_has_a_checksum_but_the_github_archive():
    unchecked = [r.fname for rs in REMOTES.values() for r in rs if not r.checksum]
    assert unchecked == ['ESC-50-master.zip']  # GitHub regenerates it: checked by content and parsing instead
    trec = {r.fname: r.checksum for r in REMOTES['trec']}
    assert trec == {'train_5500.label': 'md5:073462e3fcefaae31e00edb1f18d2d02', 'TREC_10.label': 'md5:323a3554401d86e650717e2d2f942589'}


def test_trec_checksum_is_checked_by_default(loopback_http_server, seqlab_data_cache):
    train, test = trec_files()
    srv = loopback_http_server
    urls = {'train_5500.label': srv.add('train_5500.label', train), 'TREC_10.label': srv.add('TREC_10.label', test)}
    with pytest.raises(DownloadError, match='md5 checksum mismatch'):
        load_trec(quick=False, urls=urls, verbose=False)
    assert cache_files(seqlab_data_cache) in ([], ['trec'])


# ---------------------------------------------------------------- cut and HTML bodies are never cached

def test_cut_without_content_length_is_not_cached(loopback_http_server, seqlab_data_cache):
    data = imdb_tar()
    kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', data, cut='no-length')
    with pytest.raises(DownloadError, match='checksum mismatch'):
        load_imdb(quick=False, verbose=False, **kw)
    assert cache_files(seqlab_data_cache) in ([], ['imdb'])
    with pytest.raises(DownloadError):  # and not reused: the next call tries again
        load_imdb(quick=False, verbose=False, **kw)


def test_body_shorter_than_content_length_is_an_error(loopback_http_server, tmp_path):
    url = loopback_http_server.add('f.zip', b'PK' + b'x' * 50_000, cut=True)
    with pytest.raises(DownloadError, match='connection cut'):
        download(url, tmp_path / 'c' / 'f.zip', None, progress=False)
    assert os.listdir(tmp_path / 'c') == []


@pytest.mark.parametrize('fname,dataset', [('bbc-fulltext.zip', 'bbc'), ('TREC_10.label', 'trec'),
                                           ('train-00000-of-00001.parquet', 'emotion')])
def test_html_page_with_status_200_is_never_cached(loopback_http_server, seqlab_data_cache, fname, dataset):
    url = loopback_http_server.add(fname, HTML, content_type='text/html')
    dest = seqlab_data_cache / dataset / fname
    with pytest.raises(DownloadError, match='HTML page') as e:
        download(url, dest, None, progress=False)  # no checksum: the content check alone refuses it
    assert url in str(e.value) and not dest.exists()
    assert not [p for p in cache_files(seqlab_data_cache) if p.endswith('.part')]


def test_wrong_magic_is_refused(loopback_http_server, tmp_path):
    url = loopback_http_server.add('x.tar.gz', b'plain text, not gzip' * 10)
    with pytest.raises(DownloadError, match='does not start with'):
        download(url, tmp_path / 'x.tar.gz', None, progress=False)
    assert bad_content(_write(tmp_path / 'ok.parquet', b'PAR1....PAR1')) is None


def _write(p, data):
    p.write_bytes(data)
    return p


def test_cached_html_page_is_moved_aside_and_fetched_again(loopback_http_server, seqlab_data_cache):
    train, test = trec_files()
    srv = loopback_http_server
    (seqlab_data_cache / 'trec').mkdir(parents=True)
    (seqlab_data_cache / 'trec' / 'TREC_10.label').write_bytes(HTML)  # left by an older version
    urls = {'train_5500.label': srv.add('train_5500.label', train), 'TREC_10.label': srv.add('TREC_10.label', test)}
    with pytest.warns(UserWarning, match='HTML page'):
        td = load_trec(quick=False, urls=urls, checksums=trec_checksums(), verbose=False)
    assert len(td.test) == 6 and (seqlab_data_cache / 'trec' / 'TREC_10.label').read_bytes() == test
    assert (seqlab_data_cache / 'trec' / 'TREC_10.label.not-data').read_bytes() == HTML  # not deleted: not seqlab's


def test_hand_placed_file_that_fails_to_parse_is_kept(seqlab_data_cache):
    train, _ = trec_files()
    folder = seqlab_data_cache / 'trec'
    folder.mkdir(parents=True)
    (folder / 'train_5500.label').write_bytes(train)
    (folder / 'TREC_10.label').write_bytes(b'this line has no label\n')
    urls = {f: 'http://127.0.0.1:9/unreachable' for f in ('train_5500.label', 'TREC_10.label')}
    with pytest.raises(DownloadError) as e:
        load_trec(quick=False, urls=urls, checksums={'train_5500.label': None, 'TREC_10.label': None}, verbose=False)
    msg = str(e.value)
    assert str(folder / 'TREC_10.label') in msg and 'line 1' in msg and 'Nothing was deleted' in msg
    assert (folder / 'TREC_10.label').read_bytes() == b'this line has no label\n' and (folder / 'train_5500.label').exists()


def test_downloaded_file_that_fails_to_parse_is_kept_and_named(loopback_http_server, seqlab_data_cache):
    train, _ = trec_files()
    bad = b'this line has no label\n'
    urls = {'train_5500.label': loopback_http_server.add('train_5500.label', train),
            'TREC_10.label': loopback_http_server.add('TREC_10.label', bad)}
    with pytest.raises(DownloadError) as e:
        load_trec(quick=False, urls=urls, checksums={'train_5500.label': sha(train), 'TREC_10.label': sha(bad)}, verbose=False)
    msg = str(e.value)
    assert urls['TREC_10.label'] in msg and 'Delete it to download it again' in msg and 'matches its checksum' in msg
    assert (seqlab_data_cache / 'trec' / 'TREC_10.label').read_bytes() == bad


def test_hand_placed_extracted_folder_survives(seqlab_data_cache):
    folder = seqlab_data_cache / 'cifar10' / 'cifar-10-python' / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    (folder / 'batches.meta').write_bytes(b'not a pickle')
    with pytest.raises(DownloadError, match='Nothing was deleted') as e:
        load_cifar10(quick=False, urls={'cifar-10-python.tar.gz': 'http://127.0.0.1:9/x'}, verbose=False)
    assert str(folder / 'batches.meta') in str(e.value) and (folder / 'batches.meta').read_bytes() == b'not a pickle'


def test_file_outside_the_cache_is_named_not_deleted(tmp_path, seqlab_data_cache):
    p = tmp_path / 'mine.label'
    p.write_text('no label here\n')
    with pytest.raises(DownloadError, match='Nothing was deleted') as e:
        DL.read_cached(p, D.read_trec, 'TREC questions')
    assert str(p) in str(e.value) and p.exists()


# ---------------------------------------------------------------- ESC-10: a learner's folder is never deleted

def _place_esc50(cache, files: dict):
    for name, data in files.items():
        p = cache / 'esc50' / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return cache / 'esc50' / 'ESC-50-master'


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def _meta(files, edit):
    key = 'ESC-50-master/meta/esc50.csv'
    df = pd.read_csv(io.BytesIO(files[key]))
    files[key] = edit(df).to_csv(index=False).encode()
    return files


WAV = 'ESC-50-master/audio/3-1000-A-10.wav'
ESC_BREAKAGES = {  # what is broken: (edit of the files, a string the error must contain)
    'missing wav': (lambda f: f.pop(WAV) and f, '3-1000-A-10.wav'),
    'truncated wav': (lambda f: f.update({WAV: f[WAV][:30]}) or f, '3-1000-A-10.wav'),
    'esc10 as yes/no': (lambda f: _meta(f, lambda d: d.assign(esc10=np.where(d.esc10, 'yes', 'no'))), 'esc10'),
    'esc10 all false': (lambda f: _meta(f, lambda d: d.assign(esc10=False)), 'no row has esc10 True'),
    'no target column': (lambda f: _meta(f, lambda d: d.drop(columns='target')), "no column ['target']"),
}


@pytest.mark.parametrize('kind', list(ESC_BREAKAGES))
def test_hand_placed_esc50_folder_survives_every_read_error(seqlab_data_cache, kind):
    edit, says = ESC_BREAKAGES[kind]
    folder = _place_esc50(seqlab_data_cache, edit(esc50_files()))
    before = _snapshot(folder)
    with pytest.raises(DownloadError) as e:
        load_esc10(quick=False, urls={'ESC-50-master.zip': 'http://127.0.0.1:9/x'}, verbose=False)
    msg = str(e.value)
    assert says in msg and 'Nothing was deleted' in msg and 'removed' not in msg and 'anew' in msg, msg
    assert _snapshot(folder) == before  # every file, byte for byte
    assert not [p for p in cache_files(seqlab_data_cache) if p.endswith('.seqlab.json')]


def test_esc50_folder_without_esc10_column_uses_every_row(seqlab_data_cache):
    files = _meta(esc50_files(), lambda d: d[d.esc10].drop(columns='esc10'))
    _place_esc50(seqlab_data_cache, files)
    td = load_esc10(quick=False, urls={'ESC-50-master.zip': 'http://127.0.0.1:9/x'}, verbose=False)
    assert td.classes == ESC10_CLASSES and len(td.concat()) == 50 and 'placed by hand' in td.source


def test_extracted_esc50_that_fails_keeps_the_archive_and_is_not_extracted_again(loopback_http_server, seqlab_data_cache,
                                                                                 monkeypatch):
    bad = zip_bytes(ESC_BREAKAGES['truncated wav'][0](esc50_files()))
    url = loopback_http_server.add('ESC-50-master.zip', bad)
    kw = {'urls': {'ESC-50-master.zip': url}}
    archive, folder = seqlab_data_cache / 'esc50' / 'ESC-50-master.zip', seqlab_data_cache / 'esc50' / 'ESC-50-master'
    with pytest.raises(DownloadError) as e:
        load_esc10(quick=False, verbose=False, **kw)
    msg = str(e.value)
    assert '3-1000-A-10.wav' in msg and str(archive) in msg and 'delete it to download it again' in msg
    assert archive.read_bytes() == bad and not folder.exists()  # the copy went, the archive stayed
    extractions = []
    with monkeypatch.context() as m:
        m.setattr(DL.zipfile.ZipFile, 'extractall', lambda self, *a, **k: extractions.append(1))
        with pytest.raises(DownloadError, match='not extracted again'):
            load_esc10(quick=False, verbose=False, **kw)
    assert extractions == [] and loopback_http_server.requests == ['ESC-50-master.zip']
    archive.write_bytes(esc50_zip())  # a good copy placed over the bad one is picked up
    assert len(load_esc10(quick=False, verbose=False, **kw).train) == 30


def test_fixed_source_is_picked_up_after_deleting_the_archive(loopback_http_server, seqlab_data_cache):
    bad = zip_bytes(ESC_BREAKAGES['esc10 all false'][0](esc50_files()))
    url = loopback_http_server.add('ESC-50-master.zip', bad)
    with pytest.raises(DownloadError):
        load_esc10(quick=False, urls={'ESC-50-master.zip': url}, verbose=False)
    (seqlab_data_cache / 'esc50' / 'ESC-50-master.zip').unlink()  # as the message says
    loopback_http_server.add('ESC-50-master.zip', esc50_zip())
    td = load_esc10(quick=False, urls={'ESC-50-master.zip': url}, verbose=False)
    assert len(td.test) == 10 and url in td.source


def test_corrupt_esc50_zip_is_downloaded_again_from_the_fixed_source(loopback_http_server, seqlab_data_cache):
    url = loopback_http_server.add('ESC-50-master.zip', esc50_zip()[:-200])  # cut: no central directory
    with pytest.raises(DownloadError, match='it was deleted') as e:
        load_esc10(quick=False, urls={'ESC-50-master.zip': url}, verbose=False)
    assert url in str(e.value) and cache_files(seqlab_data_cache) == ['esc50']
    loopback_http_server.add('ESC-50-master.zip', esc50_zip())
    assert len(load_esc10(quick=False, urls={'ESC-50-master.zip': url}, verbose=False).valid) == 10


# ---------------------------------------------------------------- extraction: corrupt archive vs failing destination

@pytest.mark.parametrize('err', [errno.ENOSPC, errno.EACCES])
def test_good_archive_survives_a_failing_destination(loopback_http_server, seqlab_data_cache, monkeypatch, err):
    data, _ = cifar_tar()
    kw = serve(loopback_http_server, 'cifar-10-python.tar.gz', data)
    def full(*a, **k):
        raise OSError(err, os.strerror(err))
    with monkeypatch.context() as m:
        m.setattr(tarfile, 'copyfileobj', full)
        with pytest.raises(DownloadError) as e:
            load_cifar10(quick=False, verbose=False, **kw)
    msg = str(e.value)
    assert 'is fine and was kept' in msg and 'corrupt' not in msg and os.strerror(err) in msg
    archive = seqlab_data_cache / 'cifar10' / 'cifar-10-python.tar.gz'
    assert archive.read_bytes() == data  # bit for bit
    assert cache_files(seqlab_data_cache) == ['cifar10', 'cifar10/.cifar-10-python.tar.gz.seqlab.json',
                                              'cifar10/cifar-10-python.tar.gz']  # the archive and its note, no partial folder
    loopback_http_server.stop()  # the retry needs no network
    assert len(load_cifar10(quick=False, verbose=False, **kw).test) == 20


@pytest.mark.parametrize('err', [errno.EFBIG, errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize('kind', ['zip', 'tar.gz'])
def test_full_disk_is_not_a_corrupt_archive(tmp_path, monkeypatch, err, kind):
    """A good archive whose extraction hits a full disk or a file-size limit is kept, the partial folder removed,
    and the message says the disk is at fault, where, and how much the extraction needs."""
    members = {'top/a.bin': b'x' * 300_000, 'top/b.bin': b'y' * 100_000}
    data = zip_bytes(members) if kind == 'zip' else tar_gz(members)
    archive = tmp_path / f'good.{kind}'
    archive.write_bytes(data)
    written = []
    def full(src, dst, *a, **k):  # the first file goes in, the second fills the disk
        if written:
            raise OSError(err, os.strerror(err))
        written.append(dst.write(src.read()))
    monkeypatch.setattr('shutil.copyfileobj', full)
    monkeypatch.setattr(tarfile, 'copyfileobj', lambda src, dst, *a, **k: full(src, dst))
    with pytest.raises(DownloadError) as e:
        extract(archive, tmp_path / 'out')
    msg = str(e.value)
    assert 'corrupt' not in msg and 'is fine and was kept' in msg and os.strerror(err) in msg and str(tmp_path) in msg
    assert ('the largest file' in msg and '0.30 MB' in msg) if err == errno.EFBIG else ('full' in msg and '0.40 MB' in msg)
    assert archive.read_bytes() == data and sorted(os.listdir(tmp_path)) == [archive.name]  # partial extraction removed


def test_unreadable_archive_is_kept(tmp_path, monkeypatch):
    archive = tmp_path / 'a.zip'
    archive.write_bytes(zip_bytes({'a.txt': b'hello'}))
    def no_read(f, *a, **k):
        raise PermissionError(errno.EACCES, 'Permission denied', str(f))
    monkeypatch.setattr(DL.zipfile, 'ZipFile', no_read)  # as root, chmod 000 would not stop the read
    with pytest.raises(DownloadError, match='cannot be read') as e:
        extract(archive, tmp_path / 'out')
    assert 'corrupt' not in str(e.value) and 'could not write' not in str(e.value).lower() and archive.exists()


def test_corrupt_archive_message_differs(tmp_path):
    (tmp_path / 'a.tar.gz').write_bytes(b'\x1f\x8b' + b'\x00' * 100)
    with pytest.raises(DownloadError, match='is corrupt') as e:
        extract(tmp_path / 'a.tar.gz', tmp_path / 'a')
    assert 'is fine' not in str(e.value) and 'seqlab did not download it' in str(e.value)
    assert (tmp_path / 'a.tar.gz').exists() and not (tmp_path / 'a').exists()  # not seqlab's: kept


# ---------------------------------------------------------------- stale temporaries, umask, unwritable cache

def test_stale_part_and_tmp_files_are_cleaned(loopback_http_server, seqlab_data_cache):
    folder = seqlab_data_cache / 'imdb'
    folder.mkdir(parents=True)
    dead = folder / '.aclImdb_v1.tar.gz.999999999.k3j4h5g6.part'  # a killed download (no such process)
    old = folder / '.aclImdb_v1.tar.gz.zz9x8c7v.part'  # an older version's name, two days old
    live = folder / f'.aclImdb_v1.tar.gz.{os.getppid()}.q1w2e3r4.part'  # a running download of another process
    dead_dir = folder / '.aclImdb_v1.999999999.a1s2d3f4.tmp'  # a killed extraction
    for p in (dead, old, live):
        p.write_bytes(b'partial')
    dead_dir.mkdir()
    (dead_dir / 'x.txt').write_text('half extracted')
    os.utime(old, (time.time() - 2 * 86_400,) * 2)
    kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', imdb_tar())
    load_imdb(quick=False, verbose=False, **kw)
    assert not dead.exists() and not old.exists() and not dead_dir.exists()
    assert live.exists()


def test_cache_files_keep_the_umask(loopback_http_server, seqlab_data_cache):
    old = os.umask(0o022)
    try:
        kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', imdb_tar())
        load_imdb(quick=False, verbose=False, **kw)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)
    assert mode(seqlab_data_cache / 'imdb' / 'aclImdb_v1.tar.gz') == 0o644
    assert mode(seqlab_data_cache / 'imdb' / 'aclImdb_v1') == 0o755
    assert mode(seqlab_data_cache / 'imdb' / 'aclImdb_v1.decoded.pkl') == 0o644


def test_unwritable_cache_names_seqlab_data(tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('not a folder')
    monkeypatch.setenv('SEQLAB_DATA', str(tmp_path / 'file' / 'cache'))
    with pytest.raises(DownloadError) as e:
        load_imdb(quick=False, urls={'aclImdb_v1.tar.gz': 'http://127.0.0.1:9/x'}, verbose=False)
    msg = str(e.value)
    assert 'SEQLAB_DATA' in msg and 'cannot be written' in msg and 'tried' not in msg


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes everywhere')
def test_read_only_cache_names_seqlab_data(tmp_path, monkeypatch):
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv('SEQLAB_DATA', str(ro))
    with pytest.raises(DownloadError, match='SEQLAB_DATA'):
        download('http://127.0.0.1:9/x', DL.data_dir('x') / 'x.bin', progress=False)


# ---------------------------------------------------------------- tarfile without filter='data' (Python < 3.9.17 / 3.10.12 / 3.11.4)

@pytest.fixture
def old_tarfile(monkeypatch):
    """tarfile as on Pythons without extraction filters: no `data_filter`, `extractall` takes no `filter`."""
    monkeypatch.delattr(tarfile, 'data_filter', raising=False)
    real = tarfile.TarFile.extractall
    def extractall(self, path='.', members=None, *, numeric_owner=False, **kw):
        if 'filter' in kw:
            raise TypeError("extractall() got an unexpected keyword argument 'filter'")
        return real(self, path, members, numeric_owner=numeric_owner, filter='fully_trusted')
    monkeypatch.setattr(tarfile.TarFile, 'extractall', extractall)


def test_old_python_tarfile_extracts(old_tarfile, tmp_path):
    (tmp_path / 'a.tar.gz').write_bytes(tar_gz({'top/a.txt': b'hello', 'top/sub/b.txt': b'world'}))
    out = extract(tmp_path / 'a.tar.gz', tmp_path / 'out')
    assert (out / 'top' / 'sub' / 'b.txt').read_text() == 'world'


def _tar_with(member: tarfile.TarInfo, data: bytes = b'') -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        t.addfile(member, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _info(name, kind=tarfile.REGTYPE, link='', size=0):
    i = tarfile.TarInfo(name)
    i.type, i.linkname, i.size = kind, link, size
    return i


@pytest.mark.parametrize('member', [_info('../evil.txt', size=4), _info('/tmp/evil.txt', size=4),
                                    _info('top/link', tarfile.SYMTYPE, '../../etc/passwd'),
                                    _info('top/dev', tarfile.CHRTYPE)], ids=['dotdot', 'absolute', 'symlink', 'device'])
def test_old_python_tarfile_refuses_attacks(old_tarfile, tmp_path, member):
    (tmp_path / 'a.tar.gz').write_bytes(_tar_with(member, b'evil' if member.size else b''))
    with pytest.raises(DownloadError, match='corrupt'):
        extract(tmp_path / 'a.tar.gz', tmp_path / 'out')
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'evil.txt').exists()


# ---------------------------------------------------------------- BBC: a second source named

def test_bbc_error_names_a_second_source(loopback_http_server, seqlab_data_cache):
    with pytest.raises(DownloadError) as e:
        load_bbc(quick=False, urls={'bbc-fulltext.zip': loopback_http_server.url('gone.zip')}, verbose=False)
    msg = str(e.value)
    assert 'HTTP 404' in msg and 'Kaggle' in msg and str(seqlab_data_cache / 'bbc' / 'bbc-fulltext') in msg


def test_bbc_folder_placed_by_hand_is_used(seqlab_data_cache):
    import zipfile
    zipfile.ZipFile(io.BytesIO(bbc_zip())).extractall(seqlab_data_cache / 'bbc' / 'bbc-fulltext')
    td = load_bbc(quick=False, urls={'bbc-fulltext.zip': 'http://127.0.0.1:9/x'}, verbose=False)
    assert td.info['duplicates_removed'] == 1


# ---------------------------------------------------------------- decoded data cached, invalidated by the source

def test_imdb_decoded_once_and_again_when_a_review_changes(loopback_http_server, seqlab_data_cache, monkeypatch):
    kw = serve(loopback_http_server, 'aclImdb_v1.tar.gz', imdb_tar())
    calls = []
    real = D.read_imdb
    monkeypatch.setattr(D, 'read_imdb', lambda f: calls.append(f) or real(f))
    a = load_imdb(quick=False, verbose=False, **kw)
    b = load_imdb(quick=False, verbose=False, **kw)
    assert len(calls) == 1 and a.test.x == b.test.x
    review = seqlab_data_cache / 'imdb' / 'aclImdb_v1' / 'aclImdb' / 'test' / 'pos' / '0_7.txt'
    review.write_text('An edited review, pos.')
    c = load_imdb(quick=False, verbose=False, **kw)
    assert len(calls) == 2 and 'An edited review, pos.' in c.test.x


def test_esc10_decoded_per_sample_rate(loopback_http_server, seqlab_data_cache, monkeypatch):
    kw = serve(loopback_http_server, 'ESC-50-master.zip', esc50_zip())
    calls = []
    real = D.read_esc10
    monkeypatch.setattr(D, 'read_esc10', lambda f, sr: calls.append(sr) or real(f, sr))
    a = load_esc10(quick=False, verbose=False, **kw)
    b = load_esc10(quick=False, verbose=False, **kw)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    c = load_esc10(quick=False, verbose=False, sample_rate=8_000, **kw)
    assert calls == [16_000, 8_000] and c.train.x.shape[1] == 800
    wav = sorted((seqlab_data_cache / 'esc50' / 'ESC-50-master').rglob('*.wav'))[0]
    os.utime(wav, (time.time() + 10,) * 2)  # the source changed
    load_esc10(quick=False, verbose=False, **kw)
    assert calls == [16_000, 8_000, 16_000]


def test_damaged_decoded_cache_is_rebuilt(tmp_path):
    (tmp_path / 'd.pkl').write_bytes(b'garbage')
    assert DL.decoded_cache(tmp_path / 'd.pkl', 'k', lambda: [1, 2]) == [1, 2]
    assert DL.decoded_cache(tmp_path / 'd.pkl', 'k', lambda: 1 / 0) == [1, 2]


# ---------------------------------------------------------------- seeds, TaskData, Split

LOADERS = [load_bbc, load_cifar10, load_emotion, load_trec, load_imdb, load_esc10]


@pytest.mark.parametrize('seed', [-1, 1.5, '0', True, None])
@pytest.mark.parametrize('loader', LOADERS, ids=lambda f: f.__name__)
def test_bad_seed_is_a_clear_error(loader, seed):
    with pytest.raises(ValueError, match='seed must be a non-negative integer') as e:
        loader(quick=True, seed=seed, verbose=False)
    assert repr(seed) in str(e.value)


def test_taskdata_without_test_split():
    s = Split(['a', 'b', 'c'], [0, 1, 0])
    td = TaskData('folds', s, s[:1], None, ['u', 'v'], 'generated sample', True)
    assert len(td.concat()) == 4 and 'no test split' in td.summary() and td.n_classes == 2


@pytest.mark.parametrize('labels', [['neg', 'pos'], [0.5, 1.0], [[0], [1]]])
def test_split_with_label_names_says_to_map_them(labels):
    with pytest.raises(TypeError, match='map names to ids'):
        Split(['bad movie', 'good movie'], labels)


def test_split_accepts_integer_valued_labels():
    assert Split(['a', 'b'], np.array([0., 1.])).y.dtype == np.int64


def test_decoded_cache_that_cannot_be_written_only_warns(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(DL.pickle, 'dump', full)
    with pytest.warns(UserWarning, match='decoded again next time'):
        assert DL.decoded_cache(tmp_path / 'd.pkl', 'k', lambda: [1, 2]) == [1, 2]
    assert os.listdir(tmp_path) == []  # no temporary left behind


# ---------------------------------------------------------------- SEQLAB_CHECKSUMS: a mirror's own builds; urls= typos

def _mirror_bbc(srv, monkeypatch, tmp_path, table):
    data = bbc_zip()
    srv.add('lab/bbc-fulltext.zip', data)
    monkeypatch.setenv('SEQLAB_MIRROR', f'{srv.base}/lab')
    ck = tmp_path / 'checksums.json'
    ck.write_text(json.dumps(table(data)) if callable(table) else table)
    monkeypatch.setenv('SEQLAB_CHECKSUMS', str(ck))
    return data


def test_seqlab_checksums_replaces_the_published_checksum(loopback_http_server, seqlab_data_cache, monkeypatch, tmp_path):
    _mirror_bbc(loopback_http_server, monkeypatch, tmp_path, lambda d: {'bbc-fulltext.zip': sha(d), 'TREC_10.label': sha(b'x')})
    with pytest.warns(UserWarning, match=r"SEQLAB_CHECKSUMS .* replaces the published checksum of \['bbc-fulltext.zip'\]"):
        td = load_bbc(quick=False, verbose=False)
    assert td.info['duplicates_removed'] == 1
    assert f'{loopback_http_server.base}/lab/bbc-fulltext.zip' in td.source  # the source actually read
    assert 'mlg.ucd.ie' not in td.source


def test_mirror_build_fails_the_published_checksum_without_it(loopback_http_server, seqlab_data_cache, monkeypatch, tmp_path):
    _mirror_bbc(loopback_http_server, monkeypatch, tmp_path, '{}')
    with pytest.raises(DownloadError, match='checksum mismatch'):
        load_bbc(quick=False, verbose=False)


def test_explicit_checksums_win_over_seqlab_checksums(loopback_http_server, seqlab_data_cache, monkeypatch, tmp_path):
    data = _mirror_bbc(loopback_http_server, monkeypatch, tmp_path, lambda d: {'bbc-fulltext.zip': sha(b'other')})
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # nothing of SEQLAB_CHECKSUMS is used: no warning
        load_bbc(quick=False, checksums={'bbc-fulltext.zip': sha(data)}, verbose=False)


@pytest.mark.parametrize('table,says', [
    (None, 'cannot be read'), ('{"bbc-fulltext.zip": ', 'not valid JSON'), ('["sha256:00"]', 'holds a list'),
    ('{"bbc.zip": null}', "unknown names ['bbc.zip']"), ('{"bbc-fulltext.zip": "sha256:"}', 'would check nothing'),
    ('{"bbc-fulltext.zip": 42}', 'must be a str')])
def test_bad_seqlab_checksums_is_a_clear_error(seqlab_data_cache, monkeypatch, tmp_path, table, says):
    ck = tmp_path / 'checksums.json'
    if table is not None:
        ck.write_text(table)
    monkeypatch.setenv('SEQLAB_CHECKSUMS', str(ck))
    with pytest.raises((ValueError, TypeError), match='SEQLAB_CHECKSUMS') as e:
        load_bbc(quick=False, verbose=False)
    assert says in str(e.value) and str(ck) in str(e.value)
    assert cache_files(seqlab_data_cache) == []  # refused before any download


@pytest.mark.parametrize('arg', ['urls', 'checksums'])
def test_unknown_key_in_urls_or_checksums_lists_the_files(seqlab_data_cache, arg):
    with pytest.raises(ValueError) as e:
        load_trec(quick=False, verbose=False, **{arg: {'train_5500.lable': None}})
    assert "'train_5500.lable'" in str(e.value) and "['train_5500.label', 'TREC_10.label']" in str(e.value)


def test_download_nothing_can_verify_says_so(loopback_http_server, tmp_path):
    """No Content-Length and no checksum: a cut body cannot be told from a whole one; it is kept, with a warning."""
    url = loopback_http_server.add('f.zip', b'PK' + b'x' * 50_000, cut='no-length')
    with pytest.warns(UserWarning, match='neither a length nor a checksum') as w:
        p = download(url, tmp_path / 'f.zip', None, progress=False)
    assert p.exists() and str(p) in str(w[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a checksum, or a length, lets it be verified: no warning
        download(loopback_http_server.add('g.zip', b'PK' + b'y' * 100), tmp_path / 'g.zip', None, progress=False)


# ---------------------------------------------------------------- inputs checked where they enter

@pytest.mark.parametrize('call,err,says', [
    (lambda t: download('http://127.0.0.1:9/x', None), TypeError, 'dest must be a path'),
    (lambda t: download(None, t / 'x'), ValueError, 'urls must be a URL or a non-empty list'),
    (lambda t: download('http://127.0.0.1:9/x', t, progress=False), IsADirectoryError, 'is a folder'),
    (lambda t: download('http://127.0.0.1:9/x', t / 'x', timeout=-1), ValueError, 'timeout must be a positive number'),
    (lambda t: extract(None, t / 'x'), TypeError, 'archive must be a path'),
    (lambda t: extract(t, t / 'x'), FileNotFoundError, 'is a folder, not a file'),
    (lambda t: DL.file_hash(t / 'f', 'crc32'), ValueError, "algo must be one of ['sha256', 'md5', 'sha1']"),
    (lambda t: bad_content(t), FileNotFoundError, 'is not a file'),
    (lambda t: DL.read_cached(t, None), TypeError, 'reader must be a function'),
    (lambda t: DL.source_fingerprint(t / 'nowhere'), FileNotFoundError, 'does not exist'),
    (lambda t: DL.decoded_cache(t / 'd.pkl', 'k', None), TypeError, 'make must be a function'),
    (lambda t: DL.decoded_cache(t, 'k', lambda: 1), IsADirectoryError, 'is a folder'),
    (lambda t: DL.provenance(None), TypeError, 'path must be a path'),
    (lambda t: DL.data_dir(5), TypeError, 'dataset must be a str'),
])
def test_bad_download_input_is_refused_at_the_boundary(tmp_path, call, err, says):
    (tmp_path / 'f').write_text('x')
    with pytest.raises(err) as e:
        call(tmp_path)
    assert says in str(e.value), str(e.value)
