"""Masking, padding invariance, bad configurations and the variant pipeline of seqlab.cnn_lstm."""
from dataclasses import replace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.cnn_lstm import (CNN_LSTM_VARIANTS, POOLINGS, AdditiveAttention, CNNLSTMClassifier, CNNLSTMConfig,
                             NGramConv, build_cnn_lstm, cnn_lstm_results, lengths_to_mask, masked_pool,
                             article_vectors, prepare_text, train_variant, variant_spec)

torch.set_num_threads(1)

V, E = 30, 8  # vocabulary size and embedding width of the small models here


def small_cfg(**kw):
    base = dict(embedding_dim=E, n_classes=4, num_filters=3, kernel_sizes=(1, 2, 3, 4), hidden_size=5, attn_dim=4)
    return CNNLSTMConfig(**{**base, **kw})


def batch(lengths, seed=0):
    "Token ids (B, T) with zeros (padding) after each length, and the lengths."
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    T = int(lengths.max())
    x = torch.randint(1, V, (len(lengths), T), generator=g) * lengths_to_mask(lengths, T)
    return x, lengths


def model_for(seed=0, padding_row_zero=False, **kw):
    torch.manual_seed(seed)
    emb = nn.Embedding(V, E, padding_idx=0 if padding_row_zero else None)  # default: padding row NOT zero
    return CNNLSTMClassifier(small_cfg(**kw), emb).eval()


# ---- padding invariance ---------------------------------------------------------------------------

@pytest.mark.parametrize('pooling', POOLINGS)
@pytest.mark.parametrize('bidirectional', [False, True])
def test_appending_padding_changes_nothing(pooling, bidirectional):
    m = model_for(pooling=pooling, bidirectional=bidirectional, num_layers=2)
    x, lengths = batch([7, 1, 4, 2])
    with torch.no_grad():
        ref = m(x, lengths)
        for extra in (1, 3, 17):
            torch.testing.assert_close(m(F.pad(x, (0, extra)), lengths), ref, rtol=0, atol=1e-6)


def test_output_does_not_depend_on_the_rest_of_the_batch():
    m = model_for(pooling='attention')
    x, lengths = batch([9, 3, 6])
    with torch.no_grad():
        together = m(x, lengths)
        for i in range(3):
            n = int(lengths[i])
            alone = m(x[i:i + 1, :n], lengths[i:i + 1])
            torch.testing.assert_close(alone, together[i:i + 1], rtol=0, atol=1e-6)


def test_lengths_default_to_non_padding_tokens():
    m = model_for(pooling='mean')
    x, lengths = batch([5, 2, 8])
    with torch.no_grad():
        torch.testing.assert_close(m(F.pad(x, (0, 4))), m(x, lengths))


def test_conv_zeroes_padding_so_its_value_cannot_leak():
    torch.manual_seed(0)
    conv = NGramConv(E, 4, (2, 3, 5))
    e = torch.randn(1, 6, E)  # a 4-token article whose 2 padding positions carry garbage
    e_other = e.clone()
    e_other[:, 4:] = torch.randn(1, 2, E) * 100  # different garbage in the padding
    mask = lengths_to_mask(torch.tensor([4]), 6)
    torch.testing.assert_close(conv(e, mask)[:, :4], conv(e_other, mask)[:, :4])
    # without the mask the garbage reaches the real positions: the test above is not vacuous
    full = torch.ones_like(mask)
    assert not torch.allclose(conv(e, full)[:, :4], conv(e_other, full)[:, :4])


@pytest.mark.parametrize('k', [1, 2, 3, 4, 5])
def test_same_padding_keeps_one_output_per_token(k):
    conv = NGramConv(E, 2, (k,))
    out = conv(torch.randn(3, 7, E), torch.ones(3, 7, dtype=torch.bool))
    assert out.shape == (3, 7, 2)


# ---- attention and pooling masks ------------------------------------------------------------------

def test_attention_sums_to_one_on_real_tokens_and_is_zero_on_padding():
    m = model_for(pooling='attention')
    x, lengths = batch([6, 1, 3, 6])
    x = F.pad(x, (0, 5))
    with torch.no_grad():
        _, w = m(x, lengths, return_attn=True)
    mask = lengths_to_mask(lengths, x.shape[1])
    assert w.shape == x.shape
    torch.testing.assert_close(w.sum(1), torch.ones(4))
    assert (w[~mask] == 0).all()
    assert (w[mask] > 0).all()
    torch.testing.assert_close(w[1, 0], torch.tensor(1.0))  # a one-token article puts all weight on it


