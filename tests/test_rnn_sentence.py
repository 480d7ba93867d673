"Tests of seqlab.rnn_sentence: packing, the last-state bug, pooling and padding, every configuration, bad inputs."
import itertools

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import PackedSequence

from seqlab.data import pad_collate, run_packed
from seqlab.datasets import load_trec
from seqlab.learner import to_device
from seqlab.rnn_sentence import (RNN_CELLS, RNN_EMBEDDINGS, SENTENCE_POOLINGS, RNNSentenceClassifier, RNNSentenceConfig,
                                 build_rnn_sentence, compare_over_seeds, last_real_state, mean_std_table, noise_check,
                                 pack_collate, plot_grad_norms, prepare_sentences, regulariser_cbs, rnn_sentence_results,
                                 sentence_loaders, train_rnn_sentence)

torch.set_num_threads(1)

LENS = torch.tensor([6, 3, 1, 5])
DEPTHS = [(c, bi, n) for c in RNN_CELLS for bi in (False, True) for n in (1, 2)]


@pytest.fixture(scope='module')
def prep():
    return prepare_sentences(load_trec(quick=True, n=200, seed=0, verbose=False))


def _batch(vocab_size=30, seed=0):
    "Padded ids (B, 6) with lengths LENS and non-zero ids only at real steps."
    g = torch.Generator().manual_seed(seed)
    items = [(torch.randint(2, vocab_size, (int(n),), generator=g), i % 3) for i, n in enumerate(LENS)]
    return items, pad_collate(items)


@pytest.mark.parametrize('cell,bi,layers', DEPTHS)
def test_packed_equals_unpadded_at_every_real_step(cell, bi, layers):
    torch.manual_seed(0)
    rnn = RNN_CELLS[cell](4, 3, num_layers=layers, batch_first=True, bidirectional=bi)
    x = torch.randn(len(LENS), 6, 4)
    out, _ = run_packed(rnn, x, LENS)
    for b, n in enumerate(LENS.tolist()):
        alone, _ = rnn(x[b:b + 1, :n])  # the same sequence, no padding at all
        torch.testing.assert_close(out[b, :n], alone[0], atol=1e-6, rtol=1e-5)
        assert out[b, n:].abs().max() == 0 if n < 6 else True


@pytest.mark.parametrize('cell,bi,layers', DEPTHS)
def test_model_packed_once_equals_packed_in_forward(cell, bi, layers):
    items, ((tok, lens), _) = _batch()
    (pk, lens2), _ = pack_collate(items)
    torch.manual_seed(0)
    m = RNNSentenceClassifier(RNNSentenceConfig(30, 3, 5, cell, 4, layers, bi)).eval()
    h_pad, _ = m.encode(tok, lens)
    h_pk, _ = m.encode(pk, lens2)
    torch.testing.assert_close(h_pk, h_pad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('cell,bi,layers', DEPTHS)
def test_last_state_at_own_last_step_and_backward_at_first(cell, bi, layers):
    torch.manual_seed(1)
    rnn = RNN_CELLS[cell](4, 3, num_layers=layers, batch_first=True, bidirectional=bi)
    x = torch.randn(len(LENS), 6, 4)
    out, h_n = run_packed(rnn, x, LENS)
    h_n = h_n[0] if cell == 'lstm' else h_n
    final = torch.cat([h_n[-2], h_n[-1]], -1) if bi else h_n[-1]
    z = last_real_state(out, LENS, bi)
    torch.testing.assert_close(z, final, atol=1e-6, rtol=1e-5)
    for b, n in enumerate(LENS.tolist()):
        torch.testing.assert_close(z[b, :3], out[b, n - 1, :3])  # forward: its own last real step
        if bi:
            torch.testing.assert_close(z[b, 3:], out[b, 0, 3:])  # backward: its first step
    naive = rnn(x)[0][:, -1]  # the bug: the last padded step of an unpacked run
    short = LENS < 6
    assert (naive[short] - final[short]).abs().amax(1).min() > 1e-4


@pytest.mark.parametrize('pooling', SENTENCE_POOLINGS)
@pytest.mark.parametrize('bi', [False, True])
def test_every_pooling_ignores_padding(pooling, bi):
    items, ((tok, lens), _) = _batch()
    torch.manual_seed(0)
    m = RNNSentenceClassifier(RNNSentenceConfig(30, 3, 5, 'gru', 4, 1, bi, pooling, attn_dim=4, batch_norm=True)).eval()
    ref = m(tok, lens)
    wider = torch.cat([tok, torch.full((len(tok), 4), 7)], 1)  # garbage ids in the padding, and more of it
    torch.testing.assert_close(m(wider, lens), ref, atol=1e-6, rtol=1e-5)
    for b, n in enumerate(lens.tolist()):
        torch.testing.assert_close(m(tok[b:b + 1, :n], lens[b:b + 1])[0], ref[b], atol=1e-6, rtol=1e-5)
    if pooling == 'attention':
        _, w = m(tok, lens, return_attn=True)
        assert w[torch.arange(6)[None] >= lens[:, None]].abs().max() == 0


def test_unpacked_last_reads_padding():
    items, ((tok, lens), _) = _batch()
    m = RNNSentenceClassifier(RNNSentenceConfig(30, 3, 5, 'rnn', 4, pack=False)).eval()
    wider = torch.cat([tok, torch.zeros(len(tok), 3, dtype=tok.dtype)], 1)
    assert (m(tok, lens) - m(wider, lens)).abs().max() > 1e-4


def _vectors(vocab, dim):
    from gensim.models import KeyedVectors
    kv = KeyedVectors(dim)
    words = [w for w in vocab.itos[2:] if len(w) > 3]  # the others are OOV
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), dim)).astype(np.float32))
    return kv


