"""Bad inputs, failure paths and edge cases of seqlab.learner that do not belong in the notebook's story."""
import math
import os
from functools import partial
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqlab.core import set_seed
from seqlab.learner import (Callback, CancelBatchException, CancelFitException, CheckpointCB, EarlyStoppingCB,
                            GradClipCB, LRSchedCB, Learner, MixedPrecisionCB, ProgressCB, WeightPenaltyCB, kfold,
                            run_summary, sweep, sweep_points, to_device)

torch.set_num_threads(1)


def acc(preds, targs):
    return (preds.argmax(-1) == targs).float().mean().item()


def points(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.tensor([[0., 2.], [-1.7, -1.], [1.7, -1.]])[y] + 0.5 * torch.randn(n, 2, generator=g)
    return x, y


def make_dls(n=96, bs=16, valid=32):
    x, y = points(n)
    return SimpleNamespace(train=DataLoader(TensorDataset(x[valid:], y[valid:]), batch_size=bs, shuffle=True),
                           valid=DataLoader(TensorDataset(x[:valid], y[:valid]), batch_size=bs))


def mlp(hidden_size=16):
    return nn.Sequential(nn.Linear(2, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 3))


def make_learner(**kw):
    set_seed(0)
    kw.setdefault('device', 'cpu')
    return Learner(mlp(), make_dls(), **kw)


class CountStepsCB(Callback):
    def before_fit(self, learn): self.steps = 0
    def after_step(self, learn): self.steps += 1


# --- bad inputs ------------------------------------------------------------------------------

def test_unknown_lr_schedule_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown LR schedule 'cos'.*\['cosine', 'onecycle'\]"):
        LRSchedCB('cos')


@pytest.mark.parametrize('n', [0, -1, 1.5, True, '3'])
def test_fit_rejects_bad_n_epochs(n):
    learn = make_learner()
    with pytest.raises(ValueError, match='n_epochs must be a whole number >= 1'):
        learn.fit(n)
    assert learn.history.empty


def test_empty_train_loader_is_a_clear_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    learn = Learner(mlp(), SimpleNamespace(train=empty, valid=make_dls().valid), device='cpu')
    with pytest.raises(ValueError, match='no batches'):
        learn.fit(1)


def test_empty_valid_loader_is_a_clear_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    learn = Learner(mlp(), SimpleNamespace(train=make_dls().train, valid=empty), device='cpu')
    with pytest.raises(ValueError, match='validation DataLoader gave no batches'):
        learn.fit(1)


def test_empty_iterable_without_len():
    def gen():
        return iter(())
    class NoLen:
        def __iter__(self): return gen()
    learn = Learner(mlp(), SimpleNamespace(train=NoLen(), valid=None), device='cpu')
    with pytest.raises(ValueError, match='training DataLoader gave no batches'):
        learn.fit(1)


def test_dls_without_train_valid():
    with pytest.raises(TypeError, match=r'\.train and \.valid'):
        Learner(mlp(), [make_dls().train], device='cpu')


@pytest.mark.parametrize('lr', [0, -1e-3, 'fast', None])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match='lr must be a positive number'):
        Learner(mlp(), make_dls(), lr=lr, device='cpu')
    with pytest.raises(ValueError, match='lr must be a positive number'):
        make_learner().fit(1, lr=lr if lr is not None else -1)


def test_bad_batch_structure():
    x, y = points(8)
    learn = Learner(mlp(), SimpleNamespace(train=[(x, y, y)], valid=None), device='cpu')
    with pytest.raises(TypeError, match=r'pair \(inputs, target\).*length 3'):
        learn.fit(1)


def test_bad_metrics():
    with pytest.raises(TypeError, match='named function'):
        make_learner(metrics=[partial(acc)])
    with pytest.raises(ValueError, match='unique'):
        make_learner(metrics=[acc, acc])
    def valid_loss(p, t): return 0.
    with pytest.raises(ValueError, match='valid_loss'):
        make_learner(metrics=[valid_loss])


def test_callback_argument_checks():
    with pytest.raises(ValueError, match='max_norm'):
        GradClipCB(0)
    with pytest.raises(ValueError, match='l1 and l2'):
        WeightPenaltyCB(l2=-1)
    with pytest.raises(ValueError, match='patience'):
        EarlyStoppingCB(patience=0)
    with pytest.raises(ValueError, match='mode'):
        EarlyStoppingCB(mode='up')
    with pytest.raises(ValueError, match='Unknown dtype'):
        MixedPrecisionCB('fp8')


def test_early_stopping_unknown_monitor():
    learn = make_learner()
    with pytest.raises(KeyError, match="monitors 'accuracy'.*valid_loss"):
        learn.fit(2, cbs=[EarlyStoppingCB('accuracy')])


def test_get_preds_unknown_loader():
    learn = make_learner()
    with pytest.raises(ValueError, match="no 'test' DataLoader"):
        learn.get_preds('test')


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        make_learner().load(tmp_path / 'nope.pt')


def test_plot_before_fit():
    with pytest.raises(ValueError, match='call fit first'):
        make_learner().plot()


# --- the loop ------------------------------------------------------------------------------

def test_history_columns_and_epochs_continue():
    learn = make_learner(metrics=[acc], lr=1e-2)
    learn.fit(2)
    learn.fit(1)
    h = learn.history
    assert list(h.columns) == ['epoch', 'train_loss', 'valid_loss', 'acc', 'lr', 'grad_norm', 'seconds']
    assert h.epoch.tolist() == [1, 2, 3]  # epochs count from 1 and go on across fits
    assert h.notna().all().all()
    assert len(learn.grad_norms) == len(learn.dls.train)  # the last fit's steps


def test_no_valid_loader_gives_nan_valid_loss():
    learn = Learner(mlp(), SimpleNamespace(train=make_dls().train, valid=None), device='cpu')
    learn.fit(1)
    assert math.isnan(learn.history.valid_loss.iloc[0]) and learn.history.train_loss.iloc[0] > 0


