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
