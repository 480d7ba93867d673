"""Small archives of every real data set, in the real formats, with content unlike seqlab's generated samples.

`make rehearse` serves these files on 127.0.0.1 (`SEQLAB_MIRROR`) and runs every notebook in full mode on
them. They are not the real data and not the generated samples either: texts are drawn from the plain
word list of gensim's Lee news corpus (shipped with gensim) with a weak, diffuse class tilt and no planted
keywords; images are smooth random colour fields; clips are filtered noise with a few tones. A few hundred
items per set, so that a smoke run reads them in seconds.

    build(mirror, gensim_dir, only=None) -> {file name: 'sha256:...'}   (the SEQLAB_CHECKSUMS of the mirror)
"""
from __future__ import annotations
import gzip, hashlib, io, json, pickle, re, tarfile, zipfile
from pathlib import Path

import numpy as np

SETS = ('bbc', 'cifar10', 'emotion', 'trec', 'imdb', 'esc50', 'vectors')
BBC_CLASSES = ['business', 'entertainment', 'politics', 'sport', 'tech']
EMOTION_CLASSES = ['sadness', 'joy', 'love', 'anger', 'fear', 'surprise']
CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
TREC_FINE = {'ABBR': ['abb', 'exp'], 'DESC': ['def', 'desc', 'manner', 'reason'],
             'ENTY': ['animal', 'body', 'color', 'food', 'other', 'product', 'sport', 'termeq'],
             'HUM': ['ind', 'gr', 'desc', 'title'], 'LOC': ['city', 'country', 'other', 'state'],
             'NUM': ['count', 'date', 'dist', 'money', 'other', 'period', 'perc']}
ESC50 = [(0, 'dog', True), (1, 'rooster', True), (10, 'rain', True), (11, 'sea_waves', True), (12, 'crackling_fire', True),
         (20, 'crying_baby', True), (21, 'sneezing', True), (38, 'clock_tick', True), (40, 'helicopter', True),
         (41, 'chainsaw', True), (5, 'cat', False), (30, 'door_wood_knock', False)]
# what gensim-data calls them, the file, and how its loader reads it (binary word2vec or text with a header)
VECTORS = {'word2vec-google-news-300': (300, True, True), 'fasttext-wiki-news-subwords-300': (300, False, True),
           **{f'glove-wiki-gigaword-{d}': (d, False, False) for d in (50, 100, 200, 300)}}  # (dim, binary, keeps case)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return 'sha256:' + h.hexdigest()


class Words:
    "A plain word list with Zipf-like frequencies (gensim's Lee corpus), and texts drawn from it with a weak class tilt."
    def __init__(self, n_classes: int, seed: int, tilt: float = 0.6):
        from gensim.test.utils import datapath
        toks = re.findall(r"[a-z]+(?:'[a-z]+)?", Path(datapath('lee_background.cor')).read_text(encoding='utf-8').lower())
        words, counts = np.unique(toks, return_counts=True)
        self.words = words
        self.rng = np.random.default_rng(seed)
        base = counts / counts.sum()
        # each class multiplies every word's frequency by exp(tilt * N(0, 1)): diffuse, weak structure, no keywords
        w = base * np.exp(tilt * self.rng.standard_normal((n_classes, len(words))))
        self.p = w / w.sum(1, keepdims=True)

    def text(self, c: int, n: int) -> str:
        return ' '.join(self.words[self.rng.choice(len(self.words), size=max(1, n), p=self.p[c])])

    def length(self, median: float, sigma: float = 0.6, lo: int = 3) -> int:
        return max(lo, int(self.rng.lognormal(np.log(median), sigma)))

    def sentences(self, c: int, n_words: int) -> str:
        "Sentences of 8-25 words, capitalised, with full stops and a comma here and there."
        out, left = [], n_words
        while left > 0:
            k = min(left, int(self.rng.integers(8, 26)))
            s = self.text(c, k).split()
            if len(s) > 6 and self.rng.random() < 0.4:
                s[int(self.rng.integers(2, len(s) - 2))] += ','
            out.append(' '.join(s).capitalize() + '.')
            left -= k
        return ' '.join(out)


def _zip(path: Path, files: dict):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)


def _tgz(path: Path, files: dict):
    with tarfile.open(path, 'w:gz') as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_300_000_000, 0o644
            t.addfile(info, io.BytesIO(data))


def bbc(out: Path):
    "bbc-fulltext.zip: bbc/<topic>/<nnn>.txt (title line, blank line, paragraphs), Latin-1 like the original, one duplicate."
    wl, counts, files = Words(5, seed=11, tilt=0.15), [64, 48, 52, 66, 50], {'bbc/README.TXT': b'Rehearsal build in the layout of the BBC full-text corpus.\n'}
    for c, (name, n) in enumerate(zip(BBC_CLASSES, counts)):
        for i in range(n):
            title = wl.text(c, int(wl.rng.integers(3, 8))).title()
            paras = [wl.sentences(c, wl.length(60, 0.5, 15)) for _ in range(int(wl.rng.integers(3, 9)))]
            body = title + '\n\n' + '\n\n'.join(paras) + '\n'
            if wl.rng.random() < 0.1:
                body = body.replace('.', ' for \u00a3%d.%dm.' % (wl.rng.integers(1, 900), wl.rng.integers(0, 9)), 1)
            files[f'bbc/{name}/{i + 1:03d}.txt'] = body.encode('latin-1')
    files['bbc/sport/999.txt'] = files['bbc/sport/001.txt']  # the real set has exact duplicates
    _zip(out / 'bbc-fulltext.zip', files)