def test_request_stop_after_current_batch():
    class StopCB(Callback):
        def after_batch(self, learn):
            if learn.training and learn.iter == 1:
                learn.request_stop()
    learn = make_learner()
    counter = CountStepsCB()
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(5, cbs=[StopCB(), counter])
    assert counter.steps == 2  # stopped after the second batch of the first epoch
    assert len(learn.history) == 1 and learn.partial_epoch == 1 and learn.partial_batches == 2
    assert learn.history.attrs['partial_epoch'] == {'epoch': 1, 'batches_trained': 2}
    assert any(not torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))  # weights kept
    learn.fit(1)  # a new fit starts afresh
    assert learn.partial_epoch is None and len(learn.history) == 2


def test_cancel_exceptions_and_after_fit_always_runs():
    class CancelCB(Callback):
        order = 200  # after HistoryCB (100), so the epoch is recorded before the cancel
        def before_fit(self, learn): self.ended = False
        def before_batch(self, learn):
            if learn.training and learn.iter == 0:
                raise CancelBatchException()
        def after_epoch(self, learn):
            raise CancelFitException()
        def after_fit(self, learn):
            self.ended = learn is not None
    learn = make_learner()
    cb, counter = CancelCB(), CountStepsCB()
    learn.fit(3, cbs=[cb, counter])
    assert cb.ended and counter.steps == len(learn.dls.train) - 1
    assert len(learn.history) == 1  # one epoch, then the cancel
    assert cb not in learn.cbs and counter not in learn.cbs  # fit-only callbacks are removed


def test_after_fit_runs_on_error():
    class BoomCB(Callback):
        def after_pred(self, learn): raise RuntimeError('boom')
        def after_fit(self, learn): self.closed = True
    cb = BoomCB()
    learn = make_learner(cbs=[cb])
    with pytest.raises(RuntimeError, match='boom'):
        learn.fit(1)
    assert cb.closed


def test_tuple_inputs_are_unpacked():
    class TwoIn(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)
        def forward(self, x, scale):  # x (B, 2), scale (B,)
            return self.lin(x) * scale[:, None]
    x, y = points(32)
    dl = DataLoader(TensorDataset(x, torch.ones(32), y), batch_size=8, collate_fn=lambda b: ((torch.stack([i[0] for i in b]), torch.stack([i[1] for i in b])), torch.stack([i[2] for i in b])))
    learn = Learner(TwoIn(), SimpleNamespace(train=dl, valid=dl), device='cpu')
    learn.fit(1)
    preds, targs = learn.get_preds()
    assert preds.shape == (32, 3) and targs.shape == (32,)


def test_get_preds_shapes_and_order():
    learn = make_learner(metrics=[acc])
    learn.fit(1)
    preds, targs = learn.get_preds()
    assert preds.shape == (32, 3) and preds.dtype == torch.float32 and targs.shape == (32,)
    assert torch.equal(targs, points()[1][:32])  # unshuffled loader: dataset order
    assert learn.validate()['acc'] == pytest.approx(acc(preds, targs))
    preds, targs = learn.get_preds('train')
    assert preds.shape == (64, 3)


class TinyLM(nn.Module):
    def __init__(self, vocab_size=10, embedding_dim=8):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, embedding_dim)
        self.head = nn.Linear(embedding_dim, vocab_size)
    def forward(self, idx, targets=None):  # idx (B, T)
        logits = self.head(self.emb(idx))  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def lm_dls(n=96, T=6, V=10):
    g = torch.Generator().manual_seed(0)
    seqs = (torch.randint(0, V, (n, 1), generator=g) + torch.arange(T + 1)) % V
    ds = lambda s: TensorDataset(s[:, :-1], s[:, 1:])
    return SimpleNamespace(train=DataLoader(ds(seqs[:64]), batch_size=16, shuffle=True), valid=DataLoader(ds(seqs[64:]), batch_size=16))


def test_language_model_path():
    set_seed(0)
    learn = Learner(TinyLM(), lm_dls(), loss_func=None, lr=5e-2, device='cpu')
    learn.fit(3)
    h = learn.history
    assert h.valid_loss.iloc[-1] < 0.5 * h.valid_loss.iloc[0]
    preds, targs = learn.get_preds()
    assert preds.shape == (32, 6, 10) and targs.shape == (32, 6)


def test_language_model_variable_lengths_are_flattened():
    set_seed(0)
    a, b = torch.randint(0, 10, (4, 5)), torch.randint(0, 10, (4, 7))
    dl = [(a, a), (b, b)]
    learn = Learner(TinyLM(), SimpleNamespace(train=dl, valid=dl), loss_func=None, device='cpu')
    preds, targs = learn.get_preds()
    assert preds.shape == (4 * 5 + 4 * 7, 10) and targs.shape == (48,)


def test_language_model_must_return_pair():
    learn = Learner(mlp(), make_dls(), loss_func=None, device='cpu')
    with pytest.raises(TypeError, match=r'loss_func=None.*targets=.*\(logits, loss\)'):
        learn.fit(1)
    class LogitsOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)
        def forward(self, x, targets=None): return self.lin(x)
    learn = Learner(LogitsOnly(), make_dls(), loss_func=None, device='cpu')
    with pytest.raises(TypeError, match=r'return \(logits, loss\).*LogitsOnly returned Tensor'):
        learn.fit(1)


# --- callbacks ------------------------------------------------------------------------------