def test_attention_module_masks_large_padding_states():
    att = AdditiveAttention(3, 4)
    h = torch.randn(2, 5, 3)
    h[:, 3:] = 1e4  # huge padding states must not attract weight
    mask = lengths_to_mask(torch.tensor([3, 3]), 5)
    z, w = att(h, mask)
    assert (w[:, 3:] == 0).all()
    z_ref, _ = att(h[:, :3], mask[:, :3])
    torch.testing.assert_close(z, z_ref)


def test_return_attn_without_attention_gives_none():
    m = model_for(pooling='max')
    x, lengths = batch([3, 2])
    logits, w = m(x, lengths, return_attn=True)
    assert w is None and logits.shape == (2, 4)


def test_masked_pool_ignores_padding():
    h = torch.tensor([[[1.], [-2.], [50.]], [[-3.], [-1.], [-7.]]])  # (B=2, T=3, H=1)
    mask = lengths_to_mask(torch.tensor([2, 3]), 3)
    assert masked_pool(h, mask, 'max').flatten().tolist() == [1.0, -1.0]
    torch.testing.assert_close(masked_pool(h, mask, 'mean').flatten(), torch.tensor([-0.5, -11 / 3]))
    with pytest.raises(ValueError, match="use 'max' or 'mean'"):
        masked_pool(h, mask, 'median')


def test_empty_article_is_a_clear_error():
    m = model_for()
    x, _ = batch([3, 2])
    with pytest.raises(ValueError, match='at least one token'):
        m(x, torch.tensor([3, 0]))


# ---- bad configurations -----------------------------------------------------------------------------

@pytest.mark.parametrize('kw, msg', [
    (dict(kernel_sizes=()), 'kernel_sizes is empty'),
    (dict(kernel_sizes=[]), 'kernel_sizes is empty'),
    (dict(kernel_sizes=(3, 0)), 'positive ints'),
    (dict(kernel_sizes=(2.5,)), 'positive ints'),
    (dict(pooling='avg'), 'pooling'),
    (dict(dropout=1.0), 'dropout'),
    (dict(dropout=-0.1), 'dropout'),
    (dict(hidden_size=0), 'hidden_size'),
    (dict(num_filters=-3), 'num_filters'),
    (dict(n_classes=True), 'n_classes'),
])
def test_bad_config_is_rejected(kw, msg):
    with pytest.raises(ValueError, match=msg):
        CNNLSTMConfig(**kw)


def test_kernel_sizes_must_be_a_sequence():
    with pytest.raises(TypeError, match='tuple of ints'):
        CNNLSTMConfig(kernel_sizes=3)


def test_config_lists_become_tuples():
    assert CNNLSTMConfig(kernel_sizes=[2, 3]).kernel_sizes == (2, 3)


def test_embedding_width_must_match_config():
    with pytest.raises(ValueError, match='embedding_dim'):
        CNNLSTMClassifier(small_cfg(embedding_dim=16), nn.Embedding(V, E))


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match='Unknown variant'):
        variant_spec('bert')
    with pytest.raises(ValueError, match='learned_attn'):  # the message lists the valid names
        train_variant('glove_lstm', prep=None)


def test_variants_match_the_report():
    assert len(CNN_LSTM_VARIANTS) == 8
    assert variant_spec('onehot')['published_f1'] == 0.4340
    assert variant_spec('fasttext_attn')['published_f1'] == 0.9714
    assert {v['pooling'] for v in CNN_LSTM_VARIANTS.values()} <= set(POOLINGS)


# ---- the variant pipeline on a small generated sample -------------------------------------------------

@pytest.fixture(scope='module')
def prep():
    from seqlab.datasets import load_bbc
    data = load_bbc(quick=True, n=200, verbose=False)
    return prepare_text(data, max_len=16, bs=32)


def test_prepare_text_builds_vocab_on_train_and_truncates(prep):
    (xb, lengths), yb = next(iter(prep.dls.train))
    assert xb.shape[1] <= 16 and int(lengths.max()) <= 16
    assert all(len(t) <= 16 for t in prep.token_lists)
    assert 'generated' in prep.source
    assert len(prep.classes) == 5


