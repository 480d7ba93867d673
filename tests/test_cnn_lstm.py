"""Masking, padding invariance, bad configurations and the variant pipeline of seqlab.cnn_lstm."""
from dataclasses import replace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.cnn_lstm import (CNN_LSTM_VARIANTS, POOLINGS, AdditiveAttention, CNNLSTMClassifier, CNNLSTMConfig,
                             NGramConv, build_cnn_lstm, cnn_lstm_results, lengths_to_mask, masked_pool,
                             article_vectors, prepare_text, train_variant, variant_spec, scale_embeddings,
                             compare_rows, dme_token_weights, micro_f1_on)

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
    with pytest.raises(TypeError, match='lengths must be an integer tensor'):
        m(x, lengths[None])  # (1, B): not (B,)
    torch.testing.assert_close(m(x, torch.tensor([4, 2])), m(x, lengths))


def test_token_ids_beyond_the_vocabulary_are_a_clear_error():
    m = model_for()
    x, lengths = batch([4, 2])
    with pytest.raises(IndexError, match=f'0..{V - 1}'):
        m(x + V, lengths)
    with pytest.raises(IndexError, match='the vocabulary'):
        m(x - 1, lengths)


# ---- input checks at every public entry --------------------------------------------------------------

@pytest.mark.parametrize('kw, err, msg', [
    (dict(attn_dim=0), ValueError, 'attn_dim must be an int >= 1, got 0'),
    (dict(num_layers=-1), ValueError, 'num_layers'),
    (dict(embedding_dim=2.5), ValueError, 'embedding_dim'),
    (dict(kernel_sizes=(2, True)), ValueError, 'positive ints'),
    (dict(kernel_sizes='345'), TypeError, 'tuple of ints'),
    (dict(dropout='0.5'), ValueError, 'dropout must be a number'),
    (dict(bidirectional='yes'), TypeError, 'bidirectional must be True or False'),
    (dict(padding_idx=-1), ValueError, 'padding_idx'),
])
def test_impossible_configs_are_rejected(kw, err, msg):
    with pytest.raises(err, match=msg):
        CNNLSTMConfig(**kw)


def test_lengths_longer_than_the_input_are_a_clear_error():
    m = model_for(pooling='attention')
    x, lengths = batch([4, 2])
    with pytest.raises(ValueError, match='lengths go up to 7 but x has only T=4'):
        m(x, torch.tensor([7, 2]))
    m_packed = model_for(pooling='last')  # the packed path too
    with pytest.raises(ValueError, match='lengths go up to'):
        m_packed(x, torch.tensor([4, 5]))


def test_float_lengths_and_empty_batches_are_clear_errors():
    m = model_for()
    x, lengths = batch([4, 2])
    with pytest.raises(TypeError, match='integer tensor'):
        m(x, lengths.float())
    with pytest.raises(ValueError, match='x is empty'):
        m(x[:0], lengths[:0])
    with pytest.raises(ValueError, match='x is empty'):
        m(x[:, :0])


def test_lengths_to_mask_checks_its_inputs():
    with pytest.raises(ValueError, match='give max_len >= the longest length'):
        lengths_to_mask(torch.tensor([3, 6]), 5)
    with pytest.raises(ValueError, match='lengths must lie in 0..max_len'):
        lengths_to_mask(torch.tensor([3, -1]))
    with pytest.raises(ValueError, match='lengths is empty'):
        lengths_to_mask(torch.tensor([], dtype=torch.long))
    with pytest.raises(TypeError, match='integer tensor'):
        lengths_to_mask([3, 1])
    with pytest.raises(TypeError, match='integer tensor'):
        lengths_to_mask(torch.tensor([[3, 1]]))