def test_early_stopping_restores_best_weights():
    x, y = points(200)
    y[:40] = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(1))  # noisy train labels
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x[:40], y[:40]), batch_size=8, shuffle=True),
                          valid=DataLoader(TensorDataset(x[40:], y[40:]), batch_size=160))
    set_seed(0)
    learn = Learner(mlp(128), dls, lr=3e-2, device='cpu')
    es = EarlyStoppingCB(patience=2, verbose=False)
    learn.fit(40, cbs=[es])
    h = learn.history
    assert len(h) < 40 and h.epoch.iloc[-1] == learn.best_epoch + 2
    assert learn.validate()['valid_loss'] == pytest.approx(h.valid_loss.min(), abs=1e-6)


def test_early_stopping_max_mode_for_metrics():
    assert EarlyStoppingCB('acc').mode == 'max'
    assert EarlyStoppingCB('valid_loss').mode == 'min'
    assert EarlyStoppingCB('error_rate').mode == 'min'


def test_grad_clip_records_norm_each_step():
    learn = make_learner(cbs=[GradClipCB(0.01)], lr=1e-2)
    learn.fit(2)
    assert len(learn.grad_norms) == 2 * len(learn.dls.train)
    assert all(n > 0.01 for n in learn.grad_norms)  # recorded before clipping
    assert learn.history.grad_norm.iloc[0] == pytest.approx(sum(learn.grad_norms[:4]) / 4, rel=1e-5)


def test_weight_penalty_shrinks_weights():
    plain, l2 = make_learner(lr=1e-2), make_learner(lr=1e-2, cbs=[WeightPenaltyCB(l2=1.0)])
    plain.fit(3)
    l2.fit(3)
    assert l2.model[0].weight.norm() < plain.model[0].weight.norm()


@pytest.mark.parametrize('name', ['cosine', 'onecycle'])
def test_lr_schedules(name):
    learn = make_learner(lr=1e-2)
    learn.fit(2, cbs=[LRSchedCB(name)])
    lrs = learn.lrs
    assert len(lrs) == 2 * len(learn.dls.train)
    if name == 'cosine':
        assert lrs[0] == pytest.approx(1e-2) and lrs[-1] < 1e-3
        assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    else:
        peak = max(range(len(lrs)), key=lrs.__getitem__)
        assert 0 < peak < len(lrs) - 1 and lrs[0] < 1e-2 and max(lrs) == pytest.approx(1e-2, rel=0.05)


def test_mixed_precision_is_a_no_op_on_cpu():
    a = make_learner()
    a.fit(2)
    b = make_learner(cbs=[MixedPrecisionCB()])
    b.fit(2)
    assert a.history.train_loss.tolist() == b.history.train_loss.tolist()
    assert b.scaler is None


def test_checkpoint_written_atomically(tmp_path):
    path = tmp_path / 'ck' / 'model.pt'
    learn = make_learner()
    ck = CheckpointCB(path)
    learn.fit(2, cbs=[ck])
    assert path.exists() and os.listdir(path.parent) == ['model.pt']  # no temporary files left
    assert torch.load(path)['history'][-1]['epoch'] == 2
    good = path.read_bytes()

    real_save = torch.save
    def broken_save(obj, f, *a, **kw):
        f.write(b'half a checkpoint')
        raise OSError('disk full')
    torch.save = broken_save
    try:
        with pytest.raises(OSError, match='disk full'):
            learn.save(path)
    finally:
        torch.save = real_save
    assert path.read_bytes() == good  # the old checkpoint is intact
    assert os.listdir(path.parent) == ['model.pt']  # and the temporary file is gone


def test_checkpoint_per_epoch_and_end_of_fit(tmp_path):
    learn = make_learner()
    learn.fit(2, cbs=[CheckpointCB(tmp_path / 'e{epoch}.pt')])
    assert sorted(os.listdir(tmp_path)) == ['e1.pt', 'e2.pt']  # epochs count from 1
    learn.fit(1, cbs=[CheckpointCB(tmp_path / 'final.pt', every_epoch=False)])
    assert (tmp_path / 'final.pt').exists() and not (tmp_path / 'e3.pt').exists()


def test_save_load_round_trip(tmp_path):
    learn = make_learner(metrics=[acc])
    learn.fit(2)
    learn.save(tmp_path / 'm.pt')
    other = Learner(mlp(), learn.dls, metrics=[acc], device='cpu').load(tmp_path / 'm.pt')
    assert other.validate() == learn.validate()
    pd.testing.assert_frame_equal(other.history, learn.history)
    other.fit(1)
    assert other.history.epoch.tolist() == [1, 2, 3]


def test_silent_without_progress_and_prints_with_it(capsys):
    make_learner().fit(1)
    out = capsys.readouterr()
    assert out.out == '' and out.err == ''
    make_learner().fit(2, cbs=[ProgressCB()])
    out = capsys.readouterr()
    assert 'train_loss' in out.out + out.err and 'epochs' in out.err


def test_progress_plot_is_skipped_outside_notebooks(capsys):
    learn = make_learner()
    learn.fit(1, cbs=[ProgressCB(plot=True, bars=False, table=False)])
    out = capsys.readouterr()
    assert out.out == '' and out.err == ''


def test_to_device_keeps_structure():
    from collections import namedtuple
    P = namedtuple('P', 'a b')
    out = to_device({'x': (torch.ones(1), [P(torch.zeros(1), 3)])}, 'cpu')
    assert isinstance(out['x'][1][0], P) and out['x'][1][0].b == 3


# --- sweep and kfold ------------------------------------------------------------------------

def train_fn(lr, hidden_size=16, epochs=1):
    learn = Learner(mlp(hidden_size), make_dls(), lr=lr, metrics=[acc], device='cpu')
    learn.fit(epochs)
    return learn


def test_sweep_grid_rows_and_columns():
    df = sweep({'lr': [1e-3, 1e-2], 'hidden_size': [4, 8]}, train_fn)
    assert len(df) == 4
    assert list(df.columns) == ['lr', 'hidden_size', 'acc', 'best_epoch', 'final_train_loss', 'final_valid_loss', 'seconds']
    assert df[['lr', 'hidden_size']].values.tolist() == [[1e-3, 4], [1e-3, 8], [1e-2, 4], [1e-2, 8]]


