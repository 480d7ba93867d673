"""Formats, bad inputs and edge cases of seqlab.embeddings that do not belong in the notebook's story."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from gensim.models import FastText, KeyedVectors
from gensim.models.fasttext import save_facebook_model
from gensim.test.utils import datapath

import seqlab.embeddings as E
from seqlab.data import Vocab
from seqlab.embeddings import (CDME, DME, EMBEDDING_KINDS, OOVReport, OneHotEmbedding, detect_format, load_vectors,
                               lookup_vector, make_embedding, nearest_neighbours, plot_dme_attn, plot_vectors_pca,
                               pretrained_embedding, train_vectors, vectors_for)

torch.set_num_threads(1)

WORDS = ['the', 'fire', 'Paris', 'café', 'naïve', 'bushfire', 'x-ray', '42']
TEXTS = [['the', 'fire', 'spread', 'near', 'the', 'town'], ['police', 'said', 'the', 'fire', 'was', 'out'],
         ['the', 'town', 'police', 'said', 'nothing']] * 5


@pytest.fixture(scope='module')
def kv():
    rng = np.random.default_rng(0)
    k = KeyedVectors(vector_size=8)
    k.add_vectors(WORDS, rng.normal(size=(len(WORDS), 8)).astype(np.float32))
    return k


@pytest.fixture(scope='module')
def vocab():
    return Vocab.build([['the', 'fire', 'paris', 'Paris', 'cafe', 'zebra', 'bushfire', '42']])


# ---------------------------------------------------------------- file formats round-trip

def _write(kv, path, fmt):
    if fmt == 'word2vec-bin':
        kv.save_word2vec_format(str(path), binary=True)
    elif fmt in ('word2vec-text', 'fasttext-vec'):
        kv.save_word2vec_format(str(path), binary=False)
    elif fmt == 'glove-text':
        kv.save_word2vec_format(str(path), binary=False, write_header=False)
    elif fmt == 'gensim':
        kv.save(str(path))


@pytest.mark.parametrize('fmt,name,detected', [
    ('word2vec-bin', 'vecs.bin', 'word2vec-bin'),
    ('word2vec-text', 'vecs.txt', 'word2vec-text'),
    ('glove-text', 'glove.6B.8d.txt', 'glove-text'),
    ('fasttext-vec', 'wiki.vec', 'word2vec-text'),  # a .vec file is word2vec text
    ('gensim', 'vecs.kv', 'gensim'),
])
def test_format_round_trip(kv, tmp_path, fmt, name, detected):
    p = tmp_path / name
    _write(kv, p, fmt)
    assert detect_format(p) == detected
    for f in (None, fmt):  # detected, and forced
        got = load_vectors(p, fmt=f)
        assert list(got.index_to_key) == WORDS  # unicode words, order kept
        np.testing.assert_allclose(got.vectors, kv.vectors, rtol=0, atol=1e-6)


_word = st.text(alphabet=st.characters(blacklist_categories=('Z', 'C')), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(_word, min_size=1, max_size=6, unique=True), dim=st.integers(1, 6),
       fmt=st.sampled_from(['word2vec-bin', 'word2vec-text', 'glove-text']), seed=st.integers(0, 99))
def test_round_trip_any_words(tmp_path_factory, words, dim, fmt, seed):
    "Any non-blank words (unicode, digits, punctuation) and sizes survive writing and detection."
    k = KeyedVectors(vector_size=dim)
    k.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32))
    p = tmp_path_factory.mktemp('rt') / 'vectors'
    _write(k, p, fmt)
    assert detect_format(p) == fmt
    got = load_vectors(p)
    assert got.index_to_key == words
    np.testing.assert_allclose(got.vectors, k.vectors, atol=1e-6)


def test_detection_ignores_the_file_name(kv, tmp_path):
    p = tmp_path / 'vectors.txt'  # binary content behind a text name
    kv.save_word2vec_format(str(p), binary=True)
    assert detect_format(p) == 'word2vec-bin'
    np.testing.assert_array_equal(load_vectors(p).vectors, kv.vectors)


def test_gzipped_text_round_trip(kv, tmp_path):
    p = tmp_path / 'vecs.txt.gz'
    kv.save_word2vec_format(str(p), binary=False)
    assert gzip.open(p).read(4)  # really compressed
    assert detect_format(p) == 'word2vec-text'
    np.testing.assert_allclose(load_vectors(p).vectors, kv.vectors, atol=1e-6)


def test_limit_reads_first_words(kv, tmp_path):
    p = tmp_path / 'vecs.bin'
    kv.save_word2vec_format(str(p), binary=True)
    assert load_vectors(p, limit=3).index_to_key == WORDS[:3]


def test_fasttext_bin_round_trip_keeps_subwords(tmp_path):
    model = FastText(sentences=TEXTS, vector_size=6, min_count=1, epochs=2, bucket=2000, workers=1, seed=0)
    p = tmp_path / 'model.bin'
    save_facebook_model(model, str(p))
    assert detect_format(p) == 'fasttext-bin'
    got = load_vectors(p)
    assert type(got).__name__ == 'FastTextKeyedVectors'
    assert set(got.index_to_key) == set(model.wv.index_to_key)
    np.testing.assert_allclose(got['fire'], model.wv['fire'], atol=1e-6)
    np.testing.assert_allclose(got['firestorm'], model.wv['firestorm'], atol=1e-6)  # OOV word from n-grams
    assert lookup_vector(got, 'firestorm')[1] == 'subword'


@pytest.mark.parametrize('name,fmt', [('word2vec_pre_kv_c', 'word2vec-text'), ('euclidean_vectors.bin', 'word2vec-bin'),
                                      ('test_glove.txt', 'glove-text'), ('lee_fasttext.vec', 'word2vec-text'),
                                      ('lee_fasttext.bin', 'fasttext-bin'), ('toy-model.bin', 'fasttext-bin')])
def test_gensim_shipped_files(name, fmt):
    assert detect_format(datapath(name)) == fmt
    assert len(load_vectors(datapath(name))) > 10


# ---------------------------------------------------------------- bad inputs of load_vectors

def test_missing_file_names_the_path(tmp_path):
    p = tmp_path / 'nope' / 'vectors.bin'
    with pytest.raises(FileNotFoundError, match='No vectors file at .*vectors.bin'):
        load_vectors(p)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match='neither an existing file nor a known gensim-downloader name') as e:
        load_vectors('glove-wiki-gigaword-1000')
    assert 'glove-wiki-gigaword-100' in str(e.value) and 'word2vec-google-news-300' in str(e.value)


def test_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a directory'):
        load_vectors(tmp_path)


def test_unknown_fmt_lists_formats(kv, tmp_path):
    p = tmp_path / 'v.txt'
    _write(kv, p, 'word2vec-text')
    with pytest.raises(ValueError, match="Unknown vectors format 'glove'.*glove-text"):
        load_vectors(p, fmt='glove')


@pytest.mark.parametrize('content', [b'', b'hello world, this is not a vectors file\n', b'\x00\x01\x02garbage' * 10])
def test_unrecognised_content(tmp_path, content):
    p = tmp_path / 'v.txt'
    p.write_bytes(content)
    with pytest.raises(ValueError, match='Could not recognise the vectors format'):
        load_vectors(p)


def test_wrong_forced_format_is_clear(kv, tmp_path):
    p = tmp_path / 'v.txt'
    _write(kv, p, 'glove-text')
    with pytest.raises(ValueError, match="Could not read .* as 'word2vec-bin' vectors.*pass fmt="):
        load_vectors(p, fmt='word2vec-bin')


def test_truncated_binary_is_clear(kv, tmp_path):
    p = tmp_path / 'v.bin'
    kv.save_word2vec_format(str(p), binary=True)
    p.write_bytes(p.read_bytes()[:60])
    with pytest.raises(ValueError, match='Could not read'):
        load_vectors(p)


def test_download_failure_is_clear(monkeypatch):
    import gensim.downloader as api

    def fail(name):
        raise ConnectionError('network unreachable')
    monkeypatch.setattr(api, 'load', fail)
    with pytest.raises(RuntimeError, match="Could not load 'glove-wiki-gigaword-100' with gensim.downloader.*pass its path"):
        load_vectors('glove-wiki-gigaword-100')


def test_download_name_goes_to_gensim_downloader(monkeypatch, kv):
    import gensim.downloader as api
    asked = []
    monkeypatch.setattr(api, 'load', lambda name: asked.append(name) or kv)
    assert load_vectors('fasttext-wiki-news-subwords-300') is kv
    assert asked == ['fasttext-wiki-news-subwords-300']


# ---------------------------------------------------------------- pretrained matrix and OOV report

def test_pretrained_rows_and_report(kv, vocab):
    emb, rep = pretrained_embedding(kv, vocab, source='toy')
    W = emb.weight.detach().numpy()
    assert W.shape == (len(vocab), 8)
    assert not W[vocab.pad_idx].any()
    np.testing.assert_array_equal(W[vocab.stoi['fire']], kv['fire'])
    np.testing.assert_array_equal(W[vocab.stoi['paris']], kv['Paris'])  # title-case fallback
    how = dict(zip(vocab.itos, rep.how))
    assert how == {'<pad>': 'padding', '<unk>': 'special', 'the': 'exact', 'fire': 'exact', 'paris': 'titlecase', 'Paris': 'exact',
                   'cafe': 'oov', 'zebra': 'oov', 'bushfire': 'exact', '42': 'exact'}
    assert sorted(rep.oov) == ['cafe', 'zebra']
    assert rep.n_found == 6 and rep.coverage == pytest.approx(6 / 8)
    assert rep.counts == {'exact': 5, 'titlecase': 1, 'oov': 2, 'special': 1, 'padding': 1}
    df = rep.to_frame()
    assert list(df.columns) == ['id', 'token', 'how'] and sorted(df.token) == ['cafe', 'zebra']
    assert len(rep.to_frame(all=True)) == len(vocab)
    text = repr(rep)
    assert 'toy' in text and '2 OOV' in text and 'zebra' in text and 'normal(0' in text
    assert 'OOV report' in rep._repr_markdown_()
    assert emb.oov_report is rep


def test_lowercase_fallback_and_switch(kv):
    v = Vocab.build([['THE', 'Fire']])
    _, rep = pretrained_embedding(kv, v)
    assert dict(zip(v.itos, rep.how))['THE'] == 'lowercase'
    _, rep = pretrained_embedding(kv, v, case_fallback=False)
    assert sorted(rep.oov) == ['Fire', 'THE']


def test_bos_eos_are_special_not_oov(kv):
    v = Vocab.build([['the', 'zebra']], bos_eos=True)
    _, rep = pretrained_embedding(kv, v)
    assert rep.counts['special'] == 3 and rep.oov == ['zebra']


@pytest.mark.parametrize('init', ['zeros', 'mean', 'normal'])
def test_oov_init(kv, vocab, init):
    emb, rep = pretrained_embedding(kv, vocab, oov_init=init)
    W = emb.weight.detach().numpy()
    rows = W[[vocab.stoi['cafe'], vocab.stoi['zebra'], vocab.unk_idx]]
    if init == 'zeros':
        assert not rows.any()
    elif init == 'mean':
        found = W[[vocab.stoi[t] for t in ('the', 'fire', 'paris', 'Paris', 'bushfire', '42')]]
        np.testing.assert_allclose(rows, np.tile(found.mean(0), (3, 1)), atol=1e-6)
    else:
        assert rows.std() > 0
        W2 = pretrained_embedding(kv, vocab, oov_init=init, seed=0)[0].weight.detach().numpy()
        np.testing.assert_array_equal(W, W2)  # seeded
        W3 = pretrained_embedding(kv, vocab, oov_init=init, seed=1)[0].weight.detach().numpy()
        assert not np.array_equal(W, W3)
    assert not W[vocab.pad_idx].any()


def test_bad_oov_init_and_bad_vocab(kv, vocab):
    with pytest.raises(ValueError, match="oov_init must be 'normal', 'zeros' or 'mean'"):
        pretrained_embedding(kv, vocab, oov_init='uniform')
    with pytest.raises(TypeError, match='vocab must be a seqlab.data.Vocab'):
        pretrained_embedding(kv, ['<pad>', '<unk>', 'the'])


def test_freeze_and_padding_gradient(kv, vocab):
    emb, _ = pretrained_embedding(kv, vocab, freeze=True)
    assert not emb.weight.requires_grad
    emb, _ = pretrained_embedding(kv, vocab)
    emb(torch.tensor([[vocab.pad_idx, 2, 3]])).sum().backward()
    assert emb.weight.grad[vocab.pad_idx].abs().sum() == 0 and emb.weight.grad[2].abs().sum() > 0


def test_report_with_nothing_found(vocab):
    k = KeyedVectors(vector_size=4)
    k.add_vectors(['unrelated'], np.ones((1, 4), np.float32))
    emb, rep = pretrained_embedding(k, vocab)
    assert rep.n_found == 0 and rep.coverage == 0.0 and len(rep.oov) == len(vocab) - 2
    assert torch.isfinite(emb.weight).all()


# ---------------------------------------------------------------- training vectors

def test_train_vectors_repeats_across_processes(tmp_path):
    "Same vectors in two processes with different string-hash seeds (one worker thread, fixed seed)."
    code = ("import sys, numpy as np; from seqlab.embeddings import train_vectors; "
            "t = [['a','b','c','d'],['b','c','e'],['a','e','f','g']] * 20; "
            "np.save(sys.argv[1], np.stack([train_vectors(t, k, vector_size=8, seed=3)[list('abcdefg')] "
            "for k in ('word2vec', 'fasttext')]))")
    outs = []
    for hs in ('1', '2'):
        out = tmp_path / f'vectors{hs}.npy'
        env = {**os.environ, 'PYTHONHASHSEED': hs, 'OMP_NUM_THREADS': '1'}
        subprocess.run([sys.executable, '-c', code, str(out)], check=True, env=env)
        outs.append(np.load(out))
    np.testing.assert_array_equal(*outs)


def test_train_vectors_settings_and_cache():
    a = train_vectors(TEXTS, 'word2vec', vector_size=6, seed=0)
    b = train_vectors(TEXTS, 'word2vec', vector_size=6, seed=0)
    assert a is not b and np.array_equal(a.vectors, b.vectors)
    a.vectors[:] = 0  # a copy: the cache is untouched
    assert train_vectors(TEXTS, 'word2vec', vector_size=6, seed=0).vectors.any()
    c = train_vectors(TEXTS, 'word2vec', vector_size=6, seed=1)
    assert not np.array_equal(b.vectors, c.vectors)
    assert set(b.index_to_key) == {t for s in TEXTS for t in s}
    assert 'word2vec trained on 15 texts' in b.source
    ft = train_vectors(TEXTS, 'fasttext', vector_size=6)
    assert lookup_vector(ft, 'firefighters')[1] == 'subword'


@pytest.mark.parametrize('bad,exc,msg', [
    (['the fire', 'a text'], TypeError, 'not strings'),
    ([[], []], ValueError, 'no tokens'),
    ([], ValueError, 'no tokens'),
    (None, ValueError, 'token_lists is required'),
])
def test_train_vectors_bad_inputs(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        train_vectors(bad)


def test_train_vectors_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of \\['word2vec', 'fasttext'\\]"):
        train_vectors(TEXTS, 'glove')


# ---------------------------------------------------------------- one-hot

def test_onehot_has_no_parameters_and_zero_padding():
    oh = OneHotEmbedding(5)
    assert list(oh.parameters()) == [] and oh.embedding_dim == 5
    assert oh.state_dict() == {}
    x = oh(torch.tensor([[0, 4, 2]]))
    assert x.dtype == torch.get_default_dtype()
    assert torch.equal(x[0], torch.tensor([[0., 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0]]))


def test_onehot_without_padding_and_bad_ids():
    assert OneHotEmbedding(3, padding_idx=None)(torch.tensor([0]))[0, 0] == 1
    with pytest.raises(IndexError, match=r'token ids must lie in \[0, 3\)'):
        OneHotEmbedding(3)(torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match='at least 1'):
        OneHotEmbedding(0)


# ---------------------------------------------------------------- DME / CDME

def _sets(V=20):
    torch.manual_seed(0)
    return [nn.Embedding(V, 5, padding_idx=0), OneHotEmbedding(V), nn.Embedding(V, 3, padding_idx=0)]


@pytest.mark.parametrize('cls', [DME, CDME])
def test_dme_weights_sum_to_one_and_ignore_padding(cls):
    torch.manual_seed(1)
    m = cls(_sets(), embedding_dim=7, names=['a', 'b', 'c'])
    lengths = torch.tensor([6, 1, 4, 3])
    toks = torch.randint(1, 20, (4, 6))
    toks[torch.arange(6) >= lengths[:, None]] = 0
    with torch.no_grad():
        out, attn = m(toks, return_attn=True)
    real = toks != 0
    assert out.shape == (4, 6, 7) and attn.shape == (4, 6, 3)
    torch.testing.assert_close(attn[real].sum(-1), torch.ones(int(real.sum())))
    assert (attn[real] > 0).all()
    assert attn[~real].abs().sum() == 0 and out[~real].abs().sum() == 0
    with torch.no_grad():
        for i, n in enumerate(lengths.tolist()):  # each row alone, without padding: same outputs
            o1, a1 = m(toks[i:i + 1, :n], return_attn=True)
            torch.testing.assert_close(o1[0], out[i, :n])
            torch.testing.assert_close(a1[0], attn[i, :n])
        extra = torch.cat([toks, torch.zeros(4, 3, dtype=toks.dtype)], 1)  # more padding: same outputs
        torch.testing.assert_close(m(extra)[:, :6], out)
        torch.testing.assert_close(m(toks, lengths=lengths), out)


@pytest.mark.parametrize('cls', [DME, CDME])
def test_dme_trains_projections_and_attention(cls):
    m = cls(_sets(), embedding_dim=4)
    m(torch.tensor([[3, 4, 0]])).sum().backward()
    assert m.projections[0].weight.grad.abs().sum() > 0
    params = [p for n, p in m.named_parameters() if n.startswith('attn') or n.startswith('lstm')]
    assert params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params[:1])
    assert m.names == ['set 0', 'set 1', 'set 2']


@pytest.mark.parametrize('cls', [DME, CDME])
def test_dme_all_padding_row(cls):
    m = cls(_sets(), embedding_dim=4)
    with torch.no_grad():
        out, attn = m(torch.tensor([[0, 0, 0], [5, 6, 0]]), return_attn=True)
    assert torch.isfinite(out).all() and out[0].abs().sum() == 0 and attn[0].abs().sum() == 0
    torch.testing.assert_close(attn[1, :2].sum(-1), torch.ones(2))


def test_dme_bad_arguments():
    with pytest.raises(ValueError, match='at least one embedding set'):
        DME([], 4)
    with pytest.raises(ValueError, match='names has 1 entries for 3 embedding sets'):
        DME(_sets(), 4, names=['a'])


# ---------------------------------------------------------------- factory

@pytest.fixture(scope='module')
def lee():
    from seqlab.data import tokenize
    texts = open(datapath('lee_background.cor'), encoding='utf8').read().splitlines()[:60]
    tl = [tokenize(t) for t in texts]
    return tl, Vocab.build(tl, min_freq=2)


def test_make_embedding_every_kind_quick(lee):
    tl, v = lee
    xb = torch.tensor([v.encode(tl[0][:6]), v.encode(tl[1][:3]) + [0, 0, 0]])
    for kind in EMBEDDING_KINDS:
        m = make_embedding(kind, v, 16, token_lists=tl, quick=True)
        with torch.no_grad():
            y = m(xb)
        assert y.shape == (2, 6, m.embedding_dim), kind
        assert y[1, 3:].abs().sum() == 0, kind  # padding -> zeros
    assert make_embedding('onehot', v, 16).embedding_dim == len(v)
    g = make_embedding('glove', v, 16, token_lists=tl, quick=True)
    assert 'STAND-IN' in g.oov_report.source and g.weight.requires_grad
    d = make_embedding('cdme', v, 16, token_lists=tl, quick=True, sets=('word2vec', 'learned'))
    assert isinstance(d, CDME) and d.names == ['word2vec', 'learned'] and list(d.oov_reports) == ['word2vec']
    assert not d.embeddings[0].weight.requires_grad  # DME sets frozen by default
    assert d.embeddings[1].weight.requires_grad  # a learned set still learns


def test_make_embedding_errors(lee):
    tl, v = lee
    with pytest.raises(ValueError, match="Unknown embedding kind 'bert': use one of onehot, learned, word2vec, glove, fasttext, dme, cdme"):
        make_embedding('bert', v, 8)
    with pytest.raises(ValueError, match="in quick mode trains vectors on token_lists"):
        make_embedding('fasttext', v, 8, quick=True)
    with pytest.raises(ValueError, match='sets must be kinds from'):
        make_embedding('dme', v, 8, token_lists=tl, sets=('word2vec', 'elmo'))
    with pytest.raises(TypeError, match='vectors must be a dict by kind'):
        make_embedding('dme', v, 8, token_lists=tl, vectors='glove-wiki-gigaword-100')
    with pytest.raises(TypeError, match='vocab must be a seqlab.data.Vocab'):
        make_embedding('learned', {'a': 1}, 8)
    with pytest.raises(ValueError, match='No pretrained vectors'):
        vectors_for('learned', 8, tl)


def test_make_embedding_given_vectors(kv, vocab, tmp_path):
    m = make_embedding('word2vec', vocab, 99, vectors=kv)  # given vectors win, in either mode
    assert m.embedding_dim == 8 and m.oov_report.n_found == 6
    p = tmp_path / 'g.txt'
    kv.save_word2vec_format(str(p), write_header=False)
    m = make_embedding('glove', vocab, 99, vectors=str(p), quick=False)
    assert m.embedding_dim == 8 and m.oov_report.source == str(p)
    d = make_embedding('dme', vocab, 4, vectors={'glove': kv, 'fasttext': kv}, freeze=False)
    assert d.embeddings[0].weight.requires_grad
    assert make_embedding('fasttext', vocab, 99, vectors={'fasttext': kv}).embedding_dim == 8  # a dict by kind too


def test_make_embedding_full_mode_names(monkeypatch, kv, vocab):
    asked = []
    monkeypatch.setattr(E, '_download_vectors', lambda name, limit=None: asked.append(name) or kv)
    for kind, dim in [('word2vec', 50), ('glove', 100), ('glove', 64), ('fasttext', 300)]:
        make_embedding(kind, vocab, dim, quick=False)
    make_embedding('dme', vocab, 32, quick=False)
    assert asked == ['word2vec-google-news-300', 'glove-wiki-gigaword-100', 'glove-wiki-gigaword-300',
                     'fasttext-wiki-news-subwords-300', 'glove-wiki-gigaword-300', 'fasttext-wiki-news-subwords-300']


def test_make_embedding_follows_quick_mode(monkeypatch, lee):
    tl, v = lee
    monkeypatch.setenv('SEQLAB_QUICK', '1')
    monkeypatch.setattr(E, '_download_vectors', lambda name, limit=None: pytest.fail('quick mode must not download'))
    assert make_embedding('word2vec', v, 8, token_lists=tl).embedding_dim == 8


# ---------------------------------------------------------------- views

def test_views(kv):
    import matplotlib.pyplot as plt
    df = nearest_neighbours(kv, ['fire', 'unknownword'], topn=2)
    assert df.shape == (2, 2) and df.loc['unknownword', 1] == '(not in the vectors)'
    fig = plot_vectors_pca(kv, ['fire', 'the', 'Paris', 'missing'])
    assert len(fig.axes[0].texts) == 3
    with pytest.raises(ValueError, match='at least two words'):
        plot_vectors_pca(kv, ['fire', 'missing'])
    fig2 = plot_dme_attn(torch.tensor([[0.25, 0.75], [1.0, 0.0]]), ['a', 'b'], ['x', 'y'])
    assert fig2.axes
    with pytest.raises(ValueError, match='expected \\(len\\(tokens\\), len\\(names\\)\\)'):
        plot_dme_attn(np.ones((3, 2)), ['a', 'b'], ['x', 'y'])
    plt.close('all')


# ---------------------------------------------------------------- issue 11: limit for gensim names, no vectors across folds

def _fake_gensim_data(tmp_path, n=50, dim=4, binary=False):
    """A gensim-data-like file: word2vec format, gzipped, as gensim.downloader stores the published sets."""
    kv = KeyedVectors(dim)
    kv.add_vectors([f'w{i}' for i in range(n)], np.arange(n * dim, dtype=np.float32).reshape(n, dim))
    path = tmp_path / 'word2vec-google-news-300.gz'
    kv.save_word2vec_format(str(path), binary=binary)
    return path, kv


@pytest.mark.parametrize('binary', [True, False])
def test_load_vectors_limit_is_honoured_for_gensim_names(tmp_path, monkeypatch, binary):
    import gensim.downloader as api
    path, full = _fake_gensim_data(tmp_path, binary=binary)
    calls = []
    def fake_load(name, return_path=False):
        calls.append((name, return_path))
        return str(path) if return_path else full
    monkeypatch.setattr(api, 'load', fake_load)
    kv = load_vectors('word2vec-google-news-300', limit=7)
    assert len(kv) == 7 and kv.index_to_key == full.index_to_key[:7]
    np.testing.assert_array_equal(kv['w3'], full['w3'])
    assert calls == [('word2vec-google-news-300', True)]  # only the path: the whole set is never loaded
    assert len(load_vectors('word2vec-google-news-300')) == 50


@pytest.mark.parametrize('limit', [0, -3, 2.5, True, '10'])
def test_load_vectors_rejects_bad_limits(limit):
    with pytest.raises(ValueError, match='limit must be a positive int'):
        load_vectors(datapath('word2vec_pre_kv_c'), limit=limit)


def test_load_vectors_says_limit_is_ignored_for_whole_files(tmp_path, kv):
    p = tmp_path / 'v.kv'
    kv.save(str(p))
    with pytest.warns(UserWarning, match='limit=5 is ignored'):
        assert len(load_vectors(p, limit=5)) == len(kv)


def test_vectors_from_another_fold_are_refused(lee):
    tl, v = lee
    fold1, fold2 = tl[:30], tl[30:]
    kv1 = E.train_vectors(fold1, vector_size=8, seed=0, epochs=1)
    assert E.make_embedding('word2vec', v, 8, token_lists=fold1, vectors=kv1).embedding_dim == 8  # same texts: fine
    with pytest.raises(ValueError, match='trained on other texts than token_lists'):
        E.make_embedding('word2vec', v, 8, token_lists=fold2, vectors=kv1)
    with pytest.raises(ValueError, match='trained on other texts'):
        E.make_embedding('dme', v, 8, token_lists=fold2, vectors={'glove': kv1, 'fasttext': kv1})
    kv2 = E.train_vectors(fold2, vector_size=8, seed=0, epochs=1)
    assert kv2.trained_on != kv1.trained_on  # the cache is keyed by the texts: fold 2 gets its own vectors
    assert E.make_embedding('word2vec', v, 8, token_lists=None, vectors=kv1).embedding_dim == 8  # knowingly


def test_trained_vectors_cache_is_keyed_by_texts(lee):
    tl, _ = lee
    a = E.train_vectors(tl[:20], vector_size=8, seed=0, epochs=1)
    b = E.train_vectors(tl[20:40], vector_size=8, seed=0, epochs=1)
    assert a.trained_on == E.texts_fingerprint(tl[:20]) and b.trained_on == E.texts_fingerprint(tl[20:40])
    assert set(a.index_to_key) != set(b.index_to_key)


# --- zero or negative sizes are errors, not 0-wide embeddings -----------------------------------------------

@pytest.mark.parametrize('dim', [0, -3, 2.5, None])
def test_zero_sized_learned_embedding_is_refused(dim):
    vocab = Vocab.build(TEXTS)
    with pytest.raises(ValueError, match='embedding_dim must be an int >= 1'):
        make_embedding('learned', vocab, dim)


def test_zero_sized_trained_vectors_are_refused():
    vocab = Vocab.build(TEXTS)
    with pytest.raises(ValueError, match='embedding_dim must be an int >= 1'):
        make_embedding('word2vec', vocab, 0, token_lists=TEXTS, quick=True)
    with pytest.raises(ValueError, match='vector_size must be an int >= 1'):
        train_vectors(TEXTS, vector_size=0)
    with pytest.raises(ValueError, match='epochs must be'):
        train_vectors(TEXTS, epochs=0)


def test_onehot_ignores_embedding_dim():
    vocab = Vocab.build(TEXTS)
    assert make_embedding('onehot', vocab, 0).embedding_dim == len(vocab)


# --- inputs checked where they enter -------------------------------------------------------------------------

@pytest.mark.parametrize('call,err,says', [
    (lambda: OneHotEmbedding(5)(torch.tensor([[1.0]])), TypeError, 'tokens must be an integer tensor'),
    (lambda: OneHotEmbedding(5, padding_idx=9), ValueError, 'padding_idx must be an id in 0..4'),
    (lambda: load_vectors(None), TypeError, 'name_or_path must be a file path'),
    (lambda: detect_format('/nowhere/v.vec'), FileNotFoundError, 'No vectors file at'),
    (lambda: lookup_vector(None, 'a'), TypeError, 'kv must be gensim KeyedVectors'),
    (lambda: lookup_vector(train_vectors(TEXTS, vector_size=4), None), TypeError, 'token must be a str'),
    (lambda: pretrained_embedding(None, Vocab.build(TEXTS)), TypeError, 'kv must be gensim KeyedVectors'),
    (lambda: train_vectors([[1, 2], [3]]), TypeError, 'token_lists must hold str tokens, got 1'),
    (lambda: train_vectors([['a'], None]), TypeError, 'not strings or None'),
    (lambda: train_vectors(TEXTS, min_count=99), ValueError, 'No token occurs min_count=99 times'),
    (lambda: train_vectors(TEXTS, seed=-1), ValueError, 'seed must be an int from 0'),
    (lambda: E.texts_fingerprint(None), TypeError, 'token_lists must be a list of token lists'),
    (lambda: nearest_neighbours(train_vectors(TEXTS, vector_size=4), None), TypeError, 'words must be a list'),
    (lambda: nearest_neighbours(train_vectors(TEXTS, vector_size=4), ['the'], topn=0), ValueError, 'topn must be an int >= 1'),
    (lambda: DME([nn.Linear(2, 2)], 4), TypeError, 'needs an int .embedding_dim'),
    (lambda: DME([nn.Embedding(5, 3)], 4)(torch.zeros(2, 3)), ValueError, 'tokens must be integer ids (B, T)'),
    (lambda: DME([nn.Embedding(5, 3)], 4)(torch.zeros(3).long()), ValueError, 'a single text needs tokens[None]'),
    (lambda: DME([nn.Embedding(5, 3)], 4)(torch.zeros(2, 3).long(), torch.tensor([9, 1])), ValueError, 'lengths must be one length in 1..T=3'),
])
def test_bad_embedding_input_is_refused_at_the_boundary(call, err, says):
    with pytest.raises(err) as e:
        call()
    assert says in str(e.value), str(e.value)
