"""The Elman RNN against nn.RNN, masked max pooling, token-budget batches, short reviews and bad inputs of seqlab.imdb."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.data import TextDataset, Vocab, run_packed
from seqlab.datasets import load_imdb
from seqlab.datasets import Split, TaskData
from seqlab.imdb import (IMDB_ARCHS, IMDB_END, IMDB_START, NBSVM, ElmanRNN, MaxPoolMLP, RecurrenceStatsCB,
                         RecurrentSentiment, SentimentConfig, bce_logits_loss, binary_accuracy, cut_review, imdb_loaders,
                         imdb_tokens, loader_waste, plot_recurrence_stats, prepare_imdb, recurrence_probe, review_lengths,
                         sentiment_model, spectral_radius, time_epoch, train_sentiment)

torch.set_num_threads(1)


def pair(C=4, H=6, nonlinearity='relu', seed=0):
    "An ElmanRNN and an nn.RNN with the same weights."
    torch.manual_seed(seed)
    ours = ElmanRNN(C, H, nonlinearity)
    ref = nn.RNN(C, H, nonlinearity=nonlinearity, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


# ---- the Elman RNN equals nn.RNN ------------------------------------------------------------------

@pytest.mark.parametrize('nonlinearity', ['relu', 'tanh'])
def test_elman_equals_nn_rnn_on_padded_input(nonlinearity):
    ours, ref = pair(nonlinearity=nonlinearity)
    x = torch.randn(5, 9, 4)
    hx = torch.randn(1, 5, 6)
    for h0 in (None, hx):
        out, h = ours(x, hx=h0)
        out_r, h_r = ref(x, h0)
        torch.testing.assert_close(out, out_r, atol=1e-5, rtol=0)
        torch.testing.assert_close(h, h_r, atol=1e-5, rtol=0)


def test_elman_with_lengths_equals_packed_nn_rnn():
    ours, ref = pair()
    x = torch.randn(4, 8, 4)
    lengths = torch.tensor([3, 8, 1, 5])  # unsorted, one review of length 1
    out, h = ours(x, lengths)
    out_r, h_r = run_packed(ref, x, lengths)
    torch.testing.assert_close(out, out_r, atol=1e-5, rtol=0)
    torch.testing.assert_close(h, h_r, atol=1e-5, rtol=0)
    assert out[2, 1:].abs().sum() == 0  # padding positions are zero, as pad_packed_sequence gives them


def test_elman_on_a_packed_sequence_equals_nn_rnn():
    ours, ref = pair()
    x = torch.randn(4, 7, 4)
    lengths = torch.tensor([2, 7, 4, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    (po, h), (po_r, h_r) = ours(packed), ref(packed)
    out, l1 = pad_packed_sequence(po, batch_first=True)
    out_r, l2 = pad_packed_sequence(po_r, batch_first=True)
    assert torch.equal(l1, l2)
    torch.testing.assert_close(out, out_r, atol=1e-5, rtol=0)
    torch.testing.assert_close(h, h_r, atol=1e-5, rtol=0)


def test_elman_gradients_equal_nn_rnn():
    ours, ref = pair()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    out, h = ours(x, lengths)
    out_r, h_r = run_packed(ref, x, lengths)
    (out.pow(2).sum() + h.sum()).backward()
    (out_r.pow(2).sum() + h_r.sum()).backward()
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, dict(ref.named_parameters())[name].grad, atol=1e-5, rtol=0)


def test_elman_rejects_an_unknown_nonlinearity():
    with pytest.raises(ValueError, match="'relu' or 'tanh'"):
        ElmanRNN(3, 4, 'sigmoid')


# ---- masked max pooling -------------------------------------------------------------------------

def test_max_pool_ignores_padding_even_when_padding_would_win():
    torch.manual_seed(0)
    mlp = MaxPoolMLP(SentimentConfig(vocab_size=20, embedding_dim=5, hidden_size=7, arch='mlp')).eval()
    with torch.no_grad():
        mlp.proj.bias.fill_(10.0)  # ReLU(bias) at padded positions beats every real position
        x = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0], [9, 0, 0, 0]])
        lengths = torch.tensor([4, 2, 1])
        out = mlp(x, lengths)
        torch.testing.assert_close(mlp(F.pad(x, (0, 30)), lengths), out, atol=1e-6, rtol=0)
        torch.testing.assert_close(mlp(x[1:2, :2]), out[1:2], atol=1e-6, rtol=0)
        torch.testing.assert_close(mlp(x[2:3, :1]), out[2:3], atol=1e-6, rtol=0)


@pytest.mark.parametrize('arch', IMDB_ARCHS)
def test_every_model_is_unchanged_by_more_padding(arch):
    torch.manual_seed(1)
    model = sentiment_model(SentimentConfig(vocab_size=30, embedding_dim=6, hidden_size=5, arch=arch)).eval()
    x = torch.randint(1, 30, (3, 6))
    x[1, 3:] = 0
    lengths = torch.tensor([6, 3, 6])
    with torch.no_grad():
        out = model(x, lengths)
        assert out.shape == (3,)
        torch.testing.assert_close(model(F.pad(x, (0, 11)), lengths), out, atol=1e-5, rtol=0)
        torch.testing.assert_close(model(x), out, atol=1e-5, rtol=0)  # lengths counted from padding


def test_identity_init_is_an_irnn():
    m = RecurrentSentiment(SentimentConfig(vocab_size=10, embedding_dim=4, hidden_size=6, arch='rnn', init='identity'))
    assert torch.equal(m.rnn.weight_hh_l0.detach(), torch.eye(6))
    assert m.rnn.bias_hh_l0.abs().sum() == 0 and m.rnn.bias_ih_l0.abs().sum() == 0
    assert spectral_radius(m.rnn.weight_hh_l0) == pytest.approx(1.0)


# ---- token-budget batches -----------------------------------------------------------------------

def _ds(lengths, seed=0):
    rng = np.random.default_rng(seed)
    ids = [list(rng.integers(2, 50, n)) for n in lengths]
    return TextDataset(ids, [i % 2 for i in range(len(lengths))], vocab=Vocab(['<pad>', '<unk>'] + [f'w{i}' for i in range(48)]))


def test_token_budget_batches_stay_within_budget_except_single_long_items():
    rng = np.random.default_rng(0)
    lengths = list(np.clip(rng.lognormal(4, 0.9, 400).astype(int), 1, 900)) + [700, 1500]  # some longer than the budget
    ds = _ds(lengths)
    with pytest.warns(UserWarning, match='longer than max_tokens'):
        dls = imdb_loaders(ds, ds, None, 'budget', max_tokens=600, seed=0)
    L = np.asarray(ds.lengths)
    batches = list(dls.train.batch_sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(L)))  # every review once
    for b in batches:
        assert len(b) * L[b].max() <= 600 or len(b) == 1, (len(b), L[b].max())
    assert any(len(b) == 1 and L[b[0]] > 600 for b in batches)  # the long ones travel alone
    (xb, lb), yb = next(iter(dls.train))
    assert xb.shape[0] * xb.shape[1] <= 600 or xb.shape[0] == 1


def test_budget_wastes_less_padding_than_fixed_batches():
    rng = np.random.default_rng(1)
    ds = _ds(list(np.clip(rng.lognormal(4, 0.9, 500).astype(int), 1, 900)))
    budget = loader_waste(imdb_loaders(ds, ds, None, 'budget', max_tokens=3000).train)
    fixed = loader_waste(imdb_loaders(ds, ds, None, 'fixed', bs=32).train)
    assert budget['largest B*T'] <= 3000 < fixed['largest B*T']
    assert budget['padding waste'] < fixed['padding waste'] / 3, (budget, fixed)


def test_unknown_batching_is_an_error():
    ds = _ds([3, 4])
    with pytest.raises(ValueError, match="'budget'"):
        imdb_loaders(ds, ds, None, 'random')


# ---- short reviews and bad inputs ---------------------------------------------------------------

def test_empty_review_gets_start_and_end():
    assert imdb_tokens('') == ['.start', '.end']
    assert imdb_tokens('Bad.<br /><br />Very bad.') == ['.start', 'bad', '.', 'very', 'bad', '.', '.end']


@pytest.mark.parametrize('arch', IMDB_ARCHS)
def test_reviews_of_length_one_work_and_length_zero_is_a_clear_error(arch):
    model = sentiment_model(SentimentConfig(vocab_size=10, embedding_dim=4, hidden_size=3, arch=arch)).eval()
    with torch.no_grad():
        assert model(torch.tensor([[5]]), torch.tensor([1])).shape == (1,)
        assert model(torch.tensor([[5, 0, 0], [4, 3, 2]])).shape == (2,)
        with pytest.raises(ValueError, match='length 0'):
            model(torch.tensor([[0, 0], [3, 4]]))
        with pytest.raises(ValueError, match='longer than the padded batch'):
            model(torch.tensor([[3, 4]]), torch.tensor([5]))
        with pytest.raises(ValueError, match='one length per review'):
            model(torch.tensor([[3, 4]]), torch.tensor([2, 2]))


def test_empty_and_one_word_reviews_train_end_to_end():
    data = load_imdb(quick=True, n=60, verbose=False)
    data.train.x[0], data.train.x[1] = '', 'Great'
    data.test.x[0] = ''
    prep = prepare_imdb(data, max_tokens=500)
    assert prep.train_ds.lengths[0] == 2 and prep.train_ds.lengths[1] == 3
    learn = train_sentiment(prep, 'elman', epochs=1, hidden_size=4, embedding_dim=4)
    preds, targs = learn.get_preds(prep.dls.test)
    assert preds.shape == targs.shape == (len(data.test),)
    assert torch.isfinite(preds).all()


@pytest.mark.parametrize('kw, msg', [(dict(arch='gru'), 'use one of'), (dict(hidden_size=0), 'hidden_size'),
                                     (dict(nonlinearity='sigmoid'), "'relu' or 'tanh'"), (dict(init='xavier'), "'identity'"),
                                     (dict(dropout=1.0), 'dropout'), (dict(vocab_size=5, padding_idx=9), 'padding_idx')])
def test_bad_configs_name_the_problem(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SentimentConfig(**kw)


def test_recurrent_sentiment_refuses_the_mlp():
    with pytest.raises(ValueError, match='MaxPoolMLP'):
        RecurrentSentiment(SentimentConfig(arch='mlp', vocab_size=10, embedding_dim=2, hidden_size=2))


def test_loss_and_binary_accuracy():
    logits, y = torch.tensor([3.0, -2.0, 0.1, -0.1]), torch.tensor([1, 1, 0, 0])
    assert binary_accuracy(logits, y) == pytest.approx(0.5)
    assert binary_accuracy(logits[:, None], y) == pytest.approx(0.5)
    torch.testing.assert_close(bce_logits_loss(logits, y), nn.BCEWithLogitsLoss()(logits, y.float()))
    with pytest.raises(ValueError, match='one logit per item'):
        bce_logits_loss(torch.zeros(4, 2), y)
    with pytest.raises(ValueError, match='one logit per target'):
        binary_accuracy(torch.zeros(3), y)


def test_review_lengths_counts_non_padding():
    x = torch.tensor([[4, 5, 0], [1, 0, 0]])
    assert review_lengths(x, None).tolist() == [2, 1]


def test_nbsvm_learns_keywords_and_checks_labels():
    texts = ['good fine great', 'great good', 'bad awful', 'awful poor bad'] * 5
    y = [1, 1, 0, 0] * 5
    m = NBSVM().fit(texts, y)
    assert m.score(['good great', 'poor awful'], [1, 0]) == 1.0
    with pytest.raises(ValueError, match='labels 0 and 1'):
        NBSVM().fit(texts, [1] * len(texts))
    with pytest.raises(ValueError, match='beta'):
        NBSVM(beta=2)


def test_recurrence_stats_and_their_plot():
    data = load_imdb(quick=True, n=60, verbose=False)
    prep = prepare_imdb(data, batching='fixed', bs=8)
    cb = RecurrenceStatsCB(max_steps=3, every=1)
    learn = train_sentiment(prep, 'rnn', epochs=2, cbs=[cb], hidden_size=4, embedding_dim=4)
    s = learn.recurrence_stats
    assert list(s.step) == [0, 1, 2] and s['rho'].notna().all() and (s['max_state'] > 0).all()
    fig = plot_recurrence_stats({'run': s}, title='generated sample')
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match='stats is empty'):
        plot_recurrence_stats({})
    with pytest.raises(ValueError, match='square'):
        spectral_radius(torch.zeros(2, 3))


# ---- what a cut keeps, and the models learn the sample ---------------------------------------------

def test_cut_review_keeps_the_end_or_the_start_with_the_markers():
    toks = imdb_tokens('one two three four five six seven')
    assert cut_review(toks, 5) == [IMDB_START, 'five', 'six', 'seven', IMDB_END]
    assert cut_review(toks, 5, keep='start') == [IMDB_START, 'one', 'two', 'three', IMDB_END]
    assert cut_review(toks, 50) == toks and cut_review(toks, None) == toks
    with pytest.raises(ValueError, match='max_len'):
        cut_review(toks, 1)
    with pytest.raises(ValueError, match="'end'"):
        cut_review(toks, 5, keep='middle')


def test_prepare_imdb_keeps_the_end_of_long_reviews_by_default():
    data = load_imdb(quick=True, n=60, verbose=False)
    prep = prepare_imdb(data, max_len=12)
    itos = prep.vocab.itos
    for text, ids in zip(data.train.x, prep.train_ds.ids):
        full = imdb_tokens(text)
        got = [itos[i] for i in ids.tolist()]
        assert len(got) == min(12, len(full)) and got[0] == IMDB_START and got[-1] == IMDB_END
        if len(full) > 12:
            assert got[1:] == [t if t in prep.vocab.stoi else itos[prep.vocab.unk_idx] for t in full[-11:]]
    start = prepare_imdb(data, max_len=12, keep='start')
    assert [start.vocab.itos[i] for i in start.train_ds.ids[0].tolist()][:3] == imdb_tokens(data.train.x[0])[:3]


def test_the_report_rnn_learns_the_sample_when_it_reads_the_end():
    """The ReLU RNN, 30/30, reading the last 80 tokens, is far above chance after 4 epochs (it was at chance reading the first 100)."""
    data = load_imdb(quick=True, seed=0, n=600, verbose=False)
    prep = prepare_imdb(data, max_tokens=2000, max_len=80)
    learn = train_sentiment(prep, 'rnn', epochs=4, lr=3e-3, seed=0, hidden_size=30, embedding_dim=30, dropout=0.3)
    assert learn.history['binary_accuracy'].iloc[-1] >= 0.75, learn.history


# ---- a learner's own data ---------------------------------------------------------------------------

def _task(texts, labels, classes=('neg', 'pos'), valid=True, test=True):
    s = Split(list(texts), np.asarray(labels))
    return TaskData('mine', s, s if valid else None, s if test else None, list(classes), 'typed in', True)


def test_prepare_imdb_refuses_other_than_two_classes_and_says_the_model_is_binary():
    with pytest.raises(ValueError, match='binary.*3 classes'):
        prepare_imdb(_task(['a', 'b', 'c'] * 4, [0, 1, 2] * 4, classes=('x', 'y', 'z')))
    s = Split(['a', 'b'] * 4, np.array([0, 2] * 4))  # labels 0 and 2, no class names (not a TaskData)
    with pytest.raises(ValueError, match='binary.*labels'):
        prepare_imdb(SimpleNamespace(train=s, valid=s, test=s))


def test_prepare_imdb_without_a_validation_split_makes_one_and_says_so():
    data = load_imdb(quick=True, n=100, verbose=False)
    mine = TaskData('mine', data.train, None, data.test, data.classes, 'mine', True)
    with pytest.warns(UserWarning, match='data.valid is None: 10% of the training split'):
        prep = prepare_imdb(mine, max_tokens=500)
    assert len(prep.train_ds) + len(prep.valid_ds) == len(data.train) and len(prep.valid_ds) >= 2
    assert set(np.asarray(prep.valid_ds.labels).tolist()) == {0, 1}


def test_prepare_imdb_clear_errors():
    with pytest.raises(TypeError, match='TaskData'):
        prepare_imdb({'train': None})
    with pytest.raises(ValueError, match='data.test is None'):
        prepare_imdb(_task(['a b', 'c d'] * 4, [0, 1] * 4, test=False), merge_valid=True)
    with pytest.raises(TypeError, match=r'data.train.x\[1\] is None'):
        prepare_imdb(_task(['a b', None, 'c', 'd'], [0, 1, 0, 1]))
    with pytest.raises(TypeError, match='must be a str'):
        imdb_tokens(None)
    with pytest.raises(ValueError, match="'budget'"):
        prepare_imdb(_task(['a b', 'c d'] * 4, [0, 1] * 4), batching='random')


# ---- input checks of the public functions ----------------------------------------------------------

def test_models_check_token_ids_and_lengths_where_they_enter():
    model = sentiment_model(SentimentConfig(vocab_size=10, embedding_dim=4, hidden_size=3, arch='lstm')).eval()
    with torch.no_grad():
        with pytest.raises(ValueError, match='token ids must lie in 0..9'):
            model(torch.tensor([[3, 12]]))
        with pytest.raises(ValueError, match='integer dtype'):
            model(torch.rand(2, 3))
        with pytest.raises(ValueError, match='one length per review'):
            model(torch.tensor([[3, 4]]), torch.tensor([2.0]))
        with pytest.raises(ValueError, match='longer than the padded batch'):
            model(torch.tensor([[3, 4], [5, 6]]), torch.tensor([2, 3]))
    with pytest.raises(TypeError, match='SentimentConfig'):
        sentiment_model({'arch': 'lstm'})
    with pytest.raises(ValueError, match='dropout'):
        SentimentConfig(dropout='0.3')


def test_elman_checks_its_inputs():
    for kw in (dict(input_size=0, hidden_size=3), dict(input_size=3, hidden_size=-1)):
        with pytest.raises(ValueError, match='positive int'):
            ElmanRNN(**kw)
    rnn = ElmanRNN(5, 7)
    x = torch.randn(3, 6, 5)
    with pytest.raises(ValueError, match='input_size=5'):
        rnn(torch.randn(3, 6, 4))
    with pytest.raises(ValueError, match='input_size=5'):
        rnn(torch.randn(6, 5))
    with pytest.raises(ValueError, match='hidden_size'):  # the report's torch.zeros(b, e): as wide as the input
        rnn(x, hx=torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match='lengths must lie in 1..T'):
        rnn(x, torch.tensor([6, 7, 1]))
    with pytest.raises(ValueError, match=r'lengths must be \(3,\)'):
        rnn(x, torch.tensor([6, 2]))


def test_loss_and_metric_refuse_labels_of_more_than_two_classes():
    with pytest.raises(ValueError, match='two classes'):
        bce_logits_loss(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='labels 0/1'):
        binary_accuracy(torch.zeros(3), torch.tensor([0, 1, 2]))


def test_training_helpers_check_their_inputs():
    data = load_imdb(quick=True, n=60, verbose=False)
    prep = prepare_imdb(data, batching='fixed', bs=8)
    with pytest.raises(TypeError, match='IMDbPrep'):
        train_sentiment(prep.dls, 'rnn')
    with pytest.raises(TypeError, match="Unknown model options \\['hiden_size'\\]"):
        train_sentiment(prep, 'rnn', epochs=1, hiden_size=4)
    with pytest.raises(ValueError, match='steps'):
        recurrence_probe(prep, steps=0, hidden_size=4, embedding_dim=4)
    with pytest.raises(ValueError, match='max_steps'):
        RecurrenceStatsCB(max_steps=0)
    with pytest.raises(ValueError, match='every'):
        RecurrenceStatsCB(every=0)
    with pytest.raises(TypeError, match='not an LSTM'):
        train_sentiment(prep, 'lstm', epochs=1, cbs=[RecurrenceStatsCB()], hidden_size=4, embedding_dim=4)
    with pytest.raises(TypeError, match='TextDataset'):
        loader_waste([[1, 2]])
    with pytest.raises(ValueError, match='no batches'):
        time_epoch(nn.Linear(2, 1), [])
    with pytest.raises(ValueError, match='train_ds and valid_ds'):
        imdb_loaders(None, prep.valid_ds, None)


def test_nbsvm_checks_its_inputs():
    with pytest.raises(ValueError, match='alpha and C'):
        NBSVM(alpha=0)
    with pytest.raises(ValueError, match='one label per text'):
        NBSVM().fit(['good', 'bad', 'fine'], [1, 0])
    with pytest.raises(ValueError, match='not fitted'):
        NBSVM().decision_function(['good'])


def test_plot_recurrence_stats_takes_seeds_and_refuses_other_tables():
    s = pd.DataFrame({'step': [0, 1], 'max_state': [1.0, 2.0], 'grad_norm': [0.5, 0.4], 'rho': [0.6, np.nan]})
    fig = plot_recurrence_stats({'a': [s, s], 'b': s}, title='generated sample')
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3
    with pytest.raises(ValueError, match='recurrence_stats DataFrame'):
        plot_recurrence_stats({'a': pd.DataFrame({'step': [0]})})


# ---- the exercises of 15: each check passes a worked solution, fails typical wrong answers with a useful message ----
import json
from pathlib import Path

from seqlab.exercises import EXERCISES, check
from seqlab.imdb import SentimentConfig

ROOT = Path(__file__).resolve().parent.parent


def _details(r) -> str:
    return ' | '.join(f'{v.label}: {v.detail}' for v in r.failed)


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize('key', ['15.1', '15.2', '15.3', '15.4', '15.5', '15.6'])
def test_exercise_not_attempted(key):
    assert check(key, None, quiet=True).status == 'not attempted'
    r = check(key, _stub, quiet=True)
    if key in ('15.3', '15.4'):  # value answers: a function is the wrong kind of answer, a failed verdict
        assert not r and r.status == 'checked' and len(r.verdicts) == 1
    else:
        assert r.status == 'not attempted'



def _nb_ratio(X, y, alpha=1.0, normalise=True):
    y = np.asarray(y)
    p, q = alpha + np.asarray(X[y == 1].sum(0)).ravel(), alpha + np.asarray(X[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum())) if normalise else np.log(p / q)


def test_exercise_15_1_nb_ratio():
    assert check('15.1', _nb_ratio, quiet=True)
    r = check('15.1', lambda X, y, alpha=1.0: _nb_ratio(X, y, alpha, normalise=False), quiet=True)
    assert not r and {v.label for v in r.failed} == {'r with alpha = 1', 'r with alpha = 0.5 (the smoothing is the argument, not a constant)'}
    assert 'largest difference' in _details(r) and 'sum' not in _details(r)  # how far off, not the missing normalisation
    r = check('15.1', lambda X, y, alpha=1.0: _nb_ratio(X, 1 - np.asarray(y), alpha), quiet=True)  # the classes swapped
    assert 'numerator' in _details(r) and 'log' not in _details(r)
    r = check('15.1', lambda X, y, alpha=1.0: _nb_ratio(X, y, 1.0), quiet=True)  # alpha ignored
    assert [v.label for v in r.failed] == ['r with alpha = 0.5 (the smoothing is the argument, not a constant)']
    r = check('15.1', lambda X, y, alpha=1.0: _nb_ratio(X, y, alpha)[:5], quiet=True)
    assert [v.label for v in r.failed] == ['returns an array (F,)'] and '(12,)' in _details(r)


def _padding_wins(bias=1.0, pad_embedding=0.0, padded=True):
    torch.manual_seed(0)
    model = MaxPoolMLP(SentimentConfig(vocab_size=10, embedding_dim=4, hidden_size=3, arch='mlp', padding_idx=0))
    with torch.no_grad():
        model.proj.bias.fill_(bias)
        model.proj.weight.fill_(-1.0)
        model.embedding.weight[1:].abs_()
        model.embedding.weight[0].fill_(pad_embedding)
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]]) if padded else torch.tensor([[1, 2, 3, 4, 5], [4, 5, 6, 7, 8]])
    return model, x, torch.tensor([3, 5]) if padded else torch.tensor([5, 5])


def test_exercise_15_2_padding_wins():
    assert check('15.2', _padding_wins, quiet=True)
    r = check('15.2', lambda: _padding_wins(bias=-1.0), quiet=True)  # negative biases: padding never wins
    assert [v.label for v in r.failed] == ['the plain amax(1) over all T steps differs from the masked max']
    assert 'padding step' in _details(r) and 'bias' not in _details(r)  # a question, not the answer
    r = check('15.2', lambda: _padding_wins(bias=-1.0, pad_embedding=-2.0), quiet=True)  # wins through a non-zero padding embedding
    assert [v.label for v in r.failed] == ['with every hidden bias made <= 0, the two maxima agree (the padding wins through the biases)']
    r = check('15.2', lambda: _padding_wins(padded=False), quiet=True)
    assert 'at least one row is padded' in _details(r)
    r = check('15.2', lambda: _padding_wins()[:2], quiet=True)
    assert [v.label for v in r.failed] == ['returns (a MaxPoolMLP, x (B, T) token ids, lengths (B,))']


def test_exercise_15_3_collapse_lr():
    assert check('15.3', 0.1, quiet=True)
    r = check('15.3', 1.0, quiet=True)  # collapses, but so does a tenth of it
    assert [v.label for v in r.failed] == ['at a tenth of it, lr 0.1: the same network learns (validation accuracy at least 0.75)']
    assert 'every network fails' in _details(r)
    r = check('15.3', 'fast', quiet=True)
    assert r.status == 'checked' and [v.label for v in r.failed] == ['a learning rate: a number in (0, 1]']
    assert not check('15.3', 0.0, quiet=True)


def test_exercise_15_3_a_rate_that_learns_fails():
    r = check('15.3', 0.01, quiet=True)
    assert {v.label for v in r.failed} >= {'at lr 0.01: validation accuracy at most 0.6 after 100 steps (collapsed to chance)'}
    assert 'still learns' in _details(r) and '0.1' not in _details(r).replace('0.01', '')  # the collapsing rate is not given away


def test_exercise_15_4_fix():
    assert check('15.4', {'lr': 0.01}, quiet=True)
    r = check('15.4', {'nonlinearity': 'tanh'}, quiet=True)  # bounded states, still at chance
    assert [v.label for v in r.failed] == ['it learns: validation accuracy at least 0.8 for seeds 0 and 1']
    assert 'steps' in _details(r) and '0.01' not in _details(r)
    r = check('15.4', {'clip': 1.0}, quiet=True)  # clipping alone: the loss becomes NaN
    assert 'no NaN loss' in {v.label for v in r.failed}
    r = check('15.4', {'hidden_size': 30}, quiet=True)
    assert [v.label for v in r.failed][0].startswith('a dict of keyword arguments') and 'hidden_size' in _details(r)


class _GRULayer(nn.Module):
    def __init__(self, input_size, hidden_size, swap=False):
        super().__init__()
        H = self.hidden_size = hidden_size
        self.swap = swap
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * H, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * H, H))
        self.bias_ih_l0, self.bias_hh_l0 = nn.Parameter(torch.empty(3 * H)), nn.Parameter(torch.empty(3 * H))
        for p in self.parameters():
            nn.init.uniform_(p, -H ** -0.5, H ** -0.5)

    def forward(self, x, lengths=None):
        B = x.shape[0]
        xw = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        h, outs = x.new_zeros(B, self.hidden_size), []
        for xt in xw.unbind(1):
            xr, xz, xn = xt.chunk(3, 1)
            hr, hz, hn = F.linear(h, self.weight_hh_l0, self.bias_hh_l0).chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = z * n + (1 - z) * h if self.swap else (1 - z) * n + z * h
            outs.append(h)
        out = torch.stack(outs, 1)
        return out, (out[:, -1] if lengths is None else out[torch.arange(B), lengths - 1])[None]


class _WrappedGRU(nn.Module):  # an nn.GRU inside: its parameters are named gru.weight_ih_l0, ...
    def __init__(self, i, h):
        super().__init__()
        self.gru = nn.GRU(i, h, batch_first=True)

    def forward(self, x, lengths=None):
        return self.gru(x)


def test_exercise_15_5_gru_layer():
    assert check('15.5', _GRULayer, quiet=True)
    r = check('15.5', lambda i, h: _GRULayer(i, h, swap=True), quiet=True)  # the update gate the other way round
    assert {'outputs (B, T, H) of a full batch', 'h_n (1, B, H) of a full batch'} <= {v.label for v in r.failed}
    assert 'largest difference' in _details(r) and 'sigmoid' not in _details(r)
    r = check('15.5', _WrappedGRU, quiet=True)
    assert [v.label for v in r.failed] == ["nn.GRU's parameter names and shapes"] and 'weight_ih_l0' in _details(r)

    class LastPadded(_GRULayer):  # ignores lengths: h_n read at the last padded step
        def forward(self, x, lengths=None):
            return super().forward(x)
    r = check('15.5', LastPadded, quiet=True)
    assert [v.label for v in r.failed] == ["with lengths: h_n after each row's last real step, as a packed nn.GRU"]


def _budget(lengths, max_tokens, order='sorted'):
    lengths = np.asarray(lengths)
    idx = np.argsort(lengths, kind='stable') if order == 'sorted' else range(len(lengths))
    batches, cur, longest = [], [], 0
    for i in idx:
        l = int(lengths[i])
        if cur and (len(cur) + 1) * max(longest, l) > max_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(int(i))
        longest = max(longest, l)
    return batches + [cur] if cur else batches


def _budget_by_sum(lengths, max_tokens):
    lengths = np.asarray(lengths)
    batches, cur, total = [], [], 0
    for i in np.argsort(lengths)[::-1]:
        if cur and total + lengths[i] > max_tokens:
            batches.append(cur)
            cur, total = [], 0
        cur.append(int(i))
        total += int(lengths[i])
    return batches + [cur] if cur else batches


def test_exercise_15_6_budget_batches():
    assert check('15.6', _budget, quiet=True)
    r = check('15.6', lambda l, m: _budget(l, m, order='given'), quiet=True)  # not sorted: many batches, much padding
    assert 'as few batches as a greedy fill of the sorted lengths' in {v.label for v in r.failed} and 'batches' in _details(r)
    r = check('15.6', _budget_by_sum, quiet=True)  # a budget on real tokens, not padded slots
    assert [v.label for v in r.failed] == ['each batch within the budget: B * T_max <= 4,000, unless it is a single item']
    assert 'padded to' in _details(r)
    r = check('15.6', lambda l, m: _budget(l, m)[:-1], quiet=True)  # the last batch forgotten
    assert 'every item exactly once' in {v.label for v in r.failed}
