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