# every cell x pooling x direction x depth; the three input embeddings take turns (each meets every cell and pooling)
CONFIGS = [(*c, RNN_EMBEDDINGS[i % 3]) for i, c in enumerate(itertools.product(RNN_CELLS, SENTENCE_POOLINGS, (False, True), (1, 2)))]


@pytest.mark.parametrize('cell,pooling,bi,layers,embedding', CONFIGS)
def test_every_configuration_builds_and_trains_one_batch(prep, cell, pooling, bi, layers, embedding):
    torch.manual_seed(0)
    cfg = RNNSentenceConfig(len(prep.vocab), len(prep.classes), 6, cell, 5, layers, bi, pooling, dropout=0.1,
                            batch_norm=layers == 2, embedding=embedding, attn_dim=4)
    m = build_rnn_sentence(cfg, prep.vocab, _vectors(prep.vocab, 6) if embedding != 'random' else None)
    (xb, lens), yb = next(iter(sentence_loaders(prep, bs=8, collate='pack' if bi else 'pad').train))
    emb0 = m.embedding.weight.detach().clone()
    rnn0 = [p.detach().clone() for p in m.rnn.parameters()]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    loss = torch.nn.functional.cross_entropy(m(xb, lens), yb)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any((p - q).abs().max() > 0 for p, q in zip(m.rnn.parameters(), rnn0))
    assert torch.equal(m.embedding.weight, emb0) == (embedding == 'word2vec_frozen')


def test_learner_trains_with_packed_batches(prep):
    learn = train_rnn_sentence(prep, epochs=1, bs=16, collate='pack', batches='bucket', embedding_dim=6, hidden_size=5)
    assert len(learn.history) == 1 and np.isfinite(learn.history['train_loss'].iloc[0])
    preds, targs = learn.get_preds('test')
    assert preds.shape == (len(prep.test), len(prep.classes))
    (pk, lens), yb = next(iter(learn.dls.test))
    assert isinstance(to_device(pk, 'cpu'), PackedSequence)


def test_pack_collate_keeps_order():
    items, ((tok, lens), yb) = _batch()
    (pk, lens2), yb2 = pack_collate(items)
    assert torch.equal(yb, yb2) and torch.equal(lens, lens2)
    assert pk.data.numel() == int(lens.sum())


@pytest.mark.parametrize('field,bad,choice', [('cell', 'transformer', "'lstm'"), ('pooling', 'sum', "'attention'"),
                                              ('embedding', 'glove', "'word2vec_frozen'")])
def test_unknown_name_lists_the_choices(field, bad, choice):
    with pytest.raises(ValueError, match=f"{field}='{bad}' is unknown: use one of .*{choice}"):
        RNNSentenceConfig(**{field: bad})