def test_sweep_repeats_with_the_same_seed():
    a = sweep({'lr': [1e-2], 'epochs': 2}, train_fn, seed=3)
    b = sweep({'lr': [1e-2], 'epochs': 2}, train_fn, seed=3)
    assert a.drop(columns='seconds').equals(b.drop(columns='seconds'))


def test_sweep_random_points():
    pts = sweep_points({'lr': (1e-4, 1e-1, 'log'), 'hidden_size': (4, 32), 'act': ['relu', 'tanh'], 'epochs': 2}, n=20, seed=0)
    assert len(pts) == 20 and pts == sweep_points({'lr': (1e-4, 1e-1, 'log'), 'hidden_size': (4, 32), 'act': ['relu', 'tanh'], 'epochs': 2}, n=20, seed=0)
    assert all(1e-4 <= p['lr'] <= 1e-1 and isinstance(p['hidden_size'], int) and p['epochs'] == 2 for p in pts)
    assert {p['act'] for p in pts} == {'relu', 'tanh'}
    df = sweep({'lr': (1e-3, 1e-2)}, train_fn, n=2)
    assert len(df) == 2


@pytest.mark.parametrize('space, n, msg', [
    ({}, None, 'non-empty dict'),
    ({'lr': []}, None, 'empty list'),
    ({'lr': (1e-3, 1e-2)}, None, 'give n='),
    ({'lr': [1e-3]}, 0, 'n must be'),
    ({'lr': (1e-2, 1e-3)}, 2, 'low <= high'),
    ({'lr': (0, 1e-3, 'log')}, 2, 'low > 0'),
])
def test_sweep_bad_spaces(space, n, msg):
    with pytest.raises(ValueError, match=msg):
        sweep_points(space, n)


def test_sweep_bad_train_fn_and_metric():
    with pytest.raises(TypeError, match='fitted Learner'):
        sweep({'lr': [1e-3]}, lambda lr: None)
    with pytest.raises(ValueError, match="'f1' is not a history column"):
        sweep({'lr': [1e-3]}, train_fn, metric='f1')


def test_run_summary_picks_min_for_losses_and_max_for_metrics():
    h = pd.DataFrame({'epoch': [0, 1, 2], 'train_loss': [3., 2., 1.], 'valid_loss': [2., 1., 1.5], 'acc': [.5, .7, .6]})
    assert run_summary(h) == {'acc': .7, 'best_epoch': 1, 'final_train_loss': 1., 'final_valid_loss': 1.5}
    assert run_summary(h, 'valid_loss')['valid_loss'] == 1.


def test_kfold_rows_mean_std():
    seen = []
    def fold_fn(fold):
        seen.append(fold)
        return train_fn(1e-2)
    df = kfold(fold_fn, 3)
    assert seen == [0, 1, 2] and list(df.index) == [0, 1, 2, 'mean', 'std']
    assert df.loc['mean', 'acc'] == pytest.approx(df.acc.iloc[:3].mean())
    assert df.loc['std', 'acc'] == pytest.approx(df.acc.iloc[:3].std())
    with pytest.raises(ValueError, match='at least 2 folds'):
        kfold(fold_fn, [0])


# --- nothing half-done, nothing silent ------------------------------------------------------

def test_hooks_take_the_learner_only():
    class NoArgCB(Callback):
        def before_fit(self): pass  # the old fastai style is no longer detected
    with pytest.raises(TypeError):
        make_learner().fit(1, cbs=[NoArgCB()])


def test_nan_loss_stops_the_fit_naming_epoch_and_batch():
    x, y = points(96)
    x[60] = float('nan')  # training item 28: batch 1 with bs=16, no shuffle
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x[32:], y[32:]), batch_size=16),
                          valid=DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16))
    set_seed(0)
    with pytest.raises(FloatingPointError, match='epoch 1, training batch 2'):  # both counted from 1
        Learner(mlp(), dls, device='cpu').fit(3)


def test_nan_loss_leaves_the_weights_finite():
    x, y = points(96)
    x[60] = float('inf')
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x[32:], y[32:]), batch_size=16),
                          valid=DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16))
    learn = Learner(mlp(), dls, device='cpu')
    with pytest.raises(FloatingPointError, match='weights are still finite'):
        learn.fit(2)
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


@pytest.mark.parametrize('err', [RuntimeError('boom'), KeyboardInterrupt()])
@pytest.mark.parametrize('hook', ['after_pred', 'before_step', 'after_batch'])
def test_interrupted_fit_leaves_a_consistent_learner(err, hook):
    class BoomCB(Callback):
        pass
    def boom(self, learn):
        if learn.training and learn.epoch == 2 and learn.iter == 2:
            raise err
    setattr(BoomCB, hook, boom)
    learn, cb = make_learner(metrics=[acc]), BoomCB()
    with pytest.raises(type(err)):
        learn.fit(3, cbs=[cb])
    assert not learn.model.training and not learn.training
    assert cb not in learn.cbs
    h = learn.history
    assert h.epoch.tolist() == [1, 2]
    assert math.isnan(h.valid_loss.iloc[1]) and not math.isnan(h.train_loss.iloc[1])
    assert h.attrs['interrupted']['epoch'] == 2 and h.attrs['interrupted']['phase'] == 'train'
    assert h.attrs['interrupted']['batches_trained'] == 2  # batches 0 and 1 finished; batch 2 raised
    learn.fit(1)
    assert learn.history.epoch.tolist() == [1, 2, 3] and 'interrupted' not in learn.history.attrs


