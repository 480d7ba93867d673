"""Attention against PyTorch's, padding invariance, permutation invariance and bad configurations of seqlab.transformer."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.cnn_lstm import lengths_to_mask
from seqlab.transformer import (EncoderBlock, EncoderConfig, FeedForward, LearnedPositions, MultiHeadSelfAttention,
                                TransformerEncoder, dot_product_attention)

torch.set_num_threads(1)


def padded_mask(lengths, T=None):
    lengths = torch.tensor(lengths)
    return lengths_to_mask(lengths, T or int(lengths.max()))


def small_enc_cfg(**kw):
    return EncoderConfig(**{**dict(d_model=16, n_heads=4, n_layers=2, d_ff=24, dropout=0.0, max_len=40), **kw})


# ---- attention equals PyTorch's --------------------------------------------------------------------

@pytest.mark.parametrize('with_mask', [False, True])
def test_attention_equals_sdpa(with_mask):
    torch.manual_seed(1)
    q, k, v = (torch.randn(4, 3, 9, 8) for _ in range(3))
    mask = padded_mask([9, 1, 4, 6]) if with_mask else None
    out, w = dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, None, :])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_attention_rows_sum_to_one_and_padding_gets_zero():
    torch.manual_seed(2)
    q, k, v = (torch.randn(3, 2, 6, 4) for _ in range(3))
    mask = padded_mask([6, 2, 3])
    _, w = dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 6))
    assert w[~mask[:, None, None, :].expand_as(w)].abs().max().item() == 0.0
    assert (w[mask[:, None, None, :].expand_as(w)] > 0).all()


def test_attention_3d_single_head_with_mask():
    q = k = v = torch.randn(2, 5, 4)
    mask = padded_mask([5, 2])
    out, w = dot_product_attention(q, k, v, mask)
    assert out.shape == (2, 5, 4) and w[1, :, 2:].abs().max() == 0


@pytest.mark.parametrize('with_mask', [False, True])
def test_multihead_equals_nn_multiheadattention(with_mask):
    torch.manual_seed(3)
    mha = MultiHeadSelfAttention(24, 6).eval()
    ref = nn.MultiheadAttention(24, 6, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(mha.qkv.weight)
        ref.in_proj_bias.copy_(mha.qkv.bias)
        ref.out_proj.weight.copy_(mha.proj.weight)
        ref.out_proj.bias.copy_(mha.proj.bias)
    x = torch.randn(3, 8, 24)
    mask = padded_mask([8, 3, 5]) if with_mask else None
    y, w = mha(x, mask, need_weights=True)
    y_ref, w_ref = ref(x, x, x, key_padding_mask=None if mask is None else ~mask, average_attn_weights=False)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, w_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mha(x, mask)[0], y, atol=1e-5, rtol=1e-5)  # fused path
    assert mha(x, mask)[1] is None


def test_feedforward_is_position_wise():
    ff = FeedForward(8, 16).eval()
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ff(x)[1, 3], ff(x[1:2, 3:4])[0, 0])


# ---- encoder: padding, shapes, errors ---------------------------------------------------------------

def test_encoder_shapes_and_attention():
    torch.manual_seed(4)
    enc = TransformerEncoder(small_enc_cfg(n_layers=3)).eval()
    x, mask = torch.randn(2, 7, 16), padded_mask([7, 4])
    h, attn = enc(x, mask, return_attn=True)
    assert h.shape == (2, 7, 16) and attn.shape == (2, 3, 4, 7, 7)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 4, 7))
    assert attn[1, :, :, :, 4:].abs().max() == 0
    torch.testing.assert_close(enc(x, mask), h, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('learn_pos', [True, False])
def test_encoder_padding_invariance(learn_pos):
    torch.manual_seed(5)
    enc = TransformerEncoder(small_enc_cfg(learn_pos=learn_pos)).eval()
    x, mask = torch.randn(3, 6, 16), padded_mask([6, 2, 4])
    h = enc(x, mask)
    x_more = torch.cat([x, 100 * torch.randn(3, 9, 16)], dim=1)  # large garbage in the padding
    h_more = enc(x_more, padded_mask([6, 2, 4], 15))
    torch.testing.assert_close(h_more[:, :6][mask], h[mask], atol=1e-5, rtol=1e-5)


def test_encoder_without_positions_is_permutation_equivariant():
    torch.manual_seed(6)
    enc = TransformerEncoder(small_enc_cfg(learn_pos=False)).eval()
    x = torch.randn(1, 8, 16)
    perm = torch.randperm(8)
    torch.testing.assert_close(enc(x[:, perm]), enc(x)[:, perm], atol=1e-5, rtol=1e-5)
    enc_pos = TransformerEncoder(small_enc_cfg(learn_pos=True)).eval()
    assert not torch.allclose(enc_pos(x[:, perm]), enc_pos(x)[:, perm], atol=1e-3)


def test_encoder_train_mode_uses_dropout():
    enc = TransformerEncoder(small_enc_cfg(dropout=0.5)).train()
    x = torch.randn(2, 5, 16)
    assert not torch.allclose(enc(x), enc(x))


@pytest.mark.parametrize('kw, msg', [
    (dict(d_model=30, n_heads=4), 'not divisible by n_heads=4'),
    (dict(n_layers=0), 'set n_layers >= 1'),
    (dict(n_layers=-2), 'set n_layers >= 1'),
    (dict(d_model=0), 'd_model must be a positive int'),
    (dict(d_ff=2.5), 'd_ff must be a positive int'),
    (dict(dropout=-0.1), 'dropout must be in [0, 1)'),
    (dict(max_len=0), 'max_len must be a positive int'),
])
def test_bad_encoder_configs(kw, msg):
    with pytest.raises(ValueError, match=msg.replace('[', r'\[').replace(')', r'\)').replace('(', r'\(')):
        EncoderConfig(**kw)


def test_input_longer_than_max_len_with_positions():
    enc = TransformerEncoder(small_enc_cfg(max_len=5))
    with pytest.raises(ValueError, match='raise max_len to at least 6'):
        enc(torch.randn(1, 6, 16))
    TransformerEncoder(small_enc_cfg(max_len=5, learn_pos=False))(torch.randn(1, 6, 16))  # no positions: no limit


def test_encoder_bad_inputs():
    enc = TransformerEncoder(small_enc_cfg())
    with pytest.raises(ValueError, match='embed token ids first'):
        enc(torch.randint(0, 5, (2, 4)))
    with pytest.raises(ValueError, match='mask must be a bool tensor'):
        enc(torch.randn(2, 4, 16), torch.ones(2, 4))
    with pytest.raises(ValueError, match='mask must be a bool tensor'):
        enc(torch.randn(2, 4, 16), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match='not divisible'):
        MultiHeadSelfAttention(10, 3)


# ---- the classifier ---------------------------------------------------------------------------------

import numpy as np
import pandas as pd

from seqlab.datasets import Split, TaskData
from seqlab.transformer import (TRANSFORMER_REPORT_F1, TransformerClassifier, TransformerConfig, delete_tokens,
                                depth_grid, depth_summary, effect_table, f1_shuffled, order_task, plot_attention_heads,
                                plot_f1_vs_depth, shuffle_tokens, tfidf_logreg_f1, train_transformer, transformer_data,
                                transformer_results)

V = 30


def clf(seed=0, **kw):
    torch.manual_seed(seed)
    base = dict(vocab_size=V, n_classes=3, d_model=16, n_heads=2, n_layers=2, d_ff=24, dropout=0.0, max_len=20)
    return TransformerClassifier(TransformerConfig(**{**base, **kw})).eval()


def token_batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    T = int(lengths.max())
    return torch.randint(2, V, (len(lengths), T), generator=g) * lengths_to_mask(lengths, T), lengths


def test_classifier_shapes_and_attention():
    x, lengths = token_batch([5, 2, 7])
    logits, attn = clf()(x, lengths, return_attn=True)
    assert logits.shape == (3, 3) and attn.shape == (3, 2, 2, 7, 7)
    assert attn[1, :, :, :, 2:].abs().max() == 0


@pytest.mark.parametrize('learn_pos', [True, False])
def test_classifier_padding_invariance(learn_pos):
    m = clf(learn_pos=learn_pos)
    x, lengths = token_batch([5, 2, 7])
    logits = m(x, lengths)
    torch.testing.assert_close(m(F.pad(x, (0, 8)), lengths), logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m(F.pad(x, (0, 8))), logits, atol=1e-5, rtol=1e-5)  # lengths from padding_idx
    for i, n in enumerate(lengths.tolist()):  # each article alone, unpadded
        torch.testing.assert_close(m(x[i:i + 1, :n]), logits[i:i + 1], atol=1e-5, rtol=1e-5)


def test_permutation_invariance_without_positions_only():
    x, lengths = token_batch([9, 4, 6], seed=3)
    xs = shuffle_tokens(x, lengths, seed=1)
    assert not torch.equal(xs, x)
    torch.testing.assert_close(xs.sort(1).values, x.sort(1).values)
    m = clf(learn_pos=False)
    torch.testing.assert_close(m(xs, lengths), m(x, lengths), atol=1e-5, rtol=1e-5)
    m_pos = clf(learn_pos=True)
    assert (m_pos(xs, lengths) - m_pos(x, lengths)).abs().max() > 1e-3


def test_shuffle_tokens_keeps_padding_in_place():
    x, lengths = token_batch([6, 3])
    xs = shuffle_tokens(x, lengths)
    assert (xs[1, 3:] == 0).all()


@pytest.mark.parametrize('kw, msg', [
    (dict(d_model=30, n_heads=4), 'not divisible by n_heads=4'),
    (dict(n_layers=0), 'set n_layers >= 1'),
    (dict(vocab_size=0), 'vocab_size must be a positive int'),
    (dict(n_classes=0), 'n_classes must be a positive int'),
    (dict(padding_idx=V), 'pass vocab.pad_idx'),
])
def test_bad_classifier_configs(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TransformerConfig(**{**dict(vocab_size=V), **kw})


def test_classifier_longer_than_max_len_and_empty():
    m = clf(max_len=6)
    with pytest.raises(ValueError, match='raise max_len to at least 7'):
        m(torch.randint(2, V, (1, 7)))
    clf(max_len=6, learn_pos=False)(torch.randint(2, V, (1, 7)))  # no positions: any length
    with pytest.raises(ValueError, match='length of 0'):
        m(torch.zeros(2, 4, dtype=torch.long))


def test_report_defaults():
    cfg = TransformerConfig()
    assert (cfg.d_model, cfg.n_heads, cfg.dropout, cfg.max_len) == (128, 4, 0.5, 500)
    assert isinstance(cfg, EncoderConfig)
    assert sorted(TRANSFORMER_REPORT_F1) == [1, 2, 3, 4, 5, 6]


# ---- data, training, tables ------------------------------------------------------------------------------

def tiny_task(n=60, seed=0):
    "Two classes told apart by one keyword; texts of different lengths."
    rng = np.random.default_rng(seed)
    filler = ['the', 'a', 'of', 'news', 'today', 'said', 'it', 'was']
    def split(m):
        y = rng.integers(0, 2, m)
        x = [' '.join(list(rng.choice(filler, rng.integers(4, 12))) + [['goal', 'shares'][c]]) for c in y]
        return Split(x, y)
    return TaskData('tiny', split(n), split(20), split(20), ['sport', 'business'], 'generated tiny task (test)', True)


def test_delete_tokens_follows_numpy_seed():
    np.random.seed(1)
    a = [delete_tokens(list(range(50)), 0.3) for _ in range(3)]
    np.random.seed(1)
    assert a == [delete_tokens(list(range(50)), 0.3) for _ in range(3)]
    assert all(len(x) < 50 for x in a)


def test_transformer_data_augments_training_only():
    prep = transformer_data(tiny_task(), max_len=8, bs=8, p_delete=0.5)
    assert max(prep.dls.train.dataset.lengths) <= 8
    np.random.seed(0)
    assert sum(len(prep.dls.train.dataset[i][0]) for i in range(20)) < sum(prep.dls.train.dataset.lengths[:20])
    assert len(prep.dls.valid.dataset[0][0]) == prep.dls.valid.dataset.lengths[0]
    assert transformer_data(tiny_task(), p_delete=0).dls.train.dataset.augment is None


def test_grid_trains_through_the_learner_and_tables():
    torch.manual_seed(0)
    prep = transformer_data(tiny_task(), max_len=16, bs=16)
    kw = dict(epochs=2, lr=1e-2, d_model=16, n_heads=2, d_ff=16, dropout=0.0, max_len=16)
    runs, learners = depth_grid(prep, depths=(1, 2), seeds=(0, 1), n_shuffles=2, **kw)
    assert len(runs) == 8 and len(learners) == 8
    assert set(runs.columns) >= {'blocks', 'positions', 'seed', 'valid F1', 'valid F1, shuffled', 'test F1'}
    assert len(learners[(1, True, 0)].history) == 2
    nopos = runs[~runs['positions']]
    np.testing.assert_allclose(nopos['valid F1'], nopos['valid F1, shuffled'])
    np.testing.assert_allclose(runs['valid F1'], [l.history['f1_micro'].iloc[-1] for l in learners.values()])
    summary = depth_summary(runs)
    assert len(summary) == 12 and summary.loc[(1, True), 'seeds'] == 2 and np.isnan(summary.loc[(3, True), 'valid mean'])
    assert summary.loc[(1, False), 'report'] == 0.9469
    assert summary.loc[(1, True), 'valid mean'] == pytest.approx(runs.query('blocks == 1 and positions')['valid F1'].mean())
    eff = effect_table(summary, (1, True), (1, False))
    assert eff['report a - b (test)'] == round(0.9374 - 0.9469, 4) and isinstance(eff['stands out'], bool)
    assert eff['our a - b (valid)'] == round(summary.loc[(1, True), 'valid mean'] - summary.loc[(1, False), 'valid mean'], 4)
    with pytest.raises(ValueError, match='not a trained configuration'):
        effect_table(summary, (3, True), (1, True))
    res = transformer_results(summary, {'TF-IDF': 0.9}, prep.source, 2)
    assert len(res) == 13 and res.loc['3 blocks, positions on', 'our test F1'] == 'not trained in this run'
    assert (res['our data'] == prep.source).all()
    assert plot_f1_vs_depth(summary).axes
    with pytest.raises(ValueError, match="depth_grid's table"):
        depth_summary(runs.drop(columns='valid F1'))


def test_same_seed_same_run():
    prep = transformer_data(tiny_task(), max_len=16, bs=16)
    kw = dict(n_layers=1, epochs=1, lr=1e-2, d_model=16, n_heads=2, d_ff=16, max_len=16, dropout=0.1)
    a = train_transformer(prep, seed=3, **kw).history['train_loss'].iloc[-1]
    b = train_transformer(prep, seed=3, **kw).history['train_loss'].iloc[-1]
    assert a == pytest.approx(b, abs=1e-6)


def test_f1_shuffled_equals_plain_f1_without_positions():
    prep = transformer_data(tiny_task(), max_len=16, bs=16, p_delete=0)
    m = TransformerClassifier(TransformerConfig(vocab_size=len(prep.vocab), n_classes=2, d_model=16, n_heads=2,
                                                d_ff=16, max_len=16, learn_pos=False)).eval()
    from seqlab.cnn_lstm import micro_f1_on
    from seqlab.learner import Learner
    assert f1_shuffled(m, prep.dls.test) == micro_f1_on(Learner(m, prep.dls, device='cpu'), prep.dls.test)


def test_order_task_twins():
    xs, ys = order_task(40, seq_len=10, seed=2)
    assert len(xs) == 40 and ys.tolist() == [1, 0] * 20
    for a, b, y in zip(xs[::2], xs[1::2], ys[::2]):
        assert sorted(a) == sorted(b) and a.count(2) == 1 and a.count(3) == 1
        assert a.index(2) < a.index(3) and b.index(3) < b.index(2)
        assert 5 <= len(a) <= 10


def test_tfidf_baseline_learns_the_keyword():
    assert tfidf_logreg_f1(tiny_task()) > 0.9
    assert tfidf_logreg_f1(tiny_task(), max_len=2) < 0.9  # the keyword is at the end


def test_plot_attention_heads():
    fig = plot_attention_heads(torch.rand(3, 5, 5).softmax(-1), list('abcde'), title='t')
    assert len(fig.axes) == 4  # three heads and the colour bar
    assert [ax.get_title() for ax in fig.axes[:3]] == ['head 1', 'head 2', 'head 3']
    assert fig.axes[0].get_ylabel().startswith('query') and fig.axes[0].get_xlabel().startswith('key')
    assert fig.axes[0].images[0].get_clim() == fig.axes[2].images[0].get_clim()  # one colour scale
    assert plot_attention_heads(torch.rand(2, 4, 4), list('abcd'), vmax=1.0).axes[0].images[0].get_clim() == (0, 1.0)
    with pytest.raises(ValueError, match=r'\(heads, T, T\)'):
        plot_attention_heads(torch.rand(4, 4), list('abcd'))


# ---- PyTorch's encoder layer, and inputs checked where they enter ----------------------------------

def copy_block(blk, layer):
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(blk.attn.qkv.weight); layer.self_attn.in_proj_bias.copy_(blk.attn.qkv.bias)
        layer.self_attn.out_proj.weight.copy_(blk.attn.proj.weight); layer.self_attn.out_proj.bias.copy_(blk.attn.proj.bias)
        layer.linear1.load_state_dict(blk.ff.net[0].state_dict()); layer.linear2.load_state_dict(blk.ff.net[3].state_dict())
        layer.norm1.load_state_dict(blk.ln1.state_dict()); layer.norm2.load_state_dict(blk.ln2.state_dict())


@pytest.mark.parametrize('with_mask', [False, True])
def test_block_and_feedforward_equal_torch_encoder_layer(with_mask):
    torch.manual_seed(7)
    blk = EncoderBlock(small_enc_cfg(d_model=24, n_heads=3, d_ff=40)).eval()
    with torch.no_grad():
        for ln in (blk.ln1, blk.ln2):
            ln.weight.normal_(); ln.bias.normal_()
    ref = nn.TransformerEncoderLayer(24, 3, 40, 0.0, batch_first=True, norm_first=True).eval()
    copy_block(blk, ref)
    x, mask = torch.randn(3, 9, 24), padded_mask([9, 4, 6])
    if with_mask:
        torch.testing.assert_close(blk(x, mask)[0][mask], ref(x, src_key_padding_mask=~mask)[mask], atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(blk(x)[0], ref(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(blk.ff(x), ref.linear2(ref.activation(ref.linear1(x))), atol=1e-6, rtol=1e-6)


def test_encoder_without_positions_equals_torch_encoder():
    torch.manual_seed(8)
    enc = TransformerEncoder(small_enc_cfg(n_layers=3, learn_pos=False)).eval()
    ref = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 24, 0.0, batch_first=True, norm_first=True), 3,
                                norm=nn.LayerNorm(16), enable_nested_tensor=False).eval()
    for blk, layer in zip(enc.blocks, ref.layers):
        copy_block(blk, layer)
    with torch.no_grad():
        enc.ln.weight.normal_()
    ref.norm.load_state_dict(enc.ln.state_dict())
    x, mask = torch.randn(2, 7, 16), padded_mask([7, 3])
    torch.testing.assert_close(enc(x, mask)[mask], ref(x, src_key_padding_mask=~mask)[mask], atol=1e-5, rtol=1e-5)


def test_modules_refuse_impossible_sizes():
    with pytest.raises(ValueError, match='n_heads must be a positive int'):
        MultiHeadSelfAttention(16, 0)
    with pytest.raises(ValueError, match='d_ff must be a positive int'):
        FeedForward(16, 0)
    with pytest.raises(ValueError, match='max_len must be a positive int'):
        LearnedPositions(0, 16)
    with pytest.raises(TypeError, match='takes an EncoderConfig'):
        EncoderBlock(dict(d_model=16))
    with pytest.raises(TypeError, match='learn_pos must be True or False'):
        EncoderConfig(learn_pos='yes')
    with pytest.raises(ValueError, match='at least 2 classes'):
        TransformerConfig(vocab_size=V, n_classes=1)
    with pytest.raises(ValueError, match=r'x must be \(B, T, d_model=16\)'):
        MultiHeadSelfAttention(16, 4)(torch.randn(2, 5, 8))


def test_attention_refuses_shapes_that_do_not_fit():
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 4)
    dot_product_attention(q, k, v, padded_mask([6, 2]))  # T_q != T_k is fine
    with pytest.raises(ValueError, match='do not fit'):
        dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match='do not fit'):
        dot_product_attention(q, k, v[:, :, :4])
    with pytest.raises(ValueError, match=r'mask must be a bool tensor \(B, T_k\)=\(2, 6\)'):
        dot_product_attention(q, k, v, padded_mask([5, 2]))
    with pytest.raises(ValueError, match='mask must be a bool tensor'):
        dot_product_attention(q, k, v, torch.ones(2, 6))


def test_classifier_refuses_lengths_that_do_not_fit():
    m = clf()
    x, lengths = token_batch([5, 2, 7])
    with pytest.raises(ValueError, match='lengths go up to 9 but x has only 7 tokens'):
        m(x, torch.tensor([5, 2, 9]))
    with pytest.raises(ValueError, match='lengths has 2 entries but x holds 3 texts'):
        m(x, lengths[:2])
    with pytest.raises(ValueError, match='integer dtype'):
        m(x.float(), lengths)
    with pytest.raises(TypeError, match='1-d integer tensor'):
        m(x, lengths.float())
    with pytest.raises(ValueError, match='lengths go up to 8'):
        shuffle_tokens(x, torch.tensor([5, 2, 8]))


def test_helpers_check_their_arguments():
    from dataclasses import replace
    task = tiny_task()
    with pytest.raises(ValueError, match=r'data\.valid is None: transformer_data needs .*stratified_split'):
        transformer_data(replace(task, valid=None))
    with pytest.raises(ValueError, match=r'data\.test is None'):
        transformer_data(replace(task, test=None))
    with pytest.raises(ValueError, match=r'data\.train is empty'):
        transformer_data(replace(task, train=task.train[:0]))
    with pytest.raises(ValueError, match=r'labels go up to 1|labels 0\.\.1, outside the 1 classes'):  # TaskData itself refuses it now
        transformer_data(replace(task, classes=['sport']))
    for kw, msg in [(dict(max_len=0), 'max_len must be'), (dict(bs=0), 'bs must be'), (dict(p_delete=1.5), 'p_delete must lie')]:
        with pytest.raises(ValueError, match=msg):
            transformer_data(task, **kw)
    prep = transformer_data(task, max_len=16, bs=16)
    for kw, msg in [(dict(epochs=-1), 'epochs must be'), (dict(lr=0), 'lr must be'), (dict(label_smoothing=1.0), 'label_smoothing')]:
        with pytest.raises(ValueError, match=msg):
            train_transformer(prep, **kw)
    with pytest.raises(ValueError, match='seeds is empty'):
        depth_grid(prep, depths=(1,), seeds=())
    with pytest.raises(ValueError, match='n_shuffles must be'):
        f1_shuffled(clf(vocab_size=len(prep.vocab), n_classes=2), prep.dls.valid, n_shuffles=0)
    with pytest.raises(ValueError, match='seq_len must be'):
        order_task(10, seq_len=3)
    with pytest.raises(ValueError, match='needs data.train and data.test'):
        tfidf_logreg_f1(replace(task, test=None))


def test_f1_shuffled_averages_independent_shuffles():
    prep = transformer_data(tiny_task(), max_len=16, bs=16, p_delete=0)
    m = clf(vocab_size=len(prep.vocab), n_classes=2, learn_pos=True, max_len=16)
    singles = [f1_shuffled(m, prep.dls.valid, seed=5 + 10_000 * j) for j in range(3)]
    assert f1_shuffled(m, prep.dls.valid, seed=5, n_shuffles=3) == pytest.approx(np.mean(singles))


# ---- exercises: each check passes the worked solution, fails a typical wrong answer without giving the solution away ----

import math

from seqlab.exercises import EXERCISES, check



def seeds_needed(std, diff):
    if diff == 0:
        raise ValueError('diff=0 never stands out')
    return max(2, math.floor(8 * std ** 2 / diff ** 2) + 1)


class PostNormBlock(EncoderBlock):
    def forward(self, x, mask=None, need_weights=False):
        a, w = self.attn(x, mask, need_weights)
        x = self.ln1(x + self.drop(a))
        return self.ln2(x + self.drop(self.ff(x))), w


class CLSClassifier(TransformerClassifier):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.cls = nn.Parameter(torch.randn(1, 1, cfg.d_model))

    def forward(self, x, lengths=None):
        lengths = (x != 0).sum(1) if lengths is None else lengths
        e = torch.cat([self.cls.expand(len(x), 1, -1), self.embedding(x) * math.sqrt(self.cfg.d_model)], 1)
        h = self.encoder(e, lengths_to_mask(lengths + 1, e.shape[1]))
        return self.head(h[:, 0])


class SinusoidalPositions(nn.Module):
    def __init__(self, max_len, d_model, half=False):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float)[:, None]
        i = torch.arange(d_model // 2, dtype=torch.float) if half else torch.arange(0, d_model, 2, dtype=torch.float)
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos / 10000 ** (i / d_model)), torch.cos(pos / 10000 ** (i / d_model))
        self.register_buffer('pe', pe)

    def forward(self, x):
        return x + self.pe[:x.shape[1]]


def smooth_ce(logits, target, eps, other_classes_only=False, naive=False):
    C = logits.shape[-1]
    logp = torch.log(torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)) if naive else logits.log_softmax(-1)
    q = torch.full_like(logp, eps / (C - 1) if other_classes_only else eps / C)
    q.scatter_(1, target[:, None], 1 - eps if other_classes_only else 1 - eps + eps / C)
    return -(q * logp).sum(-1).mean()


@torch.no_grad()
def a_to_b(model, x, lengths, swap=False):
    _, attn = model(x, lengths, return_attn=True)
    ia, ib = (x == 2).float().argmax(1), (x == 3).float().argmax(1)
    q, k = (ib, ia) if swap else (ia, ib)
    return attn[torch.arange(len(x)), :, :, q, k].mean(0)


def report(r):
    "The text a learner reads: the headline and every verdict."
    return str(r)


def test_topic_11_registers_six_exercises():
    check('11.1', None, quiet=True)  # imports seqlab.transformer's checks
    assert sorted(k for k in EXERCISES if k.startswith('11.')) == [f'11.{i}' for i in range(1, 7)]


@pytest.mark.parametrize('key', [f'11.{i}' for i in range(1, 7)])
def test_exercise_11_not_attempted(key):
    r = check(key, None, quiet=True)
    assert r.status == 'not attempted' and not r


def test_exercise_11_stub_classes_are_not_attempted():
    class Stub(EncoderBlock):
        def forward(self, x, mask=None, need_weights=False):
            raise NotImplementedError
    assert check('11.2', Stub, quiet=True).status == 'not attempted'

    class Stub3(TransformerClassifier):
        def forward(self, x, lengths=None):
            raise NotImplementedError
    assert check('11.3', Stub3, quiet=True).status == 'not attempted'


def test_exercise_11_1_seeds_needed():
    assert check('11.1', seeds_needed, quiet=True)
    r = check('11.1', lambda std, diff: max(2, math.floor(4 * std ** 2 / diff ** 2) + 1), quiet=True)  # one mean's error
    assert not r and r.status == 'checked'
    text = report(r)
    assert 'still in the noise' in text and '2 SE' in text
    assert '8 *' not in text and ' 33 ' not in text  # neither the formula nor the right count for std 0.02, diff 0.01
    r = check('11.1', lambda std, diff: 8 * std ** 2 / diff ** 2, quiet=True)  # a float
    assert not r and 'return an int' in report(r)
    r = check('11.1', lambda std, diff: max(2, math.ceil(8 * std ** 2 / diff ** 2)), quiet=True)  # ZeroDivisionError for 0
    assert not r and 'raised ZeroDivisionError' in report(r)


def test_exercise_11_2_post_norm():
    assert check('11.2', PostNormBlock, quiet=True)

    class BranchNorm(EncoderBlock):  # the norm on the branch, not on the sum
        def forward(self, x, mask=None, need_weights=False):
            a, w = self.attn(x, mask, need_weights)
            x = x + self.ln1(a)
            return x + self.ln2(self.ff(x)), w
    for wrong in (BranchNorm, EncoderBlock):  # EncoderBlock itself: pre-norm
        r = check('11.2', wrong, quiet=True)
        assert not r and r.status == 'checked'
        assert r.failed[0].label.startswith('equals nn.TransformerEncoderLayer(norm_first=False)')
        assert 'where does each norm act' in r.failed[0].detail and 'self.ln1(x +' not in report(r)


def test_exercise_11_3_cls_token():
    assert check('11.3', CLSClassifier, quiet=True)

    class OldMask(CLSClassifier):  # the CLS vector in front, the mask of the text alone
        def forward(self, x, lengths=None):
            e = torch.cat([self.cls.expand(len(x), 1, -1), self.embedding(x) * math.sqrt(self.cfg.d_model)], 1)
            return self.head(self.encoder(e, lengths_to_mask(lengths, e.shape[1]))[:, 0])
    r = check('11.3', OldMask, quiet=True)
    assert not r and [v.label for v in r.failed] == ['without positions: shuffling the real tokens leaves the logits unchanged']
    assert 'mask' in r.failed[0].detail and 'lengths + 1' not in report(r) and 'lengths' not in r.failed[0].detail
    r = check('11.3', TransformerClassifier, quiet=True)  # mean pooling: no new parameter, the mean's logits
    assert not r and {v.label for v in r.failed} == {'has a learnable parameter that TransformerClassifier lacks (the CLS vector)',
                                                     'the head reads the CLS output, not the mean over the tokens'}


def test_exercise_11_4_sinusoids():
    assert check('11.4', SinusoidalPositions, quiet=True)
    r = check('11.4', lambda max_len, d_model: SinusoidalPositions(max_len, d_model, half=True), quiet=True)  # i / d, not 2i / d
    assert not r and [v.label for v in r.failed] == ["the paper's values (sin on even, cos on odd dimensions)"]
    assert 'differs, largest difference' in r.failed[0].detail and 'arange' not in report(r)

    class Learned(nn.Module):  # a trainable table
        def __init__(self, max_len, d_model):
            super().__init__()
            self.pe = nn.Parameter(SinusoidalPositions(max_len, d_model).pe.clone())

        def forward(self, x):
            return x + self.pe[:x.shape[1]]
    r = check('11.4', Learned, quiet=True)
    assert not r and [v.label for v in r.failed] == ['nothing to train (fixed, not learned)'] and 'buffer' in r.failed[0].detail


def test_exercise_11_5_label_smoothing():
    assert check('11.5', smooth_ce, quiet=True)
    r = check('11.5', lambda l, t, e: smooth_ce(l, t, e, other_classes_only=True), quiet=True)  # eps / (C - 1) on the others
    assert not r and r.failed[0].label.startswith('eps = 0.1')
    assert 'share eps among the classes' in r.failed[0].detail and '/ C' not in report(r) and '(C - 1)' not in report(r)
    r = check('11.5', lambda l, t, e: smooth_ce(l, t, e, naive=True), quiet=True)  # exp overflows
    assert not r and [v.label for v in r.failed] == ['large logits (+ 1000) give the same loss'] and 'overflows' in r.failed[0].detail


def test_exercise_11_6_a_to_b():
    assert check('11.6', a_to_b, quiet=True)
    r = check('11.6', lambda m, x, l: a_to_b(m, x, l, swap=True), quiet=True)
    assert not r and r.failed[0].label.startswith('the weight of query A on key B')
    assert 'fourth axis is the query' in r.failed[0].detail
    r = check('11.6', lambda m, x, l: a_to_b(m, x, l)[None], quiet=True)  # kept a batch axis
    assert not r and 'returns (n_layers, n_heads) = (2, 3)' in [v.label for v in r.failed]


def test_exercise_11_6_planted_model_differs_from_uniform():
    "The stand-in model of the check plants its weights where A and B stand, whatever the order task puts there."
    from seqlab.transformer import _PlantedAttention
    xs, _ = order_task(8, seq_len=12, seed=0)
    x = nn.utils.rnn.pad_sequence([torch.tensor(s) for s in xs], batch_first=True)
    w = torch.rand(2, 3)
    _, attn = _PlantedAttention(w)(x, None, return_attn=True)
    ia, ib = (x == 2).float().argmax(1), (x == 3).float().argmax(1)
    assert len(set(ia.tolist())) > 1 and len(set(ib.tolist())) > 1  # A and B at several places
    torch.testing.assert_close(attn[torch.arange(8), :, :, ia, ib], w.expand(8, 2, 3))