def test_bad_inputs(prep):
    with pytest.raises(ValueError, match='hidden_size'):
        RNNSentenceConfig(hidden_size=0)
    with pytest.raises(ValueError, match='dropout'):
        RNNSentenceConfig(dropout=1.0)
    with pytest.raises(ValueError, match="'random' or 'bucket'"):
        sentence_loaders(prep, batches='sorted')
    with pytest.raises(ValueError, match="'pad' or 'pack'"):
        sentence_loaders(prep, collate='packed')
    with pytest.raises(ValueError, match="'Adadelta'"):
        train_rnn_sentence(prep, epochs=0, opt='LBFGS')
    with pytest.raises(ValueError, match='needs vectors'):
        build_rnn_sentence(RNNSentenceConfig(len(prep.vocab), embedding='word2vec_finetuned'), prep.vocab)
    with pytest.raises(ValueError, match='set them equal'):
        RNNSentenceClassifier(RNNSentenceConfig(30, embedding_dim=8), torch.nn.Embedding(30, 4))
    with pytest.raises(ValueError, match='length of 0'):
        RNNSentenceClassifier(RNNSentenceConfig(30, embedding_dim=4, hidden_size=3))(torch.zeros(2, 3, dtype=torch.long))


def test_results_table_names_the_data():
    df = rnn_sentence_results({'ours': {'our test': '0.9'}, 'anchor': {'report test': '0.94'}}, 'generated sample (seed 0)')
    assert df.loc['ours', 'our data'] == 'generated sample (seed 0)'
    assert df.loc['anchor', 'our data'] == ''


# ---------------------------------------------------------------- inputs checked where they enter

def test_prepare_sentences_max_len_and_splits(prep):
    from dataclasses import replace
    data = load_trec(quick=True, n=200, seed=0, verbose=False)
    short = prepare_sentences(data, max_len=4)
    assert max(short.train.lengths) == 4 and max(short.test.lengths) <= 4
    assert all(len(t) <= 4 for t in short.token_lists)
    with pytest.raises(ValueError, match=r"data\.valid is None: .*stratified_split"):
        prepare_sentences(replace(data, valid=None))
    with pytest.raises(ValueError, match=r"data\.test is None"):
        prepare_sentences(replace(data, test=None))
    with pytest.raises(ValueError, match=r"data\.valid is empty"):
        prepare_sentences(replace(data, valid=data.valid[:0]))
    with pytest.raises(ValueError, match=r'labels go up to 5|labels 0\.\.5, outside the 3 classes'):  # TaskData itself refuses it now
        prepare_sentences(replace(data, classes=data.classes[:3]))
    with pytest.raises(ValueError, match='max_len'):
        prepare_sentences(data, max_len=0)


@pytest.mark.parametrize('kw,msg', [(dict(vocab_size=30, padding_idx=30), 'pass vocab.pad_idx'),
                                    (dict(n_classes=1), 'at least 2 classes'),
                                    (dict(dropout='0.1'), 'dropout'),
                                    (dict(bidirectional=1), 'True or False')])