def test_error_in_the_model_during_validation_is_recorded():
    class FailOnEval(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp()
        def forward(self, x):
            if not self.training:
                raise ValueError('eval broke')
            return self.net(x)
    learn = Learner(FailOnEval(), make_dls(), device='cpu')
    with pytest.raises(ValueError, match='eval broke'):
        learn.fit(2)
    h = learn.history
    assert h.epoch.tolist() == [1] and h.attrs['interrupted']['phase'] == 'validate'
    assert h.attrs['interrupted']['batches_trained'] == len(learn.dls.train)
    assert not learn.model.training


def test_fit_calls_set_epoch_on_the_samplers():
    class EpochBatches(torch.utils.data.BatchSampler):
        seen = []
        def set_epoch(self, epoch): self.seen.append(epoch)
    x, y = points(64)
    ds = TensorDataset(x, y)
    bs = EpochBatches(torch.utils.data.SequentialSampler(ds), batch_size=16, drop_last=False)
    dls = SimpleNamespace(train=DataLoader(ds, batch_sampler=bs), valid=None)
    learn = Learner(mlp(), dls, device='cpu')
    learn.fit(2)
    learn.fit(1)
    assert EpochBatches.seen == [0, 1, 2]  # epochs 1, 2, 3 are the samplers' passes 0, 1, 2


def test_loss_with_reduction_none_is_a_clear_error():
    learn = make_learner(loss_func=partial(F.cross_entropy, reduction='none'))
    with pytest.raises(ValueError, match=r"shape \(16,\).*reduction='mean'"):
        learn.fit(1)


def test_labels_outside_the_outputs_are_a_clear_error():
    x, y = points(48)
    y[5] = 7
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x, y), batch_size=16), valid=None)
    with pytest.raises(ValueError, match=r"class id 7, outside the model's 3 outputs \(0\.\.2\)"):
        Learner(mlp(), dls, device='cpu').fit(1)


def test_labels_are_checked_before_the_loss_sees_them():
    "On CUDA a bad id is a device-side assert inside the loss, so the check must come first (from the CPU batch)."
    x, y = points(48)
    y[20] = 3
    seen = []
    def loss(p, t):
        seen.append(int(t.max()))
        return F.cross_entropy(p, t)
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x, y), batch_size=16), valid=None)
    learn = Learner(mlp(), dls, loss_func=loss, device='cpu')
    with pytest.raises(ValueError, match=r"class id 3, outside the model's 3 outputs"):
        learn.fit(1)
    assert seen == [2]  # the first batch reached the loss, the bad second one did not
    y[20] = -100  # cross_entropy's ignore_index is not an error
    Learner(mlp(), dls, device='cpu').fit(1)
    y[20] = -2
    with pytest.raises(ValueError, match=r"class id -2.*not negative"):
        Learner(mlp(), dls, device='cpu').fit(1)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error raised without CUDA')
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match='CUDA is not available'):
        Learner(mlp(), make_dls(), device='cuda')


# --- loading: all or nothing ----------------------------------------------------------------

def _params(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_load_model_state_of_another_shape_changes_nothing(tmp_path):
    from seqlab.learner import load_model_state
    wide = Learner(mlp(hidden_size=32), make_dls(), device='cpu')
    wide.save(tmp_path / 'wide.pt')
    torch.save(mlp(hidden_size=32).state_dict(), tmp_path / 'bare.pt')
    for f in ('wide.pt', 'bare.pt'):
        m = mlp(hidden_size=16)
        before = _params(m)
        with pytest.raises(ValueError, match=r"'0\.weight' is \(32, 2\) in the checkpoint but \(16, 2\) in the model.*Nothing was loaded"):
            load_model_state(m, tmp_path / f)
        assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # bit for bit


def test_load_model_state_names_missing_and_unexpected_keys():
    from seqlab.learner import load_model_state
    state = mlp().state_dict()
    state['extra.weight'] = torch.zeros(1)
    del state['2.bias']
    m = mlp()
    before = _params(m)
    with pytest.raises(ValueError, match=r"missing keys '2\.bias'.*unexpected keys 'extra\.weight'"):
        load_model_state(m, state)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_load_model_state_accepts_checkpoints_bare_files_and_dicts(tmp_path):
    from seqlab.learner import load_model_state
    src = mlp()
    torch.save(src.state_dict(), tmp_path / 'bare.pt')
    for given in (tmp_path / 'bare.pt', str(tmp_path / 'bare.pt'), src.state_dict(), {'model': src.state_dict()}):
        m = load_model_state(mlp(), given)
        assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), src.state_dict().values()))


def test_load_model_state_bad_files(tmp_path):
    from seqlab.learner import load_model_state
    with pytest.raises(FileNotFoundError, match='it is a folder'):
        load_model_state(mlp(), tmp_path)
    (tmp_path / 'junk.pt').write_text('not a checkpoint')
    with pytest.raises(ValueError, match='not a file torch.load can read'):
        load_model_state(mlp(), tmp_path / 'junk.pt')
    torch.save([1, 2, 3], tmp_path / 'list.pt')
    with pytest.raises(TypeError, match='holds a list, not a checkpoint'):
        load_model_state(mlp(), tmp_path / 'list.pt')


def test_learner_load_of_another_shape_keeps_weights_history_and_opt(tmp_path):
    wide = Learner(mlp(hidden_size=32), make_dls(), device='cpu')
    wide.fit(1)
    wide.save(tmp_path / 'wide.pt')
    learn = make_learner()
    learn.fit(2)
    before, rows = _params(learn.model), list(learn._rows)
    opt_before = {k: v['exp_avg'].clone() for k, v in learn.opt.state_dict()['state'].items()}
    with pytest.raises(ValueError, match='Nothing was loaded'):
        learn.load(tmp_path / 'wide.pt')
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    assert learn._rows == rows
    assert all(torch.equal(opt_before[k], v['exp_avg']) for k, v in learn.opt.state_dict()['state'].items())