def test_train_variant_runs_and_reports(prep):
    learn = train_variant('learned_attn', prep, epochs=1, lr=1e-2, embedding_dim=8, num_filters=4,
                          kernel_sizes=(2, 3), hidden_size=6, attn_dim=4, device='cpu')
    h = learn.history
    assert len(h) == 1 and 'f1_micro' in h and 0 <= h['f1_micro'].iloc[0] <= 1
    res = cnn_lstm_results({'learned_attn': learn}, prep)
    assert res.loc['learned_attn', 'report test F1'] == 0.9442
    assert 0 <= res.loc['learned_attn', 'our test F1'] <= 1
    assert res.loc['learned_attn', 'our data'] == 'generated sample (seed 0)'  # short: a table column never cuts it


def test_onehot_model_is_as_wide_as_the_vocab(prep):
    m = build_cnn_lstm('onehot', prep, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    assert m.cfg.embedding_dim == len(prep.vocab)
    assert m.cfg.pooling == 'max' and m.cfg.n_classes == 5


def test_pretrained_vectors_are_cached_and_reused(prep):
    cache = {}
    m1 = build_cnn_lstm('word2vec_attn', prep, vectors=cache, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    assert list(cache) == ['word2vec']
    kv = cache['word2vec']
    build_cnn_lstm('word2vec_attn', prep, vectors=cache, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    assert cache['word2vec'] is kv
    assert m1.cfg.pooling == 'attention'
    assert m1.embedding.weight.requires_grad  # fine-tuned by default


def test_article_vectors_use_an_article_wide_window_and_feed_the_models(prep):
    vecs = article_vectors(prep, 8, kinds=('word2vec', 'glove'), seed=0)
    assert list(vecs) == ['word2vec', 'glove']
    longest = max(map(len, prep.token_lists))
    for kind, kv in vecs.items():
        assert kv.vector_size == 8
        assert f"window {longest}" in kv.source
        assert set(prep.vocab.itos[2:]) <= set(kv.key_to_index)  # every training word has a vector
    assert 'STAND-IN' in vecs['glove'].source
    m = build_cnn_lstm('glove_attn', prep, vectors=vecs, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    word = prep.vocab.itos[5]
    torch.testing.assert_close(m.embedding.weight[5].detach(), torch.tensor(vecs['glove'][word]))  # the given vectors are used


def test_article_vectors_reject_unknown_kinds(prep):
    with pytest.raises(ValueError, match='No article-wide training'):
        article_vectors(prep, 8, kinds=('glove', 'onehot'))


def test_pooling_given_in_cfg_replaces_the_variants(prep):
    m = build_cnn_lstm('learned', prep, pooling='last', embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    assert m.cfg.pooling == 'last'


def test_a_new_row_with_contextual_meta_embeddings(prep, monkeypatch):
    from seqlab.embeddings import CDME
    monkeypatch.setitem(CNN_LSTM_VARIANTS, 'cmeta_attn', dict(embedding='cdme', pooling='attention'))
    cache = {}
    m = build_cnn_lstm('cmeta_attn', prep, vectors=cache, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    assert isinstance(m.embedding, CDME) and set(cache) == {'glove', 'fasttext'}
    x, lengths = torch.tensor([[2, 3, 4, 0]]), torch.tensor([3])
    with torch.no_grad():
        _, w = m.eval()(x, lengths, return_attn=True)
    assert w[0, 3] == 0 and abs(float(w.sum()) - 1) < 1e-6


# ---- bad inputs to the model -----------------------------------------------------------------------

def test_one_d_tokens_are_a_clear_error():
    m = model_for()
    x, lengths = batch([4, 2])
    with pytest.raises(ValueError, match=r'for one article pass x\[None\]'):
        m(x[0])
    with pytest.raises(ValueError, match='integer tensor'):
        m(x.float(), lengths)
    assert m(x[0][None]).shape == (1, 4)


def test_list_lengths_are_a_clear_error():
    m = model_for()
    x, lengths = batch([4, 2])
    with pytest.raises(TypeError, match=r'pass torch.tensor\(lengths\)'):
        m(x, [4, 2])
    with pytest.raises(TypeError, match='lengths must be a tensor'):
        m(x, lengths[None])  # (1, B): not (B,)
    torch.testing.assert_close(m(x, torch.tensor([4, 2])), m(x, lengths))


def test_token_ids_beyond_the_vocabulary_are_a_clear_error():
    m = model_for()
    x, lengths = batch([4, 2])
    with pytest.raises(IndexError, match=f'0..{V - 1}'):
        m(x + V, lengths)
    with pytest.raises(IndexError, match='the vocabulary'):
        m(x - 1, lengths)
