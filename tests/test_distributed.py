"Sweeps with Optuna: shared journal storage, pruning, the sweep table, seeding; bad inputs."
import subprocess, sys, textwrap
import matplotlib
matplotlib.use('Agg')
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

optuna = pytest.importorskip('optuna')
from seqlab.data import DataLoaders
from seqlab.learner import Learner, sweep, optuna_sweep
from seqlab.metrics import accuracy, plot_sweep_heatmap

optuna.logging.set_verbosity(optuna.logging.WARNING)

TRAIN = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from seqlab.data import DataLoaders
from seqlab.learner import Learner
from seqlab.metrics import accuracy
torch.set_num_threads(1)

def train_fn(lr, hidden_size, epochs=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, generator=g)
    y = (x[:, 0] > 0).long()
    ds = TensorDataset(x, y)
    dls = DataLoaders(DataLoader(ds, batch_size=16, shuffle=True), DataLoader(ds, batch_size=32))
    model = nn.Sequential(nn.Linear(2, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 2))
    learn = Learner(model, dls, lr=lr, metrics=[accuracy], device='cpu')
    learn.fit(epochs)
    return learn
'''
exec(TRAIN)
SPACE = {'lr': (1e-3, 1e-1, 'log'), 'hidden_size': [4, 16]}


def test_two_workers_share_one_journal_file(tmp_path):
    (tmp_path / 'train_mod.py').write_text(TRAIN)
    worker = textwrap.dedent(f'''
        import optuna, sys
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sys.path.insert(0, {str(tmp_path)!r})
        from train_mod import train_fn
        from seqlab.learner import sweep
        import pathlib, time
        pathlib.Path({str(tmp_path)!r}, 'ready' + sys.argv[1]).touch()  # start together: neither may finish the study alone
        while len(list(pathlib.Path({str(tmp_path)!r}).glob('ready*'))) < 2: time.sleep(0.05)
        sweep({SPACE!r}, train_fn, engine='optuna', storage={str(tmp_path / 'study.log')!r}, study_name='s',
              n_trials=6, metric='accuracy', seed=int(sys.argv[1]))
    ''')
    procs = [subprocess.Popen([sys.executable, '-c', worker, str(i)]) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    study = optuna.load_study(study_name='s', storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / 'study.log'))))
    trials = [t for t in study.get_trials() if not t.user_attrs.get('surplus')]  # a worker that lost the race for the last trial
    assert sorted(t.number for t in trials) == list(range(6))  # exactly n_trials, no number twice
    assert all(t.state.name in ('COMPLETE', 'PRUNED') for t in trials)
    df = sweep(SPACE, train_fn, engine='optuna', storage=str(tmp_path / 'study.log'), study_name='s', n_trials=6, metric='accuracy')
    assert len(df) == 6 and sorted(df.trial) == list(range(6))  # a later caller reads the finished study, trains nothing
    assert df.worker.nunique() == 2  # both workers ran trials (the column names host:pid)


def test_pruned_trial_is_recorded_as_pruned():
    pruner = optuna.pruners.ThresholdPruner(lower=1.01)  # accuracy never reaches it: prune at the first report
    df = sweep(SPACE, train_fn, engine='optuna', n_trials=2, metric='accuracy', pruner=pruner)
    assert list(df.state) == ['pruned', 'pruned']
    assert list(df.best_epoch) == [1, 1]  # stopped after the first epoch


def test_table_feeds_plot_sweep_heatmap():
    space = {'lr': [1e-3, 1e-1], 'hidden_size': [4, 16]}
    df = sweep(space, train_fn, engine='optuna', n_trials=4, metric='accuracy')
    local = sweep(space, train_fn)
    assert set(local.columns) <= set(df.columns)
    fig = plot_sweep_heatmap(df, x='lr', y='hidden_size', metric='accuracy')
    assert len(fig.axes[0].texts) == df.groupby(['lr', 'hidden_size']).ngroups


def test_seeded_sweep_draws_the_same_configurations():
    a = sweep(SPACE, train_fn, engine='optuna', n_trials=3, metric='accuracy', seed=1)
    b = sweep(SPACE, train_fn, engine='optuna', n_trials=3, metric='accuracy', seed=1)
    c = sweep(SPACE, train_fn, engine='optuna', n_trials=3, metric='accuracy', seed=2)
    assert a[['lr', 'hidden_size']].values.tolist() == b[['lr', 'hidden_size']].values.tolist()
    assert a.lr.tolist() != c.lr.tolist()


def test_bad_inputs():
    with pytest.raises(ValueError, match='metric='):
        sweep(SPACE, train_fn, engine='optuna', n_trials=2)
    with pytest.raises(ValueError, match='n_trials'):
        optuna_sweep(SPACE, train_fn, metric='accuracy', n_trials=0)
    with pytest.raises(ValueError, match="engine must be"):
        sweep(SPACE, train_fn, engine='ray')
    with pytest.raises(TypeError, match="engine='optuna'"):
        sweep({'lr': [1e-2]}, train_fn, storage='x.log')


def test_without_optuna_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'optuna', None)
    with pytest.raises(ImportError, match=r'pip install "seqlab\[optuna\]"'):
        sweep(SPACE, train_fn, engine='optuna', n_trials=1, metric='accuracy')


# --- DDP on CPU with gloo: 2 processes started by the test ---
import os
import numpy as np
from torch.utils.data import DistributedSampler
from seqlab.data import TokenBudgetSampler
from seqlab.distributed import DDPCB, DistributedBatchSampler, launch, shard_loader, shard_valid_loader
from seqlab.learner import Callback, EarlyStoppingCB, GradClipCB, MetricsCB, MixedPrecisionCB

def _dls(valid_bs=24):
    "64 toy points; the valid loader has 3 batches (24, 24, 16), so on 2 ranks the shards differ by a batch."
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x.sum(1) > 0).long()
    ds = TensorDataset(x, y)
    return DataLoaders(DataLoader(ds, batch_size=8, shuffle=True), DataLoader(ds, batch_size=valid_bs))

class _CountValidCB(Callback):
    "Items this rank scores in its last validation."
    def before_validate(self, learn): self.n = 0
    def after_batch(self, learn):
        if not learn.training: self.n += len(learn.yb)

def _ddp_run(epochs=2, patience=None, extra=()):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    count = _CountValidCB()
    cbs = [DDPCB(), count, *extra] + ([EarlyStoppingCB('valid_loss', patience=patience, min_delta=10.0, verbose=False)] if patience else [])
    learn = Learner(nn.Linear(4, 2), _dls(), opt_func=torch.optim.SGD, lr=0.1, metrics=[accuracy], device='cpu', cbs=cbs)
    learn.fit(epochs)
    m = learn._find_cb(MetricsCB)
    return learn.model.state_dict(), learn.history, count.n, m.all_preds, m.all_targs

@pytest.fixture(scope='module')
def ddp_results():
    return launch(_ddp_run, 2)

def _one_process(epochs=2, max_norm=None):
    "One process trained on the global batches of the 2-rank run: at each step the union of the ranks' batches."
    full = _dls()
    x, y = full.train.dataset.tensors
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for ep in range(epochs):
        shards = []
        for r in range(2):
            s = DistributedSampler(full.train.dataset, 2, r, shuffle=True, seed=0, drop_last=True)
            s.set_epoch(ep)
            idx = list(s)
            shards.append([idx[i:i + 8] for i in range(0, len(idx), 8)])
        for b in (sum(bs, []) for bs in zip(*shards)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            if max_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            opt.step()
    return model

def test_ddp_weights_equal_one_process_on_the_global_batches(ddp_results):
    model = _one_process()
    for st, *_ in ddp_results:
        torch.testing.assert_close(st['weight'], model.weight.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(st['bias'], model.bias.detach(), atol=1e-5, rtol=0)

def test_ddp_with_grad_clip_and_mixed_precision_equals_one_process_clipped():
    res = launch(_ddp_run, 2, args=(2, None, (GradClipCB(0.05), MixedPrecisionCB())))  # autocast is off on the CPU
    clipped, plain = _one_process(max_norm=0.05), _one_process()
    assert (clipped.weight - plain.weight).abs().max() > 1e-3  # clipping changed the weights: the test can tell
    for st, *_ in res:
        torch.testing.assert_close(st['weight'], clipped.weight.detach(), atol=1e-5, rtol=0)

def test_ddp_valid_metrics_equal_one_process(ddp_results):
    st, h, _, preds, targs = ddp_results[0]
    learn = Learner(nn.Linear(4, 2), _dls(), metrics=[accuracy], device='cpu')
    learn.model.load_state_dict(st)
    v = learn.validate()
    assert abs(v['valid_loss'] - h.valid_loss.iloc[-1]) < 1e-6 and abs(v['accuracy'] - h.accuracy.iloc[-1]) < 1e-9
    p, t = learn.get_preds()
    torch.testing.assert_close(preds, p, atol=1e-6, rtol=0)  # gathered in the valid loader's order
    assert torch.equal(targs, t)
    for r in ddp_results[1:]:
        assert r[1][['train_loss', 'valid_loss', 'accuracy']].equals(h[['train_loss', 'valid_loss', 'accuracy']])  # same history on every rank

def test_ddp_validation_is_sharded(ddp_results):
    assert [r[2] for r in ddp_results] == [40, 24]  # rank 0: batches 0 and 2 (24 + 16 items), rank 1: batch 1

def test_valid_shards_cover_every_item_once():
    dl = DataLoader(TensorDataset(torch.arange(50)), batch_size=8)
    parts = [[b[0].tolist() for b in shard_valid_loader(dl, 3, r)] for r in range(3)]
    assert [len(p) for p in parts] == [3, 2, 2]
    assert sorted(i for p in parts for b in p for i in b) == list(range(50))
    assert shard_valid_loader(dl, 8, 0) is None  # fewer batches than ranks: every rank scores it all

def test_shards_are_disjoint_with_equal_batch_counts():
    lens = np.random.default_rng(1).integers(1, 80, 333)
    for epoch in (0, 1):
        shards = []
        for r in range(2):
            s = DistributedBatchSampler(TokenBudgetSampler(lens, 300, seed=0), 2, r)
            s.set_epoch(epoch)
            shards.append(list(s))
        assert len(shards[0]) == len(shards[1]) == len(s)
        assert not set(i for b in shards[0] for i in b) & set(i for b in shards[1] for i in b)
        tok = [sum(len(b) * lens[b].max() for b in sh) for sh in shards]
        assert abs(tok[0] - tok[1]) / max(tok) < 0.1  # balanced padded tokens
    dls = _dls()
    parts = [list(shard_loader(dls.train, 2, r)) for r in range(2)]
    assert len(parts[0]) == len(parts[1])
    with pytest.raises(ValueError, match='rank must lie'):
        DistributedBatchSampler(TokenBudgetSampler(lens, 300, seed=0), 2, 2)

def test_early_stopping_stops_every_rank_at_the_same_epoch():
    res = launch(_ddp_run, 2, args=(10, 2))
    assert [len(r[1]) for r in res] == [3, 3]  # min_delta=10: no epoch improves, stop after patience

class _OnRank(Callback):
    "Run `cb`'s hooks on one rank only: a decision that differs between ranks."
    def __init__(self, rank, cb): self.rank, self.cb, self.order = rank, cb, cb.order
    def __getattr__(self, hook):
        if hook.startswith(('before_', 'after_')) and hasattr(self.cb, hook):
            return lambda learn: getattr(self.cb, hook)(learn) if torch.distributed.get_rank() == self.rank else None
        raise AttributeError(hook)

def test_a_stop_on_one_rank_stops_every_rank():
    res = launch(_ddp_run, 2, args=(10, None, (_OnRank(1, EarlyStoppingCB('valid_loss', patience=1, min_delta=10.0, verbose=False)),)))
    assert [len(r[1]) for r in res] == [2, 2]  # rank 1 asked after epoch 1; rank 0 stopped with it

class _StopAfter(Callback):
    def __init__(self, n): self.n = n
    def after_batch(self, learn):
        if learn.training and learn.iter + 1 == self.n: learn.request_stop()

def test_a_mid_epoch_stop_on_one_rank_stops_every_rank_after_the_same_batch():
    res = launch(_ddp_run, 2, args=(3, None, (_OnRank(0, _StopAfter(2)),)))
    assert [r[1].attrs['partial_epoch'] for r in res] == [{'epoch': 1, 'batches_trained': 3}] * 2  # asked after batch 2 on rank 0: agreed with batch 3's NaN check

class _NaNOn(Callback):
    "A NaN loss on one rank, in one phase, at its second batch."
    order = -30
    def __init__(self, rank, training): self.rank, self.training = rank, training
    def after_pred(self, learn):
        if torch.distributed.get_rank() == self.rank and learn.training == self.training and learn.iter == 1:
            learn.preds = learn.preds * float('nan')

def _ddp_nan(rank, training):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    learn = Learner(nn.Linear(4, 2), _dls(), opt_func=torch.optim.SGD, lr=0.1, device='cpu', cbs=[DDPCB(), _NaNOn(rank, training)])
    try:
        learn.fit(2)
    except FloatingPointError as e:
        return str(e), torch.isfinite(learn.model.weight).all().item()
    return None

def test_a_nan_training_loss_on_one_rank_stops_every_rank():
    res = launch(_ddp_nan, 2, args=(1, True))
    assert all(r is not None for r in res), res  # no rank went on (or waited for ever)
    assert all(finite for _, finite in res)  # stopped before the step
    assert 'another process' in res[0][0] and 'training batch 1' in res[0][0]
    assert 'The loss is nan' in res[1][0]  # FiniteLossCB on the rank that had it

def test_a_nan_validation_loss_on_one_rank_stops_every_rank():
    res = launch(_ddp_nan, 2, args=(0, False))  # rank 0 scores 2 valid batches, rank 1 one: no per-batch agreement possible
    assert all(r is not None for r in res), res
    assert "batch 1 of this rank's shard (nan)" in res[0][0]
    assert "another process's shard" in res[1][0]

def test_ddpcb_without_process_group_says_how_to_start():
    learn = Learner(nn.Linear(4, 2), _dls(), device='cpu', cbs=[DDPCB()])
    with pytest.raises(RuntimeError, match='torchrun'):
        learn.fit(1)

def test_torchrun_example_exits_0():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    torchrun = os.path.join(os.path.dirname(sys.executable), 'torchrun')
    r = subprocess.run([torchrun, '--nproc_per_node=2', os.path.join(root, 'examples', 'ddp_train.py')],
                       env={**os.environ, 'SEQLAB_QUICK': '1'}, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'effective batch 64' in r.stdout

def _ddp_checkpoint(folder):
    from seqlab.learner import CheckpointCB
    torch.set_num_threads(1)
    ck = CheckpointCB(os.path.join(folder, 'model-{epoch}.pt'))
    learn = Learner(nn.Linear(4, 2), _dls(), device='cpu', cbs=[DDPCB(), ck])
    learn.fit(2)
    return len(ck.saved)

def test_only_rank_0_writes_checkpoints(tmp_path):
    assert launch(_ddp_checkpoint, 2, args=(str(tmp_path),)) == [2, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model-1.pt', 'model-2.pt']

def test_launch_with_spawn_trains_the_same_weights(ddp_results):
    res = launch(_ddp_run, 2, start_method='spawn')  # fn importable from this module, as spawn needs
    for (st, *_), (ref, *_) in zip(res, ddp_results):
        torch.testing.assert_close(st['weight'], ref['weight'], atol=1e-6, rtol=0)

def test_launch_bad_inputs():
    with pytest.raises(ValueError, match='nprocs must be'):
        launch(_ddp_run, 0)
    with pytest.raises(ValueError, match='start_method'):
        launch(_ddp_run, 2, start_method='thread')
    with pytest.raises(TypeError, match='args must be a tuple'):
        launch(_ddp_run, 2, args=3)
    with pytest.raises(TypeError, match='fn must be a function'):
        launch('train', 2)
    with pytest.raises(ValueError, match='timeout must be a positive number'):
        launch(_ddp_run, 2, timeout=0)
    with pytest.raises(ValueError, match='limit must be a positive number'):
        launch(_ddp_run, 2, limit=-1)
    with pytest.raises(ValueError, match='timeout must be a positive number'):
        from seqlab.distributed import init_distributed
        init_distributed('gloo', timeout='soon')

def _ddp_progress():
    import contextlib, io
    from seqlab.learner import ProgressCB
    torch.set_num_threads(1)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        Learner(nn.Linear(4, 2), _dls(), device='cpu', cbs=[DDPCB(), ProgressCB()]).fit(2)
    return out.getvalue() + err.getvalue()

def test_only_rank_0_shows_progress():
    shown = launch(_ddp_progress, 2)
    assert 'epochs' in shown[0] and 'train_loss' in shown[0]  # the bars and the epoch rows
    assert shown[1] == ''

def test_ddp_overhead_bench_runs():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, 'bench', 'ddp_overhead.py'), '--steps', '5', '--repeats', '1', '--hidden', '16'],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'ratio ddp / ddp-no-agree' in r.stdout and '2 DDP process(es)' in r.stdout


# --- nothing hangs: every wait on other processes ends, with an error naming the rank ---
import time, signal

def _silent_rank_1():
    if torch.distributed.get_rank() == 1:
        time.sleep(120)  # hangs: never reaches the all-reduce
    torch.distributed.all_reduce(torch.ones(1))

def _failing_rank_1():
    if torch.distributed.get_rank() == 1:
        raise ValueError('bad shard')
    torch.distributed.all_reduce(torch.ones(1))

def _killed_rank_1():
    if torch.distributed.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    torch.distributed.all_reduce(torch.ones(1))

def _every_rank_hangs():
    time.sleep(120)

def test_a_rank_that_stops_answering_is_named_after_the_timeout():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r'rank\(s\) 1 did not answer.*rank 0 waited more than 3 s'):
        launch(_silent_rank_1, 2, backend='gloo', timeout=3)
    assert time.monotonic() - t0 < 60

def test_a_rank_that_fails_is_named_with_its_error():
    with pytest.raises(RuntimeError, match=r'rank 1 failed: ValueError: bad shard \(at test_distributed.py:\d+ _failing_rank_1\)'):
        launch(_failing_rank_1, 2, backend='gloo', timeout=30)

def test_a_rank_that_dies_is_named():
    with pytest.raises(RuntimeError, match='rank 1 died from signal 9'):
        launch(_killed_rank_1, 2, backend='gloo', timeout=30)

def test_the_limit_ends_a_run_where_no_rank_waits_on_another():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r'did not finish within limit=2 s.*rank\(s\) 0, 1 did not answer'):
        launch(_every_rank_hangs, 2, backend='gloo', limit=2)
    assert time.monotonic() - t0 < 30

HANG = '''
import torch, torch.nn.functional as F
from seqlab.distributed import launch

def work():
    x = torch.randn(4000, 500)
    for _ in range(10):
        F.cross_entropy(x, torch.zeros(4000, dtype=torch.long))  # an OpenMP-parallel kernel
    return 'ok'

if __name__ == '__main__':
    torch.set_num_threads(2)
    work()  # the parent uses OpenMP's thread pool first, as any full-mode cell does
    print(launch(work, 2, backend='gloo', limit=120))
'''

def test_forked_ranks_do_not_hang_after_the_parent_used_several_threads(tmp_path):
    script = tmp_path / 'hang.py'
    script.write_text(HANG)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env={**os.environ})
    assert r.returncode == 0 and "['ok', 'ok']" in r.stdout, r.stderr[-2000:]
