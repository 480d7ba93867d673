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


def test_pruned_trial_is_recorded_as_pruned():
    pruner = optuna.pruners.ThresholdPruner(lower=1.01)  # accuracy never reaches it: prune at the first report
    df = sweep(SPACE, train_fn, engine='optuna', n_trials=2, metric='accuracy', pruner=pruner)
    assert list(df.state) == ['pruned', 'pruned']
    assert list(df.best_epoch) == [0, 0]  # stopped after the first epoch


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
from seqlab.distributed import DDPCB, DistributedBatchSampler, launch, shard_loader
from seqlab.learner import EarlyStoppingCB

def _dls():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x.sum(1) > 0).long()
    ds = TensorDataset(x, y)
    return DataLoaders(DataLoader(ds, batch_size=8, shuffle=True), DataLoader(ds, batch_size=32))

def _ddp_run(epochs=2, patience=None):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cbs = [DDPCB()] + ([EarlyStoppingCB('valid_loss', patience=patience, min_delta=10.0, verbose=False)] if patience else [])
    learn = Learner(nn.Linear(4, 2), _dls(), opt_func=torch.optim.SGD, lr=0.1, metrics=[accuracy], device='cpu', cbs=cbs)
    learn.fit(epochs)
    return learn.model.state_dict(), learn.history

@pytest.fixture(scope='module')
def ddp_results():
    return launch(_ddp_run, 2)

def test_ddp_weights_equal_one_process_on_the_global_batches(ddp_results):
    full = _dls()
    x, y = full.train.dataset.tensors
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for ep in range(2):
        shards = []
        for r in range(2):
            s = DistributedSampler(full.train.dataset, 2, r, shuffle=True, seed=0, drop_last=True)
            s.set_epoch(ep)
            idx = list(s)
            shards.append([idx[i:i + 8] for i in range(0, len(idx), 8)])
        for b in (sum(bs, []) for bs in zip(*shards)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    for st, _ in ddp_results:
        torch.testing.assert_close(st['weight'], model.weight.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(st['bias'], model.bias.detach(), atol=1e-5, rtol=0)

def test_ddp_valid_metrics_equal_one_process(ddp_results):
    st, h = ddp_results[0]
    learn = Learner(nn.Linear(4, 2), _dls(), metrics=[accuracy], device='cpu')
    learn.model.load_state_dict(st)
    v = learn.validate()
    assert abs(v['valid_loss'] - h.valid_loss.iloc[-1]) < 1e-6 and abs(v['accuracy'] - h.accuracy.iloc[-1]) < 1e-9
    assert ddp_results[1][1][['train_loss', 'valid_loss']].equals(h[['train_loss', 'valid_loss']])  # same history on both ranks

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
    assert [len(h) for _, h in res] == [3, 3]  # min_delta=10: no epoch improves, stop after patience

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
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model-0.pt', 'model-1.pt']