def cifar10(out: Path):
    "cifar-10-python.tar.gz: cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta (python pickles)."
    rng = np.random.default_rng(12)
    def images(n):
        y = rng.integers(0, 10, n)
        low = rng.random((n, 3, 4, 4))  # smooth random colour fields, upsampled 8x, a weak tint per class
        x = np.kron(low, np.ones((1, 1, 8, 8))) + 0.15 * rng.standard_normal((n, 3, 32, 32))
        tint = np.random.default_rng(120).normal(0, 0.08, (10, 3))
        x = np.clip(x + tint[y][:, :, None, None], 0, 1)
        return (x * 255).astype(np.uint8).reshape(n, 3072), y
    files = {'cifar-10-batches-py/readme.html': b'<html>rehearsal build</html>\n',
             'cifar-10-batches-py/batches.meta': pickle.dumps({b'num_cases_per_batch': 60, b'label_names': [c.encode() for c in CIFAR_CLASSES],
                                                             b'num_vis': 3072}, protocol=2)}
    for name, label, n in [(f'data_batch_{i}', f'training batch {i} of 5', 60) for i in range(1, 6)] + [('test_batch', 'testing batch 1 of 1', 100)]:
        x, y = images(n)
        d = {b'batch_label': label.encode(), b'labels': [int(v) for v in y], b'data': x,
             b'filenames': [f'rehearsal_{name}_{i}.png'.encode() for i in range(n)]}
        files[f'cifar-10-batches-py/{name}'] = pickle.dumps(d, protocol=2)
    _tgz(out / 'cifar-10-python.tar.gz', files)


def emotion(out: Path):
    "{train,validation,test}-00000-of-00001.parquet: columns text (lower-case, no punctuation) and label (int64)."
    import pandas as pd
    wl, share = Words(6, seed=13), np.array([0.29, 0.34, 0.08, 0.13, 0.12, 0.04])
    for split, n in (('train', 480), ('validation', 120), ('test', 120)):
        y = wl.rng.choice(6, size=n, p=share)
        texts = ['i ' + wl.text(int(c), wl.length(16, 0.5, 3)) for c in y]
        pd.DataFrame({'text': texts, 'label': y.astype(np.int64)}).to_parquet(out / f'{split}-00000-of-00001.parquet', index=False)


def trec(out: Path):
    "train_5500.label and TREC_10.label: 'COARSE:fine question ?' per line, Latin-1."
    wl = Words(6, seed=14)
    heads = ['What', 'Who', 'Where', 'When', 'How', 'Which', 'Why', 'Name']
    tilt = np.random.default_rng(140).dirichlet(np.ones(len(heads)) * 2, size=6)  # a weak pull of each class on the first word
    coarse = list(TREC_FINE)
    for name, n in (('train_5500.label', 540), ('TREC_10.label', 120)):
        lines = []
        for _ in range(n):
            c = int(wl.rng.integers(0, 6))
            fine = TREC_FINE[coarse[c]][int(wl.rng.integers(0, len(TREC_FINE[coarse[c]])))]
            q = heads[wl.rng.choice(len(heads), p=tilt[c])] + ' ' + wl.text(c, wl.length(8, 0.4, 2)) + ' ?'
            lines.append(f'{coarse[c]}:{fine} {q}')
        (out / name).write_bytes(('\n'.join(lines) + '\n').encode('latin-1'))


def imdb(out: Path):
    "aclImdb_v1.tar.gz: aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt with <br /> breaks, an unsup folder, imdb.vocab."
    wl, files = Words(2, seed=15, tilt=0.12), {'aclImdb/README': b'Rehearsal build in the layout of the Large Movie Review Dataset v1.0.\n'}
    for split, n in (('train', 160), ('test', 100)):
        for y, lab in enumerate(('neg', 'pos')):
            for i in range(n):
                rating = int(wl.rng.integers(1, 5)) if y == 0 else int(wl.rng.integers(7, 11))
                paras = [wl.sentences(y, wl.length(70, 0.6, 10)) for _ in range(int(wl.rng.integers(1, 4)))]
                files[f'aclImdb/{split}/{lab}/{i}_{rating}.txt'] = '<br /><br />'.join(paras).encode('utf-8')
    for i in range(10):
        files[f'aclImdb/train/unsup/{i}_0.txt'] = wl.sentences(int(wl.rng.integers(0, 2)), 50).encode('utf-8')
    files['aclImdb/imdb.vocab'] = ('\n'.join(wl.words[:5000]) + '\n').encode('utf-8')
    _tgz(out / 'aclImdb_v1.tar.gz', files)