def test_learner_load_of_a_bare_state_dict(tmp_path):
    src = make_learner()
    src.fit(1)
    torch.save(src.model.state_dict(), tmp_path / 'bare.pt')
    learn = make_learner()
    learn.fit(2)
    learn.load(tmp_path / 'bare.pt')
    assert learn.validate() == src.validate()
    assert len(learn.history) == 2  # a bare state dict carries no history: it is kept


def test_learner_load_with_another_optimizer_layout_loads_nothing(tmp_path):
    src = make_learner()
    src.fit(1)
    src.save(tmp_path / 'm.pt')
    learn = make_learner(opt_func=lambda ps, lr: torch.optim.Adam([{'params': list(ps)[:2]}, {'params': []}], lr=lr))
    learn.fit(1)
    before = _params(learn.model)
    with pytest.raises(ValueError, match='with_opt=False'):
        learn.load(tmp_path / 'm.pt')
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    learn.load(tmp_path / 'm.pt', with_opt=False)
    assert learn.validate() == src.validate()


# --- checkpoint paths are checked before training --------------------------------------------

def test_checkpoint_unknown_placeholder(tmp_path):
    with pytest.raises(ValueError, match=r"placeholder\(s\) \['fold'\].*only \{epoch\}"):
        CheckpointCB(tmp_path / 'm-{fold}.pt')
    with pytest.raises(ValueError, match=r"placeholder\(s\) \[''\]"):
        CheckpointCB(tmp_path / 'm-{}.pt')
    CheckpointCB(tmp_path / 'm-{epoch:03d}.pt')  # a format spec is fine


def test_checkpoint_path_that_is_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a folder'):
        CheckpointCB(tmp_path)


def test_checkpoint_unwritable_folder_fails_before_training(tmp_path):
    cb = CheckpointCB(tmp_path / 'ro' / 'm.pt')
    counter = CountStepsCB()
    real_access = os.access
    with pytest.MonkeyPatch.context() as mp:  # root may write anywhere, so simulate a read-only folder
        mp.setattr(os, 'access', lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
        with pytest.raises(PermissionError, match='not a folder this user may write to'):
            make_learner().fit(1, cbs=[cb, counter])
    assert counter.steps == 0


def test_checkpoint_parent_that_is_a_file(tmp_path):
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(PermissionError, match='afile is not a folder'):
        CheckpointCB(tmp_path / 'afile' / 'm.pt')


# --- sweep keeps finished runs; kfold scores the final epoch ----------------------------------

def flaky_fn(lr, hidden_size=16, epochs=1):
    if lr > 1:
        raise RuntimeError(f'diverged at lr={lr}')
    return train_fn(lr, hidden_size, epochs)


def test_sweep_keeps_finished_runs_and_records_the_failed_one():
    with pytest.warns(UserWarning, match="1 of 3 runs failed .*diverged at lr=10"):
        df = sweep({'lr': [1e-3, 10, 1e-2]}, flaky_fn)
    assert len(df) == 3 and list(df.columns)[-1] == 'error'
    assert df.error.isna().tolist() == [True, False, True]
    assert df.error.iloc[1] == 'RuntimeError: diverged at lr=10'
    assert df.acc.notna().tolist() == [True, False, True]
    assert df.columns.tolist()[:6] == ['lr', 'acc', 'best_epoch', 'final_train_loss', 'final_valid_loss', 'seconds']


def test_sweep_on_error_stop_returns_the_rows_so_far():
    with pytest.warns(UserWarning):
        df = sweep({'lr': [1e-3, 10, 1e-2]}, flaky_fn, on_error='stop')
    assert df.lr.tolist() == [1e-3, 10] and df.error.notna().tolist() == [False, True]
    with pytest.raises(ValueError, match="on_error must be 'continue' or 'stop'"):
        sweep({'lr': [1e-3]}, flaky_fn, on_error='ignore')


def test_sweep_where_every_run_fails():
    with pytest.warns(UserWarning, match='2 of 2 runs failed'):
        df = sweep({'lr': [10, 20]}, flaky_fn)
    assert df.columns.tolist() == ['lr', 'seconds', 'error']


def test_kfold_scores_the_final_epoch_not_the_best():
    hs = [pd.DataFrame({'epoch': [0, 1, 2], 'train_loss': [1., .8, .6], 'valid_loss': [1., .9, 1.1], 'acc': [.5, .9, .6]}),
          pd.DataFrame({'epoch': [0, 1, 2], 'train_loss': [1., .8, .6], 'valid_loss': [1., .9, 1.1], 'acc': [.4, .8, .7]})]
    df = kfold(lambda i: hs[i], 2)
    assert df.acc.iloc[:2].tolist() == [.6, .7]  # not the best epochs' .9 and .8
    assert df.epoch.iloc[:2].tolist() == [2, 2]
    assert df.loc['mean', 'acc'] == pytest.approx(.65)
    assert df.columns.name == 'acc at the final epoch of each fold'
    assert 'best_epoch' not in df.columns


def test_an_error_before_training_is_not_masked_by_after_fit(tmp_path):
    class FailFirstCB(Callback):
        order = -100
        def before_fit(self, learn): raise RuntimeError('setup failed')
    learn = make_learner()
    learn.fit(1)
    cbs = [FailFirstCB(), EarlyStoppingCB(), CheckpointCB(tmp_path / 'm.pt', every_epoch=False), ProgressCB(bars=False, table=False)]
    with pytest.raises(RuntimeError, match='setup failed'):
        learn.fit(1, cbs=cbs)
    assert not (tmp_path / 'm.pt').exists() and len(learn.history) == 1
    learn.fit(1)
    assert learn.history.epoch.tolist() == [1, 2]


# --- smoke runs (a fast dev run), cost projection, loops over runs --------------------------

import json
from unittest import mock

import seqlab.learner as learner_mod
from seqlab.learner import CostCB, each_run, overfit_batch


def smoke_env(**kw):
    return mock.patch.dict(os.environ, {'SEQLAB_SMOKE': '1', 'SEQLAB_SMOKE_BATCHES': '', **kw})


def test_smoke_fit_is_one_epoch_of_a_few_batches_and_says_so_once(capsys):
    learner_mod._SMOKE_SAID.clear()
    counter = CountStepsCB()
    with smoke_env():
        learn = make_learner(metrics=[acc])
        learn.fit(5, cbs=[counter])
        learn.fit(2)
    assert counter.steps == 3 and len(learn.history) == 2  # 1 epoch of 3 batches per fit
    assert learn.n_epochs_asked == 2 and learn.smoke is True
    assert capsys.readouterr().out.count('SMOKE run') == 1
    # model size and batch size are untouched; outside fit nothing is cut
    assert learn.validate()['valid_loss'] > 0 and len(learn.get_preds()[1]) == 32


def test_smoke_caps_validation_and_follows_the_batches_setting():
    seen = []
    class CountValid(Callback):
        def after_batch(self, learn):
            if not learn.training: seen.append(learn.iter)
    x, y = points(400)
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x[100:], y[100:]), batch_size=10),
                          valid=DataLoader(TensorDataset(x[:100], y[:100]), batch_size=10))
    with smoke_env(SEQLAB_SMOKE_BATCHES='5'):
        counter = CountStepsCB()
        Learner(mlp(), dls, device='cpu', cbs=[counter, CountValid()]).fit(3)
    assert counter.steps == 5 and seen == [0, 1, 2, 3, 4]