def test_config_refuses_impossible_settings(kw, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        RNNSentenceConfig(**kw)


def test_classifier_refuses_lengths_that_do_not_fit():
    m = RNNSentenceClassifier(RNNSentenceConfig(30, 3, 4, 'gru', 3)).eval()
    x = torch.randint(2, 30, (2, 5))
    with pytest.raises(ValueError, match='lengths go up to 7 but x has only 5 steps'):
        m(x, torch.tensor([7, 5]))
    with pytest.raises(ValueError, match='lengths has 3 entries but x holds 2 sequences'):
        m(x, torch.tensor([5, 4, 3]))
    with pytest.raises(ValueError, match='integer dtype'):
        m(x.float(), torch.tensor([5, 4]))
    with pytest.raises(ValueError, match='lengths go up to 9 but h has only 6 steps'):
        last_real_state(torch.randn(2, 6, 4), torch.tensor([9, 2]))
    with pytest.raises(ValueError, match='even width'):
        last_real_state(torch.randn(2, 6, 3), torch.tensor([6, 2]), bidirectional=True)


def test_helpers_check_their_arguments(prep):
    with pytest.raises(ValueError, match='pack_collate got an empty batch'):
        pack_collate([])
    with pytest.raises(ValueError, match='bs must be'):
        sentence_loaders(prep, bs=0)
    with pytest.raises(ValueError, match='clip must be a gradient norm > 0'):
        regulariser_cbs(clip=0)
    with pytest.raises(ValueError, match='l1 must be'):
        regulariser_cbs(l1=-1e-3)
    with pytest.raises(ValueError, match='patience must be'):
        regulariser_cbs(patience=0)
    with pytest.raises(ValueError, match='epochs must be'):
        train_rnn_sentence(prep, epochs=-1)
    with pytest.raises(ValueError, match='lr must be'):
        train_rnn_sentence(prep, epochs=0, lr=0)
    with pytest.raises(ValueError, match='vocab_size=len'):
        build_rnn_sentence(RNNSentenceConfig(len(prep.vocab) + 1), prep.vocab)
    with pytest.raises(ValueError, match='non-empty dict'):
        compare_over_seeds(prep, {})
    with pytest.raises(ValueError, match='seeds is empty'):
        compare_over_seeds(prep, {'a': {}}, seeds=[])
    with pytest.raises(ValueError, match='not columns'):
        rnn_sentence_results({'ours': {'our tset': '0.9'}}, 'x')
    with pytest.raises(ValueError, match='non-empty'):
        plot_grad_norms([])


def test_comparisons_read_validation(prep):
    runs = compare_over_seeds(prep, {'a': {}, 'b': dict(hidden_size=3)}, seeds=[0, 1], epochs=1, bs=32, embedding_dim=4, hidden_size=4)
    assert set(runs.attrs['grad_norms']) == {(v, s) for v in 'ab' for s in (0, 1)}
    steps = len(sentence_loaders(prep, bs=32).train)
    assert all(len(n) == steps for n in runs.attrs['grad_norms'].values())  # one norm per step of the one epoch
    assert 'test acc' not in mean_std_table(runs).columns
    nc = noise_check(runs, 'a')
    np.testing.assert_allclose(nc['mean'].values, runs.groupby('variant')['valid acc'].mean().values)
    with pytest.raises(ValueError, match="lacks the columns"):
        mean_std_table(runs, cols=('valid F1',))
    with pytest.raises(ValueError, match="needs the columns 'variant' and 'test F1'"):
        noise_check(runs, 'a', 'test F1')


# ---- exercises: each check passes the worked solution, fails a typical wrong answer without giving the solution away ----

import re

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqlab.embeddings import lookup_vector
from seqlab.exercises import EXERCISES, check


def final_states(rnn, x, lengths):
    _, h_n = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    return torch.cat([h_n[-2], h_n[-1]], -1) if rnn.bidirectional else h_n[-1]


def pooled_batches(lengths, bs, pool_size, seed, sort=True):
    rng, lengths = np.random.default_rng(seed), np.asarray(lengths)
    order, batches = rng.permutation(len(lengths)), []
    for i in range(0, len(order), pool_size):
        pool = order[i:i + pool_size]
        pool = pool[np.argsort(lengths[pool], kind='stable')] if sort else pool
        batches += [pool[j:j + bs].tolist() for j in range(0, len(pool), bs)]
    return [batches[k] for k in rng.permutation(len(batches))]


def reverse_padded(x, lengths):
    t, L = torch.arange(x.shape[1])[None], lengths[:, None]
    idx = torch.where(t < L, L - 1 - t, t)
    return x.gather(1, idx.view(*idx.shape, *[1] * (x.dim() - 2)).expand_as(x))


class TwoHeads(nn.Module):
    def __init__(self, n_in, n_coarse, n_fine):
        super().__init__()
        self.coarse, self.fine = nn.Linear(n_in, n_coarse), nn.Linear(n_in, n_fine)

    def forward(self, z):
        return self.coarse(z), self.fine(z)


class TwoHeadRNN(RNNSentenceClassifier):
    def __init__(self, cfg, n_fine):
        super().__init__(cfg)
        self.head = TwoHeads(self.head.in_features, cfg.n_classes, n_fine)


def lookup_digits(kv, token, one_per_number=False):
    vec, how = lookup_vector(kv, token)
    if vec is not None or not any(c.isdigit() for c in token):
        return vec, how
    vec, _ = lookup_vector(kv, re.sub(r'\d+', '#', token) if one_per_number else re.sub(r'\d', '#', token))
    return (vec, 'digits') if vec is not None else (None, 'oov')


def test_topic_14_registers_six_exercises():
    check('14.1', None, quiet=True)  # imports seqlab.rnn_sentence's checks
    assert sorted(k for k in EXERCISES if k.startswith('14.')) == [f'14.{i}' for i in range(1, 7)]


@pytest.mark.parametrize('key', [f'14.{i}' for i in range(1, 7)])
def test_exercise_14_not_attempted(key):
    r = check(key, None, quiet=True)
    assert r.status == 'not attempted' and not r


def test_exercise_14_stub_class_is_not_attempted():
    class Stub(RNNSentenceClassifier):
        def __init__(self, cfg, n_fine):
            super().__init__(cfg)
            raise NotImplementedError
    assert check('14.4', Stub, quiet=True).status == 'not attempted'


def test_exercise_14_1_final_states():
    assert check('14.1', final_states, quiet=True)
    r = check('14.1', lambda rnn, x, lengths: rnn(x)[0][:, -1], quiet=True)  # the last padded step
    assert not r and r.status == 'checked' and len(r.failed) == 4
    assert 'rows of length [2, 4, 1]' in r.failed[0].detail and 'read padding' in r.failed[0].detail
    assert 'pack_padded_sequence' not in str(r) and 'h_n[-1]' not in str(r)
    r = check('14.1', lambda rnn, x, lengths: final_states(rnn, x, lengths)[:, :3], quiet=True)  # one direction only
    assert not r and 'shape (B, D*H)' in r.failed[0].label and 'expected (4, 6)' in r.failed[0].detail


def test_exercise_14_2_pooled_batches():
    assert check('14.2', pooled_batches, quiet=True)
    r = check('14.2', lambda *a: pooled_batches(*a, sort=False), quiet=True)  # no sort within the pools
    assert not r and r.failed[0].label.startswith('pools of 128: less padding than random batches')
    assert 'random batches give about' in r.failed[0].detail and 'argsort' not in str(r)

    r = check('14.2', lambda l, bs, p, s: sorted(pooled_batches(l, bs, p, s), key=lambda b: int(np.asarray(l)[b].max())), quiet=True)
    assert not r and [v.label for v in r.failed] == ['the batch order is shuffled (batches do not come shortest first)']


def test_exercise_14_3_reverse_padded():
    assert check('14.3', reverse_padded, quiet=True)
    r = check('14.3', lambda x, lengths: x.flip(1), quiet=True)
    assert not r and 'rows of length [2, 4, 1]' in r.failed[0].detail
    assert "the backward direction's final state" in r.failed[-1].label and 'gather' not in str(r)


def test_exercise_14_4_two_heads():
    assert check('14.4', TwoHeadRNN, quiet=True)

    class OwnFineModel(RNNSentenceClassifier):  # the fine head shares nothing and reads the padding
        def __init__(self, cfg, n_fine):
            super().__init__(cfg)
            self.bag = nn.EmbeddingBag(cfg.vocab_size, n_fine)

        def forward(self, x, lengths=None):
            return super().forward(x, lengths), self.bag(x)
    r = check('14.4', OwnFineModel, quiet=True)
    assert not r and {v.label for v in r.failed} >= {'3 more padding columns change neither head', 'the fine loss trains the shared RNN'}
    assert 'same sentence vector' in str(r)
    r = check('14.4', RNNSentenceClassifier, quiet=True)  # forgot the second head (n_fine lands in the embedding)
    assert r.status == 'error' or not r


def test_exercise_14_5_lookup_digits():
    assert check('14.5', lookup_digits, quiet=True)
    r = check('14.5', lambda kv, t: lookup_digits(kv, t, one_per_number=True), quiet=True)
    assert not r and {v.label for v in r.failed} == {"'1990' is found, how = 'digits'", "'10th' is found, how = 'digits'",
                                                     "'b-52' is found, how = 'digits'"}
    assert "every digit as '#'" in r.failed[0].detail and '####' not in str(r)
    r = check('14.5', lookup_vector, quiet=True)  # no digits fallback at all
    assert not r and len(r.failed) == 4


def test_exercise_14_6_match_or_beat():
    make = lambda v, c: RNNSentenceClassifier(RNNSentenceConfig(v, c, 16, 'lstm', 32, bidirectional=True))
    r = check('14.6', make, quiet=True)
    assert r and 'our BiGRU' in r.verdicts[-1].detail
    r = check('14.6', lambda v, c: RNNSentenceClassifier(RNNSentenceConfig(v, c, 16, 'gru', 16, bidirectional=True, pack=False)), quiet=True)
    assert not r and r.failed[0].label == '3 more padding columns change nothing' and 'pack' in r.failed[0].detail
    assert len(r.verdicts) == 4  # nothing trained for a model that cannot pass
    r = check('14.6', lambda v, c: RNNSentenceClassifier(RNNSentenceConfig(v, c, 16, 'rnn', 16, pooling='mean')), quiet=True)
    assert not r and r.failed[-1].label.startswith('mean validation accuracy') and 'yours' in r.failed[-1].detail
    r = check('14.6', lambda v, c: RNNSentenceClassifier(RNNSentenceConfig(v, c, 16, 'gru', 16, bidirectional=True)), quiet=True)
    assert not r and [v.label for v in r.failed] == ['is not our modification itself']
    r = check('14.6', lambda v, c: RNNSentenceClassifier(RNNSentenceConfig(v, c, 64, 'gru', 64, bidirectional=True, pooling='max')), quiet=True)
    assert not r and "at most 2 x our modification's parameters" in r.failed[0].label
