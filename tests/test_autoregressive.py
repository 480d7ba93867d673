"""Generation rules, bad inputs and batching invariants of seqlab.autoregressive."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st

from seqlab.autoregressive import (CharLSTM, CharLSTMConfig, CharVocab, EqualLengthSampler, LMDataset,
                                   checkpoint_validity, counting_unit, cell_trace, depth_along, lm_collate,
                                   lm_dataloaders, load_weights, long_prefix_validity, random_prefixes,
                                   sample_table, split_sample, validity)
from seqlab.datasets import brackets, is_balanced, is_ndfa, ndfa

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def vocab():
    return CharVocab.build(ndfa(200, seed=0))


@pytest.fixture(scope='module')
def model(vocab):
    torch.manual_seed(0)
    return CharLSTM(CharLSTMConfig(len(vocab), embedding_dim=8, hidden_size=8), vocab)


# --- vocabulary ----------------------------------------------------------------------------------

def test_vocab_specials_and_roundtrip(vocab):
    assert (vocab.pad_idx, vocab.start_idx, vocab.end_idx) == (0, 1, 2)
    assert vocab.itos[:3] == ['<pad>', '.start', '.end']
    ids = vocab.encode('sabc!s')
    assert ids[0] == vocab.start_idx and ids[-1] == vocab.end_idx
    assert vocab.decode(ids) == '.startsabc!s.end'
    assert vocab.encode('sabc!s', start=False, end=False) == [vocab.stoi[c] for c in 'sabc!s']
    assert vocab.tokenize('.startss.end') == ['.start', 's', 's', '.end']


def test_vocab_rejects_unknown_and_bad_ids(vocab):
    with pytest.raises(ValueError, match="unknown character 'z' at position 1"):
        vocab.encode('sz')
    with pytest.raises(IndexError, match=r'\[999\] are not token ids'):
        vocab.decode([0, 1, 999])
    with pytest.raises(IndexError, match='pass integer ids'):
        vocab.decode(torch.tensor([1.0, 3.7]))  # float ids are not truncated silently
    with pytest.raises(ValueError, match='single characters'):
        CharVocab(['ab', 'c'])
    with pytest.raises(TypeError, match='expected a str'):
        vocab.tokenize(['s'])


# --- generation -----------------------------------------------------------------------------------

def _new_tokens(vocab, prefix, sample):
    full = prefix if prefix.startswith(vocab.start) else vocab.start + prefix
    assert sample.startswith(full)
    return vocab.tokenize(sample[len(full):])


@pytest.mark.parametrize('temperature,top_k', [(1.0, None), (3.0, None), (0.5, 3), (1.0, 1)])
def test_generate_stops_at_end_and_respects_max_new_tokens(model, vocab, temperature, top_k):
    torch.manual_seed(1)
    prefixes = ['.start', 's', 'sabc!', 'sklm!klm!kl'] * 50
    for max_new in (0, 1, 5, 40):
        samples = model.generate(prefixes, max_new, temperature=temperature, top_k=top_k)
        assert len(samples) == len(prefixes)
        for p, s in zip(prefixes, samples):
            new = _new_tokens(vocab, p, s)
            assert len(new) <= max_new
            assert vocab.end not in new[:-1], f'token after .end in {s!r}'
            assert vocab.start not in new and vocab.pad not in new
            if len(new) < max_new:  # stopped early: only because it drew .end
                assert new and new[-1] == vocab.end


def test_generate_never_emits_after_end_even_when_end_is_likely(vocab):
    torch.manual_seed(0)
    m = CharLSTM(CharLSTMConfig(len(vocab), 8, 8), vocab)
    with torch.no_grad():  # make .end the most likely token everywhere
        m.head.bias.zero_()
        m.head.bias[vocab.end_idx] = 3.0
    samples = m.generate(['.start'] * 300 + ['sabc!'] * 300, 30)
    ends = [s.count(vocab.end) for s in samples]
    assert all(e <= 1 for e in ends)
    assert all(s.endswith(vocab.end) for s in samples if vocab.end in s)
    assert sum(ends) > 200  # .end was actually drawn, and nothing followed it


def test_generate_single_prefix_returns_str(model):
    torch.manual_seed(0)
    s = model.generate('sab', 10)
    assert isinstance(s, str) and s.startswith('.startsab')
    assert model.generate('.start', 0) == '.start'


def test_generate_batch_matches_prefix_lengths(model, vocab):
    """Prefixes of different lengths in one batch are each kept intact."""
    torch.manual_seed(0)
    prefixes = ['s', 'suvw!uvw!uvw!uvw!uvw!', '.startsk']
    for p, s in zip(prefixes, model.generate(prefixes, 3)):
        _new_tokens(vocab, p, s)


def test_generate_greedy_is_deterministic(model):
    a = model.generate(['.start', 'sa'], 15, top_k=1)
    b = model.generate(['.start', 'sa'], 15, top_k=1)
    assert a == b


@pytest.mark.parametrize('prefix,msg', [
    ('', 'empty prefix'),
    ('sxq', "unknown character 'x'"),
    ('s.start', "may only open the prefix"),
    ('ss.end', 'finished string'),
])
def test_generate_rejects_bad_prefixes(model, prefix, msg):
    with pytest.raises(ValueError, match=msg):
        model.generate(prefix, 5)
    with pytest.raises(ValueError, match=msg):
        model.generate(['s', prefix], 5)


def test_generate_rejects_bad_arguments(model):
    with pytest.raises(ValueError, match='no prefixes'):
        model.generate([], 5)
    with pytest.raises(TypeError, match='must be a str'):
        model.generate([['s']], 5)
    for bad in (-1, 2.5, None, True):
        with pytest.raises(ValueError, match='max_new_tokens'):
            model.generate('s', bad)
    for bad in (0, -1.0, float('nan'), float('inf'), 'hot'):
        with pytest.raises(ValueError, match='temperature'):
            model.generate('s', 5, temperature=bad)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match='top_k'):
            model.generate('s', 5, top_k=bad)


def test_generate_restores_training_mode(model):
    model.train()
    model.generate('s', 3)
    assert model.training
    model.eval()
    model.generate('s', 3)
    assert not model.training


def test_forward_shapes_and_loss(model, vocab):
    x = torch.randint(3, len(vocab), (4, 7))
    logits, loss = model(x)
    assert logits.shape == (4, 7, len(vocab)) and loss is None
    logits, loss = model(x, targets=x)
    assert loss.ndim == 0 and math.isfinite(loss.item())


def test_config_must_match_vocab(vocab):
    with pytest.raises(ValueError, match='vocab_size'):
        CharLSTM(CharLSTMConfig(len(vocab) + 1), vocab)


# --- batching -------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 60), min_size=1, max_size=300),
       max_tokens=st.integers(1, 500), seed=st.integers(0, 100), shuffle=st.booleans())
def test_equal_length_batches_cover_every_item_once_within_budget(lengths, max_tokens, seed, shuffle):
    sampler = EqualLengthSampler(lengths, max_tokens, shuffle=shuffle, seed=seed)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every item exactly once
    for b in batches:
        assert len({lengths[i] for i in b}) == 1  # one length per batch: no padding
        assert len(b) * lengths[b[0]] <= max_tokens or len(b) == 1  # within budget (an over-long item goes alone)
    # batches are as full as the budget allows: at most one partial batch per length
    per_len = {}
    for b in batches:
        per_len.setdefault(lengths[b[0]], []).append(len(b))
    for l, sizes in per_len.items():
        cap = max(1, max_tokens // l)
        assert sum(s < cap for s in sizes) <= 1


def test_equal_length_sampler_epochs_repeat_for_a_seed_and_differ():
    lengths = np.random.default_rng(0).integers(2, 30, 500)
    a, b = EqualLengthSampler(lengths, 200, seed=3), EqualLengthSampler(lengths, 200, seed=3)
    a.set_epoch(0)
    e0 = list(a)
    a.set_epoch(1)
    e1 = list(a)
    assert e0 == list(b)
    assert e0 != e1  # a new order each epoch
    assert len(a) == len(e0)


def test_equal_length_sampler_rejects_bad_budget():
    for bad in (0, -5, 2.5, None):
        with pytest.raises(ValueError, match='max_tokens'):
            EqualLengthSampler([3, 4], bad)


def test_lm_dataset_and_collate(vocab):
    ds = LMDataset(['ss', 'sabc!s', 'suvw!s'], vocab)
    x, y = ds[1]
    assert torch.equal(x[1:], y[:-1]) and x[0] == vocab.start_idx and y[-1] == vocab.end_idx
    assert ds.lengths == [3, 7, 7]
    xb, yb = lm_collate([ds[1], ds[2]])
    assert xb.shape == yb.shape == (2, 7)
    with pytest.raises(ValueError, match='one length'):
        lm_collate([ds[0], ds[1]])


def test_lm_dataloaders_budget_and_no_padding():
    train, valid = brackets(400, seed=0), brackets(50, seed=1)
    dls = lm_dataloaders(train, valid, max_tokens=300, seed=0)
    n = 0
    for xb, yb in dls.train:
        assert xb.numel() <= 300 or xb.size(0) == 1
        assert (xb != 0).all() and (yb != 0).all()  # no <pad> anywhere
        n += xb.size(0)
    assert n == len(train)


# --- validity helpers -----------------------------------------------------------------------------

def test_split_sample_and_random_prefixes():
    v = CharVocab('()')
    assert split_sample('.start(()).end', v) == ('(())', True)
    assert split_sample('.start(()', v) == ('(()', False)
    with pytest.raises(TypeError):
        split_sample('.start()')  # the vocabulary is a required argument, not a class default
    strings = ndfa(100, seed=0)
    ps = random_prefixes(strings, 50, seed=0)
    assert len(ps) == 50 and all(ps)
    assert all(any(s.startswith(p) and len(p) < len(s) for s in strings) for p in ps)
    assert ps == random_prefixes(strings, 50, seed=0)
    with pytest.raises(ValueError, match='no strings'):
        random_prefixes([], 3)


def test_sample_table_judges_samples(model):
    torch.manual_seed(0)
    df = sample_table(model, ['s'] * 20, is_ndfa, max_new_tokens=10)
    assert list(df.columns) == ['prefix', 'sample', 'string', 'ended', 'valid', 'length']
    assert not (df.valid & ~df.ended).any()  # unfinished samples are never valid
    for r in df.itertuples():
        assert r.valid == (r.ended and is_ndfa(r.string))


def test_validity_table_shape(model):
    tab = validity(model, ndfa(50, seed=0), is_ndfa, n=20, temperatures=(0.5, 1.0), max_new_tokens=10)
    assert len(tab) == 4 and set(tab.source) == {'prefix', 'start'}
    assert tab.valid.between(0, 1).all()


def test_depth_along():
    assert depth_along('') == []
    assert depth_along('(()())') == [1, 2, 1, 2, 1, 0]


def test_checkpoints_and_counting(tmp_path):
    v = CharVocab('()')
    torch.manual_seed(0)
    m = CharLSTM(CharLSTMConfig(len(v), 8, 8), v)
    path = tmp_path / 'w.pt'
    torch.save({'model': m.state_dict()}, path)
    w = m.embedding.weight.detach().clone()
    tab = checkpoint_validity(m, {1: path}, brackets(30, seed=0), is_balanced, n=10)
    assert list(tab.checkpoint) == [1] and torch.equal(m.embedding.weight, w)  # model untouched
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        load_weights(m, tmp_path / 'nope.pt')
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        load_weights(m, tmp_path)  # a folder is not a checkpoint
    cells = cell_trace(m, ['(())', '()'])
    assert [c.shape for c in cells] == [(4, 8), (2, 8)]
    assert torch.allclose(cells[1], cell_trace(m, '()'), atol=1e-6)  # batching does not change the states
    unit, corr = counting_unit(m, ['(())', '()()', '((()))'])
    assert 0 <= unit < 8 and -1 <= corr <= 1
    long = long_prefix_validity(m, pairs=(2, 4), n=5, max_new_tokens=10)
    assert list(long.pairs) == [2, 4] and list(long.length) == [4, 8] and long.valid.between(0, 1).all()


# --- training hooks and plots ---------------------------------------------------------------------

def test_fit_char_lm_trains_and_checkpoints(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from seqlab.autoregressive import fit_char_lm, plot_counting, plot_length_depth
    train, valid = brackets(300, seed=0), brackets(50, seed=1)
    dls = lm_dataloaders(train, valid, max_tokens=400, seed=0)
    learn = fit_char_lm(dls, 2, seed=0, embedding_dim=8, hidden_size=8, ckpt=tmp_path / 'ep{epoch}.pt')
    h = learn.history
    assert len(h) == 2 and h.train_loss.iloc[-1] < h.train_loss.iloc[0]  # it learns
    assert sorted(f.name for f in tmp_path.glob('ep*.pt')) == ['ep1.pt', 'ep2.pt']  # epochs count from 1
    m = learn.model
    load_weights(m, tmp_path / 'ep1.pt')
    for fig in (plot_length_depth(train, ['()', '(())']), plot_counting('(())', cell_trace(m, '(())'), 0)):
        assert isinstance(fig, plt.Figure)
        plt.close(fig)


# --- nothing half-loaded, nothing silent -----------------------------------------------------------

def test_load_weights_of_another_shape_changes_nothing(tmp_path):
    v = CharVocab('()')
    torch.manual_seed(0)
    small, big = CharLSTM(CharLSTMConfig(len(v), 8, 8), v), CharLSTM(CharLSTMConfig(len(v), 8, 9), v)
    torch.save({'model': small.state_dict()}, tmp_path / 'small.pt')  # embedding fits, the LSTM does not
    before = {k: t.clone() for k, t in big.state_dict().items()}
    with pytest.raises(ValueError, match='(?i)nothing was loaded'):
        load_weights(big, tmp_path / 'small.pt')
    assert all(torch.equal(before[k], t) for k, t in big.state_dict().items())  # bit for bit unchanged


def test_load_weights_names_missing_and_unexpected_keys(tmp_path):
    v = CharVocab('()')
    m = CharLSTM(CharLSTMConfig(len(v), 8, 8), v)
    state = m.state_dict()
    state['extra.weight'] = torch.zeros(1)
    del state['head.bias']
    torch.save(state, tmp_path / 'bare.pt')  # a bare state dict works as well as Learner.save's
    with pytest.raises(ValueError, match=r"missing keys 'head.bias'.*unexpected keys 'extra.weight'"):
        load_weights(m, tmp_path / 'bare.pt')
    torch.save([1, 2], tmp_path / 'list.pt')
    with pytest.raises(TypeError, match='holds a list, not a checkpoint'):
        load_weights(m, tmp_path / 'list.pt')
    torch.save(m.state_dict(), tmp_path / 'good.pt')
    assert load_weights(m, tmp_path / 'good.pt') is m


@pytest.mark.parametrize('kw, msg', [(dict(vocab_size=0), 'vocab_size'), (dict(hidden_size=0), 'hidden_size'),
                                     (dict(embedding_dim=2.5), 'embedding_dim'), (dict(num_layers=True), 'num_layers'),
                                     (dict(dropout=1.0), 'dropout'), (dict(dropout=-0.1), 'dropout'),
                                     (dict(padding_idx=7), 'padding_idx')])
def test_bad_config_sizes_are_clear_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        CharLSTMConfig(**{'vocab_size': 5, **kw})


def test_tiny_temperature_is_greedy_not_an_overflow(model):
    prefixes = ['s', 'sab', 'sklm!']
    greedy = model.generate(prefixes, 12, top_k=1)
    for t in (1e-3, 1e-30, 1e-300):
        assert model.generate(prefixes, 12, temperature=t) == greedy


def test_broken_weights_are_a_clear_error(vocab):
    m = CharLSTM(CharLSTMConfig(len(vocab), 8, 8), vocab)
    with torch.no_grad():
        m.head.bias.fill_(float('nan'))
    with pytest.raises(ValueError, match='not finite'):
        m.generate('s', 5)


def test_model_inputs_are_checked(model, vocab):
    x = torch.tensor([vocab.encode('sabc!s')])  # (1, T)
    with pytest.raises(ValueError, match=r'for one sequence pass idx\[None\]'):
        model(x[0])
    with pytest.raises(ValueError, match='integer tensor'):
        model(x.float())
    with pytest.raises(IndexError, match=f'0..{len(vocab) - 1}'):
        model(x + len(vocab))
    with pytest.raises(IndexError, match="model's vocabulary"):
        model(x - 3)
    with pytest.raises(ValueError, match='one id per row'):
        model.step(x)
    assert model(x)[0].shape == (1, x.shape[1], len(vocab))


def test_sampler_batches_depend_on_the_epoch_set_not_on_iterations():
    lengths = np.random.default_rng(0).integers(2, 30, 500)
    s = EqualLengthSampler(lengths, 200, seed=3)
    s.set_epoch(4)
    assert list(s) == [list(map(int, b)) for b in s.batches(4)]
    s.set_epoch(4)
    assert list(s) == [list(map(int, b)) for b in EqualLengthSampler(lengths, 200, seed=3).batches(4)]


def test_mean_std_over_seeds():
    from seqlab.autoregressive import mean_std, seed_validity
    df = pd.DataFrame({'seed': [0, 1, 2, 0, 1, 2], 'k': ['a'] * 3 + ['b'] * 3, 'v': [0.2, 0.4, 0.6, 1.0, 1.0, 1.0]})
    out = mean_std(df, 'k', ['v'])
    assert list(out.columns) == ['v', 'v std', 'seeds']
    assert np.allclose(out['v'], [0.4, 1.0]) and np.allclose(out['v std'], [0.2, 0.0]) and list(out.seeds) == [3, 3]


# --- inputs checked at the boundary ----------------------------------------------------------------

def test_prefixes_and_batches_refuse_empty_inputs(model):
    with pytest.raises(ValueError, match=r"strings\[0\] is ''"):
        random_prefixes([''], 3)  # an empty string has no prefix to cut
    with pytest.raises(ValueError, match=r"strings\[1\] is ''"):
        random_prefixes(['()', ''], 3)
    for bad in (-1, 2.5, None, True):
        with pytest.raises(ValueError, match='n must be an int >= 0'):
            random_prefixes(['()'], bad)
    assert random_prefixes(['()'], 0) == []
    with pytest.raises(ValueError, match='empty batch'):
        lm_collate([])
    with pytest.raises(ValueError, match='texts is empty'):
        cell_trace(model, [])
    with pytest.raises(ValueError, match='no strings'):
        validity(model, [], is_ndfa, n=5)
    with pytest.raises(ValueError, match='n must be an int >= 1'):
        validity(model, ['ss'], is_ndfa, n=0)
    with pytest.raises(ValueError, match='temperatures is empty'):
        validity(model, ['ss'], is_ndfa, n=5, temperatures=())
    with pytest.raises(ValueError, match='train has no strings'):
        lm_dataloaders([], ['()'])
    with pytest.raises(ValueError, match='at least one character'):
        CharVocab([])
    with pytest.raises(TypeError, match='a sample is a str'):
        split_sample(None, CharVocab('()'))
    with pytest.raises(TypeError, match='depth_along reads a str'):
        depth_along(None)


def test_seed_and_checkpoint_helpers_check_their_inputs(model, tmp_path):
    from seqlab.autoregressive import mean_std, seed_validity, validity_by_prefix_length
    with pytest.raises(ValueError, match='non-empty dict'):
        seed_validity({}, ['ss'], is_ndfa, n=5)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['seed'\]"):
        mean_std(pd.DataFrame({'k': ['a'], 'v': [1.0]}), 'k', ['v'])
    with pytest.raises(ValueError, match='non-empty dict'):
        checkpoint_validity(model, {}, ['ss'], is_ndfa, n=5)
    with pytest.raises(ValueError, match='non-empty dict'):
        validity_by_prefix_length(model, {}, ['s'], is_ndfa)
    v = CharVocab('()')
    m = CharLSTM(CharLSTMConfig(len(v), 8, 8), v)
    for bad in ([], [0], [3, -1], [2.5]):
        with pytest.raises(ValueError, match='pairs must be'):
            long_prefix_validity(m, pairs=bad, n=3)
    with pytest.raises(ValueError, match='n must be an int >= 1'):
        long_prefix_validity(m, pairs=[2], n=0)


def test_empty_samples_are_invalid_and_counted_apart():
    """A model that draws .end at once writes empty strings: they are not in the language, and `empty` counts them."""
    v = CharVocab('()')
    torch.manual_seed(0)
    m = CharLSTM(CharLSTMConfig(len(v), 8, 8), v)
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.fill_(-30.0)
        m.head.bias[v.end_idx] = 30.0  # .end always
    tab = validity(m, brackets(20, seed=0), is_balanced, n=30).set_index('source')
    assert tab.loc['start', 'empty'] == 1.0 and tab.loc['start', 'valid'] == 0.0
    assert tab.loc['prefix', 'empty'] == 0.0  # a prefix already has characters


def test_cell_trace_reads_gru_and_rnn_states():
    """Exercise 2 swaps the LSTM for a GRU or an Elman RNN, whose state is `h` alone."""
    v = CharVocab('()')
    torch.manual_seed(0)
    for rnn in (torch.nn.GRU(8, 6, batch_first=True), torch.nn.RNN(8, 6, batch_first=True), torch.nn.GRU(8, 6, 2, batch_first=True)):
        m = CharLSTM(CharLSTMConfig(len(v), 8, 6), v)
        m.lstm = rnn
        cells = cell_trace(m, ['(())', '()'])
        assert [tuple(c.shape) for c in cells] == [(4, 6), (2, 6)]
        # the traced state is the last layer's hidden state after each character
        out, _ = rnn(m.embedding(torch.tensor([v.encode('(())', end=False)])))
        assert torch.allclose(cells[0], out[0, 1:], atol=1e-6)
        unit, corr = counting_unit(m, ['(())', '()()'])
        assert 0 <= unit < 6


def test_samples_cb_records_every_epoch_and_leaves_training_alone(tmp_path):
    from seqlab.autoregressive import SamplesCB, fit_char_lm, new_char_lm
    train, valid = brackets(200, seed=0), brackets(30, seed=1)
    dls = lambda: lm_dataloaders(train, valid, max_tokens=400, seed=0)
    cb = SamplesCB('(', is_balanced, n=4, max_new_tokens=20)
    with_cb = fit_char_lm(dls(), 2, seed=0, embedding_dim=8, hidden_size=8, cbs=[cb])
    without = fit_char_lm(dls(), 2, seed=0, embedding_dim=8, hidden_size=8)
    assert [r['epochs trained'] for r in cb.rows] == [1, 2] and all(0 <= r['valid'] <= 4 for r in cb.rows)
    assert all(torch.equal(a, b) for a, b in zip(with_cb.model.state_dict().values(), without.model.state_dict().values()))
    m0 = new_char_lm(with_cb.model.vocab, seed=0, embedding_dim=8, hidden_size=8)  # the untrained start of fit_char_lm
    assert torch.equal(m0.embedding.weight, new_char_lm(with_cb.model.vocab, 0, 8, 8).embedding.weight)
    with pytest.raises(ValueError, match='n must be an int >= 1'):
        SamplesCB('(', is_balanced, n=0)
    with pytest.raises(TypeError, match='lm_dataloaders'):
        fit_char_lm(object(), 1)


def test_validity_by_prefix_length_uses_the_same_prefixes(tmp_path):
    from seqlab.autoregressive import validity_by_prefix_length
    v = CharVocab('()')
    torch.manual_seed(0)
    m = CharLSTM(CharLSTMConfig(len(v), 8, 8), v)
    torch.save({'model': m.state_dict()}, tmp_path / 'w.pt')
    pre = random_prefixes(brackets(100, seed=0), 80, seed=0)
    tab = validity_by_prefix_length(m, {'a': tmp_path / 'w.pt', 'b': tmp_path / 'w.pt'}, pre, is_balanced, max_new_tokens=30)
    a, b = tab[tab.checkpoint == 'a'].reset_index(drop=True), tab[tab.checkpoint == 'b'].reset_index(drop=True)
    assert a.drop(columns='checkpoint').equals(b.drop(columns='checkpoint'))  # same weights, same prefixes, same seed
    assert a.samples.sum() == len(pre)
    with pytest.raises(ValueError, match='increasing edges'):
        validity_by_prefix_length(m, {'a': tmp_path / 'w.pt'}, pre, is_balanced, bins=(4, 2))


def test_plot_counting_checks_its_cells():
    from seqlab.autoregressive import plot_counting
    with pytest.raises(ValueError, match=r'\(len\(text\), H\) = \(4, H\)'):
        plot_counting('(())', torch.zeros(3, 5), 0)
    with pytest.raises(ValueError, match='unit 7 does not exist'):
        plot_counting('(())', torch.zeros(4, 5), 7)


def test_vocab_and_dataset_inputs():
    with pytest.raises(TypeError, match='wrap a single string in a list'):
        CharVocab.build('(())')
    with pytest.raises(TypeError, match='list of str'):
        CharVocab.build(['()', 3])
    with pytest.raises(TypeError, match='vocab must be a CharVocab'):
        LMDataset(['()'], None)


# ---- Exercises 17.1-17.5: each check passes a correct answer, fails a typical wrong one with a message that says what is
# wrong without giving the answer away, and reports None or a stub as not attempted.
import copy  # noqa: E402
import json  # noqa: E402
from itertools import product  # noqa: E402
from pathlib import Path  # noqa: E402

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from seqlab.autoregressive import fit_char_lm, new_char_lm  # noqa: E402
from seqlab.exercises import EXERCISES, check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _details(r) -> str:
    return ' | '.join(f'{v.label}: {v.detail}' for v in r.failed)


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.fixture(scope='module')
def small_run(tmp_path_factory):
    "A 4-unit bracket LSTM trained by the notebook's recipe (50 epochs), with its checkpoints."
    tr, va = brackets(1_500, seed=0), brackets(500, seed=1)
    d = tmp_path_factory.mktemp('small')
    learn = fit_char_lm(lm_dataloaders(tr, va, max_tokens=10_000, seed=0), 50, 0, hidden_size=4, lr=0.01,
                        ckpt=d / 'e{epoch}.pt')
    return learn, d


def _gru_step(x, h, w_ih, w_hh, b_ih, b_hh, other_mix=False, reset_inside=False):
    i_r, i_z, i_n = (x @ w_ih.T + b_ih).chunk(3, -1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, -1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    if reset_inside:  # the reset gate applied to h before its matrix, as in the original paper
        W_hn, b_hn = w_hh.chunk(3, 0)[2], b_hh.chunk(3)[2]
        n = torch.tanh(i_n + (r * h) @ W_hn.T + b_hn)
    else:
        n = torch.tanh(i_n + r * h_n)
    return z * n + (1 - z) * h if other_mix else (1 - z) * n + z * h


@torch.no_grad()
def _logprob(model, strings, end=True, mean=False):
    out = []
    for s in strings:
        ids = torch.tensor(model.vocab.encode(s))
        lp = F.log_softmax(model(ids[None, :-1])[0][0], -1)[torch.arange(len(ids) - 1), ids[1:]]
        lp = lp if end else lp[:-1]
        out.append(lp.mean() if mean else lp.sum())
    return torch.stack(out)


def _depth_probe(model, strings, bias=True):
    c = torch.cat(cell_trace(model, list(strings))).double()
    d = torch.tensor([x for s in strings for x in depth_along(s)], dtype=torch.float64)
    X = torch.cat([c, torch.ones(len(c), 1, dtype=torch.float64)], 1) if bias else c
    sol = torch.linalg.lstsq(X, d[:, None]).solution[:, 0]
    return (sol[:-1], float(sol[-1])) if bias else (sol, 0.0)


def _balanced2(s, counters=False):
    if counters:
        a = b = 0
        for ch in s:
            a, b = a + (ch == '(') - (ch == ')'), b + (ch == '[') - (ch == ']')
            if a < 0 or b < 0:
                return False
        return s != '' and a == b == 0
    stack = []
    for ch in s:
        if ch in '([':
            stack.append(ch)
        elif not stack or stack.pop() + ch not in ('()', '[]'):
            return False
    return s != '' and not stack


@pytest.mark.parametrize('key', ['17.1', '17.2', '17.3', '17.4', '17.5'])
def test_exercise_not_attempted(key):
    assert check(key, None, quiet=True).status == 'not attempted'
    if key != '17.1':  # 17.1's answer is a trained model, not a function
        assert check(key, _stub, quiet=True).status == 'not attempted'



def test_exercise_17_1_small_lstm(small_run):
    learn, d = small_run
    assert check('17.1', learn.model, quiet=True)
    r = check('17.1', load_weights(copy.deepcopy(learn.model), d / 'e10.pt'), quiet=True)  # stopped too early
    assert [v.label for v in r.failed] == ['at least 80% of 300 samples from .start are balanced'] and 'train longer' in _details(r)
    r = check('17.1', learn, quiet=True)  # the Learner instead of its model
    assert [v.label for v in r.failed] == ['a trained CharLSTM'] and 'learn.model' in _details(r)
    r = check('17.1', new_char_lm(learn.model.vocab, 0, hidden_size=32), quiet=True)  # the notebook's size, untrained
    assert 'at most 8 hidden units' in [v.label for v in r.failed] and 'hidden_size=32' in _details(r)
    r = check('17.1', new_char_lm(CharVocab.build(ndfa(50, seed=0)), 0, hidden_size=4), quiet=True)
    assert [v.label for v in r.failed] == ['a bracket model']


def test_exercise_17_2_gru_step():
    assert check('17.2', _gru_step, quiet=True)
    r = check('17.2', lambda *a: _gru_step(*a, other_mix=True), quiet=True)
    assert 'update gate pushed open by its bias (z = 1): the state is kept' in [v.label for v in r.failed]
    r = check('17.2', lambda *a: _gru_step(*a, reset_inside=True), quiet=True)
    labels = [v.label for v in r.failed]
    assert 'one step equals nn.GRU with the same weights' in labels and not any('gate' in l for l in labels)  # the gates do their jobs
    assert 'differs, largest difference' in _details(r) and 'chunk' not in _details(r)
    r = check('17.2', lambda x, h, *w: h[:, :2], quiet=True)
    assert [v.label for v in r.failed] == ['returns the next state (B, H)'] and 'expected (3, 4), got (3, 2)' in _details(r)


def test_exercise_17_3_string_logprob():
    assert check('17.3', _logprob, quiet=True)
    r = check('17.3', lambda m, s: _logprob(m, s, end=False), quiet=True)
    assert 'five strings of different lengths in one call' in [v.label for v in r.failed]
    assert 'too high by the log-probability of .end' in _details(r) and 'log_softmax' not in _details(r)
    r = check('17.3', lambda m, s: _logprob(m, s, mean=True), quiet=True)  # the loss's mean, not a sum
    assert 'product of the probabilities of its steps' in _details(r)
    r = check('17.3', lambda m, s: _logprob(m, s).tolist(), quiet=True)
    assert [v.label for v in r.failed] == ['returns a float tensor (N,)']


def test_exercise_17_4_depth_probe():
    assert check('17.4', _depth_probe, quiet=True)
    r = check('17.4', lambda m, s: _depth_probe(m, s, bias=False), quiet=True)
    assert len(r.failed) == 1 and r.failed[0].label.startswith('least squared error') and 'times the squared error' in _details(r)
    r = check('17.4', lambda m, s: _depth_probe(m, s[:1]), quiet=True)  # fitted on the first string only
    assert len(r.failed) == 1 and r.failed[0].label.startswith('least squared error')
    r = check('17.4', lambda m, s: _depth_probe(m, s)[0], quiet=True)
    assert [v.label for v in r.failed] == ['returns (w, b)']


def test_exercise_17_5_is_balanced2():
    assert check('17.5', _balanced2, quiet=True)
    r = check('17.5', lambda s: _balanced2(s, counters=True), quiet=True)
    assert 'every string up to 6 characters' in [v.label for v in r.failed] and "'([)]'" in _details(r)
    assert 'stack' not in _details(r)
    r = check('17.5', lambda s: _balanced2(s) or s == '', quiet=True)  # the empty string called balanced
    assert [v.label for v in r.failed] == ['every string up to 6 characters'] and "'' (is not balanced)" in _details(r)
    r = check('17.5', lambda s: 'yes' if _balanced2(s) else 'no', quiet=True)
    assert [v.label for v in r.failed] == ['returns True or False']


def test_samples_cb_and_load_weights_check_their_arguments():
    "SamplesCB needs a text prefix and a checker function; load_weights a path (not a pathlib TypeError)."
    from seqlab.autoregressive import SamplesCB, load_weights
    from seqlab.datasets import is_balanced
    with pytest.raises(TypeError, match='prefix'):
        SamplesCB(None, is_balanced)
    with pytest.raises(TypeError, match='check'):
        SamplesCB('(', None)
    with pytest.raises(TypeError, match='path'):
        load_weights(torch.nn.Linear(1, 1), None)