def test_smoke_false_and_outside_a_smoke_run_trains_in_full():
    with smoke_env():
        counter = CountStepsCB()
        learn = make_learner(smoke=False)
        learn.fit(2, cbs=[counter])
    assert counter.steps == 2 * len(learn.dls.train) and len(learn.history) == 2
    counter = CountStepsCB()
    make_learner(smoke=True).fit(1, cbs=[counter])
    assert counter.steps == 3


def test_overfit_batch_is_not_cut_by_a_smoke_run():
    x, y = points(16)
    set_seed(0)
    with smoke_env():
        r = overfit_batch(mlp(64), (x, y), steps=150, metrics=[acc], device='cpu')
    assert r['last_loss'] < 0.1 * r['first_loss']


def test_smoke_sweep_and_kfold_make_two_runs():
    with smoke_env():
        df = sweep({'lr': [1e-3, 1e-2, 3e-2], 'hidden_size': [4, 8]}, train_fn)
        seen = []
        cv = kfold(lambda f: seen.append(f) or train_fn(1e-2), 5)
    assert len(df) == 2 and seen == [0, 1] and list(cv.index) == [0, 1, 'mean', 'std']


def test_smoke_optuna_sweep_makes_two_trials():
    pytest.importorskip('optuna')
    with smoke_env():
        df = sweep({'lr': (1e-3, 1e-1, 'log')}, train_fn, engine='optuna', n_trials=6, metric='acc')
    assert len(df) == 2


@pytest.mark.parametrize('kw, err, msg', [
    (dict(smoke='yes'), TypeError, 'smoke must be True, False or None'),
    (dict(cost=1), TypeError, 'cost must be True, False or None'),
    (dict(cbs=[ProgressCB]), TypeError, r'pass an instance, ProgressCB\(\)'),
    (dict(cbs=[object()]), TypeError, 'none of the hooks'),
    (dict(loss_func='cross_entropy'), TypeError, 'loss_func must be a function'),
    (dict(opt_func=None), TypeError, 'opt_func must make an optimizer'),
])
def test_learner_checks_its_arguments(kw, err, msg):
    with pytest.raises(err, match=msg):
        make_learner(**kw)


def test_learner_model_must_be_a_module():
    with pytest.raises(TypeError, match='model must be a torch.nn.Module'):
        Learner(lambda x: x, make_dls(), device='cpu')
    with pytest.raises(TypeError, match=r'pass an instance, EarlyStoppingCB\(\)'):
        make_learner().fit(1, cbs=[EarlyStoppingCB])


def test_sweep_and_kfold_check_train_fn():
    with pytest.raises(TypeError, match='train_fn must be a function'):
        sweep({'lr': [1e-3]}, 'train_fn')
    with pytest.raises(TypeError, match='train_fn must be a function'):
        kfold(None, 3)


def test_cost_projection_is_recorded_and_logged(tmp_path, capsys):
    log = tmp_path / 'cost.jsonl'
    with mock.patch.dict(os.environ, {'SEQLAB_COST_LOG': str(log)}):
        learn = make_learner(cost=True)
        learn.fit(3)
        make_learner(cost=False).fit(1)
    p = learn.cost_projection
    assert (p['n_epochs'], p['train_batches'], p['valid_batches'], p['timed_batches']) == (3, 4, 2, 3)
    assert p['fit_s'] == pytest.approx(3 * p['epoch_s']) and p['epoch_s'] == pytest.approx(p['s_per_batch'] * (4 + 2 / 3))
    out = capsys.readouterr().out
    assert out.count('projected:') == 1 and 'for this fit of 3 epochs' in out  # cost=False says nothing
    recs = [json.loads(l) for l in log.read_text().splitlines()]
    assert len(recs) == 2 and recs[0]['epochs_run'] == 3 and recs[0]['model'] == 'Sequential' and recs[0]['peak_gpu_mib'] is None


def test_cost_is_silent_in_quick_mode_and_speaks_in_full_mode(capsys):
    with mock.patch.dict(os.environ, {'SEQLAB_QUICK': '1'}):
        make_learner().fit(1)
    assert 'projected' not in capsys.readouterr().out
    with mock.patch.dict(os.environ, {'SEQLAB_QUICK': '0'}):
        make_learner().fit(1)
    assert 'projected' in capsys.readouterr().out