def _clip(rng, target: int, n: int = 5 * 44_100, sr: int = 44_100) -> np.ndarray:
    "5 s of mono 16-bit sound: noise filtered with a per-class slope, a few tones, sometimes silence at the end."
    from scipy.signal import lfilter
    slope = 0.3 + 0.6 * ((target * 7919) % 13) / 13  # a weak per-class colour of the noise
    x = lfilter([1.0], [1.0, -slope], rng.standard_normal(n)) * rng.uniform(0.02, 0.2)
    t = np.arange(n) / sr
    for _ in range(int(rng.integers(0, 4))):
        f0, a, on = rng.uniform(150, 3000), rng.uniform(0.05, 0.3), rng.uniform(0, 4.5)
        env = np.exp(-np.clip(t - on, 0, None) * rng.uniform(2, 20)) * (t >= on)
        x += a * env * np.sin(2 * np.pi * f0 * t)
    if rng.random() < 0.3:
        x[int(rng.uniform(0.4, 0.9) * n):] = 0  # digital silence, as padded ESC-50 clips have
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def esc50(out: Path):
    "ESC-50-master.zip: ESC-50-master/meta/esc50.csv and audio/<fold>-<src>-<take>-<target>.wav, 44.1 kHz 16-bit mono, 5 s."
    from scipy.io import wavfile
    rng, rows, files = np.random.default_rng(16), [], {'ESC-50-master/README.md': b'Rehearsal build in the layout of ESC-50.\n'}
    for target, cat, esc10 in ESC50:
        for fold in range(1, 6):
            for k in range(2 if esc10 else 1):
                src = int(rng.integers(10_000, 999_999))
                fname = f'{fold}-{src}-{"AB"[k]}-{target}.wav'
                buf = io.BytesIO()
                wavfile.write(buf, 44_100, _clip(rng, target))
                files[f'ESC-50-master/audio/{fname}'] = buf.getvalue()
                rows.append(f'{fname},{fold},{target},{cat},{esc10},{src},{"AB"[k]}')
    files['ESC-50-master/meta/esc50.csv'] = ('filename,fold,target,category,esc10,src_file,take\n' + '\n'.join(sorted(rows)) + '\n').encode()
    _zip(out / 'ESC-50-master.zip', files)


def vectors(gensim_dir: Path, n_words: int = 4000):
    "The gensim-data sets the notebooks load by name, placed as gensim.downloader leaves them: <name>/<name>.gz,"
    " <name>/__init__.py and information.json (gensim reads that list when it cannot reach its server)."
    from gensim.models import KeyedVectors
    wl = Words(1, seed=17)
    rng = np.random.default_rng(170)
    common = list(wl.words[np.argsort(-wl.p[0])][:n_words])  # most frequent words first, as the real files are ordered
    info = {'corpora': {}, 'models': {}}
    for name, (dim, binary, cased) in VECTORS.items():
        vocab = common + ([w.title() for w in common[:n_words // 4]] if cased else [])
        kv = KeyedVectors(dim)
        kv.add_vectors(vocab, (rng.standard_normal((len(vocab), dim)) * 0.3).astype(np.float32))
        d = gensim_dir / name
        d.mkdir(parents=True, exist_ok=True)
        raw = d / f'{name}.raw'
        kv.save_word2vec_format(str(raw), binary=binary)
        with open(raw, 'rb') as f, gzip.open(d / f'{name}.gz', 'wb', compresslevel=1) as g:
            g.write(f.read())
        raw.unlink()
        (d / '__init__.py').write_text(
            'import os\nfrom gensim.models import KeyedVectors\n\n\ndef load_data():\n'
            f"    return KeyedVectors.load_word2vec_format(os.path.join(os.path.dirname(__file__), '{name}.gz'), binary={binary})\n")
        info['models'][name] = {'num_records': len(vocab), 'file_name': f'{name}.gz', 'parts': 1, 'parameters': {'dimension': dim},
                                'description': 'rehearsal build: random vectors over a plain word list', 'license': 'none',
                                'file_size': (d / f'{name}.gz').stat().st_size}
    (gensim_dir / 'information.json').write_text(json.dumps(info, indent=1))


def build(mirror: Path, gensim_dir: Path, only=None) -> dict:
    "Write the archives into `mirror` and the vector sets into `gensim_dir`; {file name: checksum} of the mirror's files."
    mirror, gensim_dir = Path(mirror), Path(gensim_dir)
    mirror.mkdir(parents=True, exist_ok=True)
    only = SETS if only is None else only
    unknown = sorted(set(only) - set(SETS))
    if unknown:
        raise ValueError(f'unknown rehearsal data sets {unknown}; known: {SETS}')
    for s in only:
        if s == 'vectors':
            vectors(gensim_dir)
        else:
            globals()[s](mirror)
    return {p.name: sha256(p) for p in sorted(mirror.iterdir()) if p.is_file()}


if __name__ == '__main__':
    import sys, time
    t0 = time.time()
    sums = build(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or None)
    print(json.dumps(sums, indent=1), f'\n{time.time() - t0:.1f} s')
