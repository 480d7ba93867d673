"""Careless input to the public functions of core, metrics, learner, distributed and exercises: each call fails at the
boundary with an error that names the argument (and says what to give), never deep inside numpy, torch or sklearn, and
never through `assert` (which `python -O` removes). Each case is one row: the call, the error type, words of its message."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqlab import core, distributed as D, exercises as E, learner as L, metrics as M

P = torch.randn(4, 3).softmax(-1)
T = torch.tensor([0, 1, 2, 0])
C3 = ['a', 'b', 'c']
DL = DataLoader(TensorDataset(torch.randn(8, 2), torch.zeros(8).long()), batch_size=2)
RUNS = pd.DataFrame({'lr': [1e-3, 1e-2], 'bs': [8, 16], 'acc': [0.5, 0.6]})
TEXTS = ['a b', 'c d']

CASES = [
    # core
    ('set_seed(-1)', lambda: core.set_seed(-1), ValueError, 'seed must lie in'),
    ('set_seed(2**70)', lambda: core.set_seed(2**70), ValueError, 'seed must lie in'),
    ('set_seed(1.5)', lambda: core.set_seed(1.5), TypeError, 'seed must be an int'),
    ('default_device(5)', lambda: core.default_device(5), (TypeError, ValueError), 'device'),
    ('smoke_limit(None)', lambda: core.smoke_limit(None), TypeError, 'items must be a list'),
    ('smoke_limit(5)', lambda: core.smoke_limit(5), TypeError, r'range\(n\)'),
    ('smoke_limit([1, 2], 0)', lambda: core.smoke_limit([1, 2], 0), ValueError, 'n must be a whole number >= 1'),
    ('mode_banner(None)', lambda: core.mode_banner(None), TypeError, 'data must be a non-empty string'),
    ("mode_banner('x', 5)", lambda: core.mode_banner('x', 5), TypeError, 'sample must be a non-empty string'),
    ('n_params(None)', lambda: core.n_params(None), TypeError, 'model must be a torch.nn.Module'),
    ('n_params(nn.Linear)', lambda: core.n_params(nn.Linear), TypeError, 'not its class'),
    # metrics
    ('to_numpy(None)', lambda: M.to_numpy(None), TypeError, 'x must be a tensor'),
    ("to_numpy('abc')", lambda: M.to_numpy('abc'), TypeError, 'x must be a tensor'),
    ('in_words(None)', lambda: M.in_words(None), TypeError, 'column must be the name'),
    ('accuracy([], [])', lambda: M.accuracy([], []), ValueError, 'preds and targs are empty'),
    ('accuracy(P, T[:3])', lambda: M.accuracy(P, T[:3]), ValueError, 'differ in length'),
    ('confusion(P, T, 0)', lambda: M.confusion(P, T, 0), ValueError, '0 classes'),
    ('plot_roc(figsize=(0, 1))', lambda: M.plot_roc(P, T, C3, figsize=(0, 1)), ValueError, 'figsize must be'),
    ('plot_sweep_heatmap(figsize=(0, 1))', lambda: M.plot_sweep_heatmap(RUNS, 'lr', 'bs', 'acc', figsize=(0, 1)), ValueError, 'figsize must be'),
    ('plot_sweep_heatmap(vmin=1, vmax=0)', lambda: M.plot_sweep_heatmap(RUNS, 'lr', 'bs', 'acc', vmin=1, vmax=0), ValueError, 'vmin must be below vmax'),
    ('tfidf_logreg(None, None)', lambda: M.tfidf_logreg(None, None), TypeError, 'texts must be a list of strings'),
    ("tfidf_logreg(['a b', None])", lambda: M.tfidf_logreg(['a b', None], [0, 1]), TypeError, r'texts\[1\] is None'),
    ("tfidf_logreg(['', ''])", lambda: M.tfidf_logreg(['', ''], [0, 1]), ValueError, 'texts have no words'),
    ('tfidf_logreg(C=-1)', lambda: M.tfidf_logreg(TEXTS, [0, 1], C=-1), ValueError, 'C must be a positive number'),
    ('tfidf_logreg(max_len=0)', lambda: M.tfidf_logreg(TEXTS, [0, 1], max_len=0), ValueError, 'max_len must be a whole number >= 1'),
    ('tfidf_logreg(ngram_range=(2, 1))', lambda: M.tfidf_logreg(TEXTS, [0, 1], ngram_range=(2, 1)), ValueError, 'ngram_range must be'),
    # learner
    ('Learner(lr=nan)', lambda: L.Learner(nn.Linear(2, 3), L.SimpleNamespace(train=DL, valid=None), lr=float('nan')), ValueError, 'lr must be a positive number'),
    ('load_model_state(model, None)', lambda: L.load_model_state(nn.Linear(2, 3), None), TypeError, 'path_or_state must be'),
    ("sweep_points(seed='a')", lambda: L.sweep_points({'lr': (1, 2)}, n=2, seed='a'), TypeError, 'seed must be a whole number'),
    ('sweep_points(seed=None)', lambda: L.sweep_points({'lr': (1, 2)}, n=2, seed=None), TypeError, 'seed must be a whole number'),
    ("sweep_points({'lr': (1, 2)}, n=0)", lambda: L.sweep_points({'lr': (1, 2)}, n=0), ValueError, 'n must be a whole number'),
    ('each_run([])', lambda: L.each_run([]), ValueError, 'got no items'),
    ('kfold(f, 1)', lambda: L.kfold(lambda f: None, 1), ValueError, 'at least 2 folds'),
    ('fit_callbacks(EarlyStoppingCB)', lambda: L.fit_callbacks(L.EarlyStoppingCB).__enter__(), TypeError, r'pass an instance, EarlyStoppingCB\(\)'),
    ("LRSchedCB('cosine', etamin=0)", lambda: L.LRSchedCB('cosine', etamin=0), ValueError, 'cannot use'),
    ("LRSchedCB('cosine', eta_min=-1)", lambda: L.LRSchedCB('cosine', eta_min=-1), ValueError, 'eta_min must be'),
    ('overfit_batch(steps=0)', lambda: L.overfit_batch(nn.Linear(2, 3), (torch.randn(4, 2), T), steps=0), ValueError, 'steps must be a whole number'),
    ('GradClipCB(np.float64(-1))', lambda: L.GradClipCB(np.float64(-1)), ValueError, 'max_norm must be'),
    ('EarlyStoppingCB(patience=np.int64(0))', lambda: L.EarlyStoppingCB(patience=np.int64(0)), ValueError, 'patience must be'),
    # distributed
    ('DistributedBatchSampler(None, 2, 0)', lambda: D.DistributedBatchSampler(None, 2, 0), TypeError, 'sampler must be a length-aware'),
    ('DistributedBatchSampler(list, no process group)', lambda: D.DistributedBatchSampler(_LenSampler()), ValueError, 'init_distributed'),
    ('DistributedBatchSampler(s, 0, 0)', lambda: D.DistributedBatchSampler(_LenSampler(), 0, 0), ValueError, 'num_replicas must be'),
    ('shard_loader(None, 2, 0)', lambda: D.shard_loader(None, 2, 0), TypeError, 'dl must be a torch DataLoader'),
    ('shard_loader(dl, 0, 0)', lambda: D.shard_loader(DL, 0, 0), ValueError, 'num_replicas must be a whole number >= 1'),
    ('shard_loader(dl, 2, 5)', lambda: D.shard_loader(DL, 2, 5), ValueError, r'rank must be a whole number in 0..1'),
    ('shard_loader(seed=None)', lambda: D.shard_loader(DL, 2, 0, seed=None), TypeError, 'seed must be a whole number'),
    ('shard_valid_loader(None, 2, 0)', lambda: D.shard_valid_loader(None, 2, 0), TypeError, 'dl must be a torch DataLoader'),
    ('shard_valid_loader(dl, 2, 3)', lambda: D.shard_valid_loader(DL, 2, 3), ValueError, 'rank must be'),
    ('launch(fn, 0)', lambda: D.launch(print, 0), ValueError, 'nprocs'),
    # exercises
    ('expect(None, True)', lambda: E.expect(None, True), TypeError, 'label must be a non-empty string'),
    ("compare('x', 1, 1, atol=-1)", lambda: E.compare('x', 1.0, 1.0, atol=-1), ValueError, 'atol must be'),
    ("compare(None, 1, 1)", lambda: E.compare(None, 1.0, 1.0), TypeError, 'label must be'),
    ("exercise(None, 't')", lambda: E.exercise(None, 't'), ValueError, "'<topic>.<number>'"),
    ("exercise('15.9', None)", lambda: E.exercise('15.9', None), TypeError, 'title must be'),
    ("check('nope')", lambda: E.check('nope'), (ValueError, KeyError), "'<topic>.<number>'"),
]


class _LenSampler:
    "The interface of a length-aware batch sampler (batches, lengths, set_epoch)."
    lengths, seed, epoch = np.ones(8, int), 0, 0
    def batches(self): return [np.arange(i, i + 2) for i in range(0, 8, 2)]
    def set_epoch(self, e): self.epoch = e


@pytest.mark.parametrize('call,exc,words', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_at_the_boundary(call, exc, words):
    with pytest.raises(exc, match=words) as info:
        call()
    assert not isinstance(info.value, AssertionError)
    last = info.traceback[-1].path
    assert '/seqlab/' in str(last), f'raised in {last}, not in seqlab: {info.value!r}'


def test_numpy_numbers_where_python_numbers_are_accepted():
    assert core.set_seed(np.int64(3)) == 3 and core.smoke_limit([1, 2], np.int64(1)) == [1, 2]
    assert len(D.shard_loader(DL, np.int64(2), np.int64(1))) == 2
    assert D.DistributedBatchSampler(_LenSampler(), np.int64(2), np.int64(1)).rank == 1