def test_cost_of_a_fit_with_fewer_batches_than_timed():
    x, y = points(40)
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x, y), batch_size=20), valid=None)
    for bs, n in ((20, 2), (40, 1)):
        dls.train = DataLoader(TensorDataset(x, y), batch_size=bs)
        learn = Learner(mlp(), dls, device='cpu')
        learn.fit(2)
        assert learn.cost_projection['train_batches'] == n and learn.cost_projection['s_per_batch'] > 0


def test_each_run_projects_after_the_first_and_shows_progress(capsys):
    fits = []
    for s in each_run([0, 1, 2, 3], 'seeds', show=True):
        learn = make_learner()
        learn.fit(2)
        fits.append(learn.cost_projection['runs'])
    out = capsys.readouterr().out
    assert fits == [4, 4, 4, 4]  # every fit knows the loop around it
    assert 'seeds: run 1 of 4 took' in out and 'projected ~' in out and 'seeds: 4 of 4 done in' in out
    assert learner_mod._RUNS == []


def test_each_run_in_a_smoke_run_keeps_the_first_and_projects_all(capsys):
    with smoke_env():
        r = each_run({'a': 1, 'b': 2, 'c': 3}, 'variants', keep=1, show=True)
        got = []
        for k in r:
            learn = make_learner(cost=True)
            learn.fit(10)
            got.append(k)
    assert got == ['a'] and (r.n_all, r.n_kept) == (3, 1)
    assert r.per_run >= learn.cost_projection['fit_s']  # the full-size fit, not the 3-batch one
    assert 'this smoke run makes 1' in capsys.readouterr().out


def test_each_run_nested_loops_multiply_and_clean_up_on_break():
    outer = each_run(3, 'outer', show=False)
    for i in outer:
        for j in each_run(['x', 'y'], 'inner', show=False):
            learn = make_learner()
            learn.fit(1)
            assert learn.cost_projection['runs'] == 6
            break
        break
    assert learner_mod._RUNS == []
    assert outer.per_run is None  # the first run never finished


@pytest.mark.parametrize('items, err', [([], ValueError), ('abc', TypeError), (None, TypeError)])
def test_each_run_bad_items(items, err):
    with pytest.raises(err):
        each_run(items)


def test_keyboard_interrupt_from_the_data_mid_epoch():
    class CtrlC(torch.utils.data.Dataset):
        "Ctrl-C while the loader reads item 40 of the second epoch."
        def __init__(self): self.x, self.y = points(64); self.reads = 0
        def __len__(self): return 64
        def __getitem__(self, i):
            self.reads += 1
            if self.reads == 64 + 40:
                raise KeyboardInterrupt
            return self.x[i], self.y[i]
    dls = SimpleNamespace(train=DataLoader(CtrlC(), batch_size=16), valid=make_dls().valid)
    learn = Learner(mlp(), dls, device='cpu', metrics=[acc])
    with pytest.raises(KeyboardInterrupt):
        learn.fit(3)
    h = learn.history
    assert not learn.model.training and h.epoch.tolist() == [1, 2]
    assert h.attrs['interrupted'] == {'epoch': 2, 'phase': 'train', 'batches_trained': 2, 'error': 'KeyboardInterrupt: '}
    learn.dls.train = make_dls().train
    learn.fit(1)
    assert learn.history.epoch.tolist() == [1, 2, 3]


# --- the Optuna storage -----------------------------------------------------------------------

def test_optuna_storage_that_cannot_be_written_is_a_clear_error(tmp_path):
    pytest.importorskip('optuna')
    space = {'lr': [1e-3]}
    with pytest.raises(FileNotFoundError, match='does not exist; create it first'):
        sweep(space, train_fn, engine='optuna', n_trials=1, metric='acc', storage=str(tmp_path / 'no' / 'sweep.log'), study_name='s')
    with pytest.raises(IsADirectoryError, match='is a folder'):
        sweep(space, train_fn, engine='optuna', n_trials=1, metric='acc', storage=str(tmp_path), study_name='s')
    real_access = os.access
    with pytest.MonkeyPatch.context() as mp:  # root may write anywhere, so simulate a read-only folder
        mp.setattr(os, 'access', lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
        with pytest.raises(PermissionError, match='may not write'):
            sweep(space, train_fn, engine='optuna', n_trials=1, metric='acc', storage=str(tmp_path / 's.log'), study_name='s')
    assert not (tmp_path / 's.log').exists()


def test_each_run_over_a_list_smoke_limit_already_cut_projects_every_run():
    from seqlab.core import smoke_limit
    with smoke_env():
        seeds = smoke_limit([0, 1, 2, 3])
        r = each_run(seeds, 'seeds', show=False)
        for s in r:
            learn = make_learner()
            learn.fit(2)
    assert (r.n_all, r.n_kept) == (4, 1) and learn.cost_projection['runs'] == 4 and learn.cost_projection['smoke_cut'] == 4


@pytest.mark.parametrize('make, err, msg', [
    (lambda: EarlyStoppingCB(min_delta=float('nan')), ValueError, 'min_delta must be a finite number'),
    (lambda: EarlyStoppingCB(min_delta='a'), ValueError, 'min_delta must be a finite number'),
    (lambda: WeightPenaltyCB(l1='a'), ValueError, 'l1 and l2 must be >= 0'),
    (lambda: MixedPrecisionCB(torch.int32), ValueError, 'dtype must be torch.bfloat16'),
    (lambda: CheckpointCB(None), TypeError, 'path must be a file path'),
    (lambda: to_device(torch.ones(1), 'gpu'), ValueError, "Unknown device 'gpu'"),
    (lambda: kfold(train_fn, 1.5), TypeError, 'folds must be a number of folds'),
    (lambda: kfold(train_fn, None), TypeError, 'folds must be a number of folds'),
    (lambda: each_run([1, 2], keep=0), ValueError, 'keep must be a whole number'),
])
def test_callbacks_and_helpers_check_their_arguments(make, err, msg):
    with pytest.raises(err, match=msg):
        make()