@pytest.mark.parametrize('make, msg', [
    (lambda: NGramConv(0, 4, (2,)), 'in_channels'),
    (lambda: NGramConv(E, 0, (2,)), 'num_filters'),
    (lambda: NGramConv(E, 4, ()), 'kernel_sizes is empty'),
    (lambda: AdditiveAttention(0, 4), 'in_features'),
    (lambda: AdditiveAttention(3, -2), 'attn_dim'),
])
def test_building_blocks_reject_impossible_sizes(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_building_blocks_reject_mismatched_masks_and_empty_rows():
    conv, att = NGramConv(E, 2, (2,)), AdditiveAttention(3, 4)
    good = lengths_to_mask(torch.tensor([2, 3]), 3)
    with pytest.raises(ValueError, match=r'mask must be a bool tensor \(B, T\) = \(2, 3\)'):
        conv(torch.randn(2, 3, E), good[:, :2])
    with pytest.raises(ValueError, match='mask must be a bool tensor'):
        att(torch.randn(2, 3, 3), good.long())
    with pytest.raises(ValueError, match='takes float vectors'):
        conv(torch.randn(3, E), good)
    empty_row = torch.tensor([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match='row 1 of mask has no real token'):
        att(torch.randn(2, 3, 3), empty_row)  # the softmax of a row of -inf would be NaN
    for how in ('max', 'mean'):
        with pytest.raises(ValueError, match='no real token'):
            masked_pool(torch.randn(2, 3, 3), empty_row, how)  # -inf or 0 otherwise


def test_classifier_wants_a_config_and_a_module():
    with pytest.raises(TypeError, match=r'pass CNNLSTMConfig\(\*\*cfg\)'):
        CNNLSTMClassifier(dict(embedding_dim=E), nn.Embedding(V, E))
    with pytest.raises(TypeError, match='embedding must be an nn.Module'):
        CNNLSTMClassifier(small_cfg(), torch.randn(V, E))


def test_variant_spec_rejects_non_strings():
    with pytest.raises(ValueError, match='Unknown variant'):
        variant_spec(['learned'])


# ---- the unpacked LSTM path ---------------------------------------------------------------------------

@pytest.mark.parametrize('pooling', ['attention', 'max', 'mean'])
@pytest.mark.parametrize('num_layers', [1, 2])
def test_unpacked_states_equal_the_packed_ones(pooling, num_layers):
    "A forward LSTM run over the padded batch gives the packed LSTM's states at every real position."
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    m = model_for(pooling=pooling, num_layers=num_layers)
    x, lengths = batch([7, 1, 4, 2])
    with torch.no_grad():
        h, mask, h_n = m.encode(x, lengths)
        c = m.conv(m.embedding(x), mask)
        ref, _ = pad_packed_sequence(m.lstm(pack_padded_sequence(c, lengths, batch_first=True, enforce_sorted=False))[0],
                                     batch_first=True, total_length=x.shape[1])
    assert h_n is None
    torch.testing.assert_close(h, ref, rtol=0, atol=1e-6)
    assert (h[~mask] == 0).all()


@pytest.mark.parametrize('kw', [dict(pooling='last'), dict(bidirectional=True)])
def test_last_state_and_backward_direction_still_pack(kw):
    m = model_for(**kw)
    x, lengths = batch([5, 2])
    with torch.no_grad():
        h, mask, h_n = m.encode(x, lengths)
    assert h_n is not None
    with torch.no_grad():  # the short article's last state is the one after its own last token
        alone = m(x[1:, :2], lengths[1:])
        torch.testing.assert_close(m(x, lengths)[1:], alone, rtol=0, atol=1e-6)


# ---- rescaled embedding tables -----------------------------------------------------------------------

def test_scale_embeddings_keeps_directions_and_padding():
    emb = nn.Embedding(40, 6, padding_idx=0)
    before = F.normalize(emb.weight[1:].detach().clone(), dim=1)
    scale_embeddings(emb, 0.05)
    torch.testing.assert_close(emb.weight[1:].std().item(), 0.05, rtol=1e-4, atol=0)
    torch.testing.assert_close(F.normalize(emb.weight[1:].detach(), dim=1), before)
    assert emb.weight[0].abs().sum() == 0
    for bad in (0, -1, True, '0.05'):
        with pytest.raises(ValueError, match='embedding_std must be a positive number'):
            scale_embeddings(emb, bad)


def test_scale_embeddings_scales_a_dme_and_its_projection_biases(prep):
    vecs = article_vectors(prep, 8, kinds=('glove', 'fasttext'), seed=0)
    plain = build_cnn_lstm('meta', prep, vectors=vecs, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3)
    small = build_cnn_lstm('meta', prep, vectors=vecs, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3,
                           embedding_std=0.05)
    for e in small.embedding.embeddings:
        torch.testing.assert_close(e.weight[1:].std().item(), 0.05, rtol=1e-3, atol=0)
    x = torch.tensor([[2, 3, 4]])
    with torch.no_grad():  # each set's projected vectors shrink as a whole: W (s e) + s b = s (W e + b)
        for e0, p0, e1, p1 in zip(plain.embedding.embeddings, plain.embedding.projections,
                                  small.embedding.embeddings, small.embedding.projections):
            s = e1.weight[1:].std() / e0.weight[1:].std()
            torch.testing.assert_close(p1(e1(x)), s * p0(e0(x)), rtol=1e-4, atol=1e-6)


def test_onehot_has_no_table_to_scale(prep):
    m = build_cnn_lstm('onehot', prep, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3, embedding_std=0.05)
    assert m.cfg.embedding_dim == len(prep.vocab)


# ---- the pipeline's entries ---------------------------------------------------------------------------

def test_prepare_text_checks_its_inputs():
    from dataclasses import replace as dc_replace
    from seqlab.datasets import load_bbc
    data = load_bbc(quick=True, n=200, verbose=False)
    with pytest.raises(ValueError, match='split off validation and test sets'):
        prepare_text(dc_replace(data, test=None))
    with pytest.raises(ValueError, match='max_len must be an int >= 1, got 0'):
        prepare_text(data, max_len=0)
    with pytest.raises(ValueError, match='bs must be an int >= 1'):
        prepare_text(data, bs=-4)
    with pytest.raises(ValueError, match='or None for no cap'):
        prepare_text(data, max_size=0)
    with pytest.raises(ValueError, match='must be a TaskData'):
        prepare_text(['some text'])


def test_build_and_article_vectors_check_their_inputs(prep):
    with pytest.raises(TypeError, match='prep must be the TextPrep'):
        build_cnn_lstm('learned', prep=None)
    with pytest.raises(ValueError, match='embedding_dim must be an int >= 1, got 0'):
        article_vectors(prep, 0)
    with pytest.raises(ValueError, match='No article-wide training'):
        article_vectors(prep, 8, kinds=())
    with pytest.raises(TypeError, match='prep must be the TextPrep'):
        article_vectors(object(), 8)
    with pytest.raises(ValueError, match='embedding_std'):
        build_cnn_lstm('learned', prep, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3, embedding_std=0)


@pytest.fixture(scope='module')
def two_seeds(prep):
    kw = dict(epochs=1, lr=1e-2, embedding_dim=8, num_filters=2, kernel_sizes=(2,), hidden_size=3, attn_dim=4, device='cpu')
    vecs = article_vectors(prep, 8, kinds=('glove', 'fasttext'), seed=0)
    return {name: [train_variant(name, prep, vectors=vecs, seed=s, **kw) for s in (0, 1)]
            for name in ('learned', 'learned_attn', 'meta')}, vecs


def test_results_over_seeds_and_paired_comparisons(prep, two_seeds):
    runs, vecs = two_seeds
    res = cnn_lstm_results(runs, prep, vecs)
    per_seed = [round(micro_f1_on(l, prep.dls.test), 4) for l in runs['learned']]
    assert res.loc['learned', 'test F1 per seed'] == tuple(per_seed)
    assert res.loc['learned', 'our test F1'] == round(sum(per_seed) / 2, 4)
    assert res.loc['meta', 'embedding'] == 'dme over glove + fasttext'
    cmp = compare_rows(res, [('learned_attn', 'learned')])
    d = [a - b for a, b in zip(res.loc['learned_attn', 'test F1 per seed'], res.loc['learned', 'test F1 per seed'])]
    assert cmp.loc[0, 'our a - b'] == round(sum(d) / 2, 4)
    assert cmp.loc[0, 'report a - b'] == round(0.9442 - 0.9510, 4)
    with pytest.raises(ValueError, match='not among the rows'):
        compare_rows(res, [('learned', 'glove_attn')])
    with pytest.raises(ValueError, match='runs must be a non-empty dict'):
        cnn_lstm_results({}, prep)
    with pytest.raises(ValueError, match='empty list'):
        cnn_lstm_results({'learned': []}, prep)
    with pytest.raises(TypeError, match='prep must be the TextPrep the learners were trained on, got DataLoaders'):
        cnn_lstm_results(runs, prep.dls)  # the loaders instead of the TextPrep


def test_glove_row_says_what_its_vectors_are(prep):
    vecs = article_vectors(prep, 8, kinds=('glove',), seed=0)
    learn = train_variant('glove_attn', prep, epochs=1, vectors=vecs, embedding_dim=8, num_filters=2, kernel_sizes=(2,),
                          hidden_size=3, attn_dim=4, device='cpu')
    res = cnn_lstm_results({'glove_attn': learn}, prep, vecs)
    assert 'CBOW' in res.loc['glove_attn', 'embedding'] and 'stand-in' in res.loc['glove_attn', 'embedding']


def test_dme_token_weights(prep, two_seeds):
    runs, _ = two_seeds
    model = runs['meta'][0].model
    tw = dme_token_weights(model, prep.dls.valid, prep.vocab, min_count=2)
    assert list(tw.columns) == ['token', 'count', 'glove', 'fasttext'] and (tw['count'] >= 2).all()
    assert (tw[['glove', 'fasttext']].sum(axis=1) - 1).abs().max() < 1e-5
    (x, lengths), _ = next(iter(prep.dls.valid))  # the weight of one token, by hand
    with torch.no_grad():
        _, w = model.embedding(x, lengths, return_attn=True)
    tok = int(x[0, 0])
    by_hand = w[x == tok][:, 0]  # wherever the token occurs in this batch
    one = dme_token_weights(model, [((x, lengths), None)], prep.vocab).set_index('token')
    assert abs(one.loc[prep.vocab.itos[tok], 'glove'] - by_hand.mean().item()) < 1e-5
    with pytest.raises(TypeError, match='must be a DME'):
        dme_token_weights(runs['learned'][0].model, prep.dls.valid, prep.vocab)
    with pytest.raises(ValueError, match='gave no tokens'):
        dme_token_weights(model, [], prep.vocab)
    with pytest.raises(ValueError, match='min_count'):
        dme_token_weights(model, prep.dls.valid, prep.vocab, min_count=0)


def test_micro_f1_on_an_empty_loader_is_a_clear_error(two_seeds):
    runs, _ = two_seeds
    with pytest.raises(ValueError, match='no batches to score'):
        micro_f1_on(runs['learned'][0], [])


# ---- exercises 10.1-10.6: each check passes a worked solution and fails typical wrong answers ---------

import json
import time
from pathlib import Path

from torch.nn.utils.rnn import pack_padded_sequence

from seqlab.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parent.parent
KEYS = [f'10.{n}' for n in range(1, 7)]


def _details(r) -> str:
    return ' | '.join(f'{v.label}: {v.detail}' for v in r.failed)


def _first_weights(embedding, vocab_size, cfg, biases=True, onehot_width=True):
    onehot = embedding == 'onehot'
    width = vocab_size if onehot and onehot_width else cfg.embedding_dim
    table = 0 if onehot else vocab_size * cfg.embedding_dim
    return table + sum(width * k * cfg.num_filters + biases * cfg.num_filters for k in cfg.kernel_sizes)


def _last_state(h, lengths):
    return h[torch.arange(len(h)), lengths - 1]


def _ngram_conv(x, mask, convs, masked=True, even_right=True):
    x = (x * mask.unsqueeze(-1) if masked else x).transpose(1, 2)
    pads = [((c.kernel_size[0] - 1) // 2, c.kernel_size[0] // 2) if even_right else (c.kernel_size[0] // 2, (c.kernel_size[0] - 1) // 2)
            for c in convs]
    return torch.cat([F.relu(c(F.pad(x, p))) for c, p in zip(convs, pads)], 1).transpose(1, 2)


def _attention_pool(h, mask, proj, v, masked=True):
    s = v(torch.tanh(proj(h))).squeeze(-1)
    w = (s.masked_fill(~mask, float('-inf')) if masked else s).softmax(-1)
    return (w.unsqueeze(-1) * h).sum(1), w


def _meta_embed(dme, tokens, dim=-1):
    proj = torch.stack([p(e(tokens)) for e, p in zip(dme.embeddings, dme.projections)], 2)
    w = dme.attn(proj).squeeze(-1).softmax(dim) * (tokens != dme.padding_idx).unsqueeze(-1)
    return (w.unsqueeze(-1) * proj).sum(2), w


def _padding_change(model, x, lengths, n_pad, argmax=False, in_place=False):
    pad = x.new_full((len(x), n_pad), model.cfg.padding_idx)
    xp = torch.cat([x, pad], 1)
    with torch.no_grad():
        a, b = model(xp, lengths), model(x, lengths)
    if in_place:
        x[:, -1] = model.cfg.padding_idx
    return float((a.argmax(1) != b.argmax(1)).sum()) if argmax else (a - b).abs().max().item()


SOLUTIONS = {'10.1': _first_weights, '10.2': _last_state, '10.3': _ngram_conv, '10.4': _attention_pool,
             '10.5': _meta_embed, '10.6': _padding_change}


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize('key', KEYS)
def test_exercise_solution_passes_and_stubs_are_not_attempted(key):
    assert check(key, SOLUTIONS[key], quiet=True)
    assert check(key, None, quiet=True).status == 'not attempted'
    assert check(key, _stub, quiet=True).status == 'not attempted'
    r = check(key, 3, quiet=True)  # a number where a function is asked for: a failed verdict, not a crash
    assert r.status == 'checked' and [v.label for v in r.failed] == ['your answer is a function'] and 'got a int' in _details(r)


def test_exercise_checks_are_quick():
    t0 = time.process_time()
    for key in KEYS:
        check(key, SOLUTIONS[key], quiet=True)
    assert time.process_time() - t0 < 10  # all six together: seconds of CPU



def test_exercise_10_1_first_weights():
    r = check('10.1', lambda e, V, cfg: _first_weights(e, V, cfg, onehot_width=False), quiet=True)  # one-hot read as E channels
    assert [v.label.split(',')[0] for v in r.failed] == ['onehot'] * 3
    assert 'off by -30,080 weights' in _details(r)
    assert '32,032' not in _details(r) and '32032' not in _details(r)  # the count itself is not given away
    r = check('10.1', lambda e, V, cfg: _first_weights(e, V, cfg, biases=False), quiet=True)  # biases forgotten
    assert len(r.failed) == 6 and 'off by -32 weights' in _details(r)
    r = check('10.1', lambda e, V, cfg: float(_first_weights(e, V, cfg)), quiet=True)
    assert [v.label for v in r.failed] == ['returns a whole number']


def test_exercise_10_2_last_state():
    r = check('10.2', lambda h, lengths: h[:, -1], quiet=True)  # the last padded step
    assert {v.label.split(':')[0] for v in r.failed} == {'rows shorter than T', 'another batch'}
    assert 'last real token' in _details(r) and 'lengths - 1' not in _details(r)
    r = check('10.2', lambda h, lengths: h[torch.arange(len(h)), lengths.clamp(max=h.shape[1] - 1)], quiet=True)  # off by one
    assert r.failed and 'rows shorter than T' in r.failed[0].label
    r = check('10.2', lambda h, lengths: h.max(1).values, quiet=True)  # a pooling, not a state
    assert not r
    r = check('10.2', lambda h, lengths: h[:, -1:], quiet=True)
    assert [v.label for v in r.failed] == ['returns states (B, H)'] and 'expected (5, 5), got (5, 1, 5)' in _details(r)


def test_exercise_10_3_ngram_conv():
    r = check('10.3', lambda x, m, c: _ngram_conv(x, m, c, masked=False), quiet=True)  # the mask forgotten
    assert [v.label.split(':')[0] for v in r.failed] == ['rows with padding']
    assert 'padded positions must not matter' in _details(r) and 'mask' not in _details(r)
    r = check('10.3', lambda x, m, c: _ngram_conv(x, m, c, even_right=False), quiet=True)  # even widths padded on the left
    assert 'widths 2 and 4 (even), rows without padding' in [v.label for v in r.failed]
    assert 'width 3, rows without padding' not in [v.label for v in r.failed]  # odd widths pad alike on both sides
    r = check('10.3', lambda x, m, c: torch.cat([F.relu(cv(x.transpose(1, 2))) for cv in c], 1).transpose(1, 2), quiet=True)
    assert [v.label for v in r.failed] == ['returns features (B, T, n_filters * n_kernels)']  # no padding: T - k + 1 positions

    def in_place(x, mask, convs):
        x.mul_(mask.unsqueeze(-1))
        return _ngram_conv(x, mask, convs)
    assert 'leaves x unchanged' in [v.label for v in check('10.3', in_place, quiet=True).failed]


def test_exercise_10_4_attention_pool():
    r = check('10.4', lambda h, m, p, v: _attention_pool(h, m, p, v, masked=False), quiet=True)  # softmax over every position
    labels = [v.label for v in r.failed]
    assert 'padded positions get weight exactly 0' in labels and 'each row of w sums to 1' not in labels
    assert '-inf' not in _details(r) and 'masked_fill' not in _details(r)
    r = check('10.4', lambda h, m, p, v: _attention_pool(h, m, p, v)[::-1], quiet=True)  # (w, z) instead of (z, w)
    assert [v.label for v in r.failed] == ['returns (z, w): z (B, H), w (B, T)']


def test_exercise_10_5_meta_embed():
    r = check('10.5', lambda d, t: _meta_embed(d, t, dim=1), quiet=True)  # softmax over the tokens, not the sets
    labels = [v.label for v in r.failed]
    assert 'on every real token the weights sum to 1 over the sets' in labels and 'padding: weights and vectors exactly 0' not in labels
    assert 'dim' not in _details(r)

    def no_padding_mask(dme, tokens):
        proj = torch.stack([p(e(tokens)) for e, p in zip(dme.embeddings, dme.projections)], 2)
        w = dme.attn(proj).squeeze(-1).softmax(-1)
        return (w.unsqueeze(-1) * proj).sum(2), w
    r = check('10.5', no_padding_mask, quiet=True)
    assert 'padding: weights and vectors exactly 0' in [v.label for v in r.failed] and 'padding id' in _details(r)


def test_exercise_10_6_padding_change():
    r = check('10.6', lambda *a: _padding_change(*a, argmax=True), quiet=True)  # compares predictions, not logits
    assert [v.label.split(':')[0] for v in r.failed] == ['finds the leak in a model with attention that forgets the mask',
                                                          'finds the leak in a model with a mean over every position']
    assert 'logits themselves' in _details(r) and 'argmax' not in _details(r)
    r = check('10.6', lambda *a: _padding_change(*a, in_place=True), quiet=True)
    assert 'leaves x unchanged' in [v.label for v in r.failed]
    r = check('10.6', lambda m, x, lengths, n: _padding_change(m, x, None if n else lengths, n + 1), quiet=True)  # pads even for n_pad=0
    assert not r


def test_the_padding_models_of_10_6_leak_only_where_meant():
    from seqlab.cnn_lstm import _padding_models
    models = _padding_models()
    x, lengths = torch.tensor([[5, 9, 2, 7, 3, 8], [4, 6, 11, 0, 0, 0]]), torch.tensor([6, 3])
    change = {n: _padding_change(m, x, lengths, 5) for n, m in models.items()}
    assert change['attention'] < 1e-6 and change['max pooling'] < 1e-6
    assert change['attention that forgets the mask'] > 1e-3 and change['a mean over every position'] > 1e-3
