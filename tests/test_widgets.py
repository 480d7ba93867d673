"""The explorers without a browser: controls, Run/Stop/Sweep, errors, attention logic."""
import threading
import time

import matplotlib
matplotlib.use('Agg')
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from seqlab.data import DataLoaders, TextDataset, Vocab
from seqlab.learner import Callback, Learner
from seqlab.metrics import accuracy, plot_curves
import matplotlib.pyplot as plt
import seqlab.widgets as widgets
from seqlab.widgets import (AttentionExplorer, HyperparamExplorer, attention_layers, bin_params, control_for,
                            fig_to_output, highlight_html, parse_spec, plot_attention,
                            plot_runs_heatmap, predict_with_attention, range_values, run_outcome, space_grid,
                            token_weights, top_attended_tokens, watched_metric)

torch.set_num_threads(1)
WAIT = 60  # seconds: the most any background run in these tests may take


# ---------------------------------------------------------------- data and models
WORDS = {0: ['goal', 'team'], 1: ['song', 'band']}
FILLER = ['the', 'a', 'we', 'saw', 'it']


def _texts(n, seed):
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 2, n).tolist()
    xs = [' '.join(list(rng.choice(FILLER, 4)) + [str(rng.choice(WORDS[y]))]) for y in ys]
    return xs, ys


@pytest.fixture(scope='module')
def task():
    tx, ty = _texts(64, 0)
    vx, vy = _texts(32, 1)
    tr = TextDataset(tx, ty)
    va = TextDataset(vx, vy, vocab=tr.vocab)
    return tr.vocab, DataLoaders.from_datasets(tr, va, bs=16), va


class BagModel(nn.Module):
    def __init__(self, vocab_size, embedding_dim=8):
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab_size, embedding_dim, padding_idx=0)
        self.head = nn.Linear(embedding_dim, 2)

    def forward(self, x, lengths=None):
        return self.head(self.emb(x))


class SlowCB(Callback):
    "Sleeps after every batch so that a test can press Stop while training runs."
    def __init__(self, seconds=0.02): self.seconds, self.batches = seconds, 0
    def before_fit(self, learn):
        self.initial = {k: v.clone() for k, v in learn.model.state_dict().items()}
    def after_batch(self, learn):
        self.batches += 1
        time.sleep(self.seconds)


def _make_train_fn(task, slow=None, seen=None):
    vocab, dls, _ = task
    def train_fn(lr, embedding_dim):
        if seen is not None:
            seen.append({'lr': lr, 'embedding_dim': embedding_dim})
        cbs = [slow] if slow is not None else None
        return Learner(BagModel(len(vocab), embedding_dim), dls, lr=lr, metrics=[accuracy], cbs=cbs)
    return train_fn


SPACE = {'lr': (1e-3, 1e-1, 'log'), 'embedding_dim': [4, 8]}


# ---------------------------------------------------------------- parameter spaces
def test_parse_spec_errors_name_the_parameter():
    with pytest.raises(ValueError, match="lr: a range needs low < high"):
        parse_spec('lr', (0.1, 0.1))
    with pytest.raises(ValueError, match="lr: a log range needs low > 0"):
        parse_spec('lr', (0, 1, 'log'))
    with pytest.raises(ValueError, match="must be 'log'"):
        parse_spec('lr', (1e-3, 1, 'lin'))
    with pytest.raises(ValueError, match="cell: the list of choices is empty"):
        parse_spec('cell', [])
    with pytest.raises(TypeError, match="bs: expected a list of choices"):
        parse_spec('bs', 32)


def test_controls_match_the_space():
    assert type(control_for('lr', (1e-4, 1e-2, 'log'))).__name__ == 'FloatLogSlider'
    assert type(control_for('p', (0.0, 0.5))).__name__ == 'FloatSlider'
    assert type(control_for('n', (1, 6))).__name__ == 'IntSlider'
    assert type(control_for('bidirectional', [False, True])).__name__ == 'ToggleButtons'
    assert control_for('bidirectional', [False, True]).value is False
    assert type(control_for('cell', ['lstm', 'gru', 'rnn', 'elman', 'transformer'])).__name__ == 'Dropdown'


def test_grid_values():
    assert range_values('p', (0.0, 0.5), 3) == [0.0, 0.25, 0.5]
    grid = space_grid({'lr': (1e-3, 1e-1, 'log'), 'cell': ['lstm', 'gru']}, n_range=3)
    assert len(grid) == 6 and {g['cell'] for g in grid} == {'lstm', 'gru'}


def test_bin_params_bins_only_many_valued_ranges():
    df = pd.DataFrame({'p': np.linspace(0, 0.5, 10), 'cell': ['a', 'b'] * 5, 'acc': np.arange(10.)})
    b = bin_params(df, {'p': (0.0, 0.5), 'cell': ['a', 'b']}, bins=2)
    assert b['p'].nunique() == 2 and b['cell'].tolist() == df['cell'].tolist()


def test_plot_helpers():
    h = pd.DataFrame({'epoch': [0, 1], 'train_loss': [1., .5], 'valid_loss': [1., .6], 'accuracy': [.5, .7]})
    assert watched_metric(h) == 'accuracy' and watched_metric(h, 'valid_loss') == 'valid_loss'
    out = fig_to_output(plot_curves({'a': h, 'b': h}))
    assert out['output_type'] == 'display_data' and out['data']['image/png']
    fig = widgets.plot_curves(h.iloc[:1], n_epochs=1)  # one epoch: still whole-epoch ticks
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())


# ---------------------------------------------------------------- the hyperparameter explorer
def test_explorer_rejects_bad_arguments(task):
    with pytest.raises(ValueError, match='non-empty dict'):
        HyperparamExplorer({}, _make_train_fn(task))
    with pytest.raises(TypeError, match='train_fn must be a function'):
        HyperparamExplorer(SPACE, 'not a function')


def test_click_run_trains_with_the_control_values_and_adds_a_row(task):
    seen = []
    ex = HyperparamExplorer(SPACE, _make_train_fn(task, seen=seen), epochs=2)
    ex.controls['lr'].value = 0.01
    ex.controls['embedding_dim'].value = 8
    ex.run_button.click()
    assert ex.wait(WAIT)
    assert seen == [{'lr': pytest.approx(0.01), 'embedding_dim': 8}]
    df = ex.runs_table()
    assert len(df) == 1
    row = df.iloc[0]
    assert row['status'] == 'done' and row['epochs_run'] == 2 and row['embedding_dim'] == 8
    assert 0 <= row['best_accuracy'] <= 1 and row['best_epoch'] in (0, 1)  # named as the best epoch's
    assert ex.table.value.count('<tr') == 2  # header + one run
    assert 'image/png' in ex.plot.outputs[0]['data']
    assert not ex.run_button.disabled and ex.stop_button.disabled
    ex.controls['embedding_dim'].value = 4
    ex.run_button.click()
    assert ex.wait(WAIT)
    assert ex.runs_table()['embedding_dim'].tolist() == [8, 4]
    assert ex.runs_table()['run'].tolist() == [1, 2]
    bundle = ex._repr_mimebundle_()
    assert 'application/vnd.jupyter.widget-view+json' in bundle
    assert bundle['text/plain'].startswith('HyperparamExplorer(controls: lr, embedding_dim, epochs; 2 run(s))')


def test_controls_are_disabled_while_running_and_stop_keeps_the_weights(task):
    slow = SlowCB(0.05)
    ex = HyperparamExplorer(SPACE, _make_train_fn(task, slow=slow), epochs=30)
    ex.run_button.click()
    t0 = time.time()
    while slow.batches < 3 and time.time() - t0 < WAIT:
        time.sleep(0.01)
    assert ex.running
    assert ex.run_button.disabled and ex.sweep_button.disabled and ex.controls['lr'].disabled
    assert not ex.stop_button.disabled
    ex.run_button.click()  # a second Run while running is refused, not queued
    assert 'in progress' in ex.notice.value
    assert 'Run 1' in ex.status.value and 'training with' in ex.status.value  # the line that says what trains stays
    ex.stop_button.click()
    assert ex.wait(WAIT)
    row = ex.runs_table().iloc[-1]
    assert len(ex.runs) == 1 and row['status'] == 'stopped'
    assert row['epochs_run'] < 30 and row['stopped_at'].startswith(f"epoch {row['epochs_run'] + 1} of 30: ")
    assert len(ex.histories.get(1, [])) == row['epochs_run']  # the cut epoch has no row
    assert not ex.run_button.disabled and not ex.controls['lr'].disabled and ex.stop_button.disabled
    after = ex.learn.model.state_dict()
    assert any(not torch.equal(slow.initial[k], after[k]) for k in after)  # the trained weights are kept
    # the explorer is usable again after a stop
    slow.seconds = 0
    ex.controls['epochs'].value = 1
    ex.run()
    assert ex.wait(WAIT)
    assert ex.runs_table()['status'].tolist() == ['stopped', 'done']


def test_an_error_in_train_fn_is_shown_and_the_explorer_stays_usable(task):
    good = _make_train_fn(task)
    calls = []
    def train_fn(lr, embedding_dim):
        calls.append(lr)
        if len(calls) == 1:
            raise ValueError('embedding_dim is too small for this model')
        return good(lr, embedding_dim)
    ex = HyperparamExplorer(SPACE, train_fn, epochs=1)
    ex.run_button.click()
    assert ex.wait(WAIT)
    assert 'seqlab-error' in ex.status.value
    assert 'ValueError: embedding_dim is too small for this model' in ex.status.value
    assert ex.runs_table().iloc[0]['status'] == 'error'
    assert 'Traceback' in ex.last_error
    assert not ex.run_button.disabled and not ex.controls['lr'].disabled
    ex.run_button.click()
    assert ex.wait(WAIT)
    assert ex.runs_table()['status'].tolist() == ['error', 'done']


def test_train_fn_must_return_a_learner():
    ex = HyperparamExplorer(SPACE, lambda lr, embedding_dim: 'a string', background=False)
    ex.run()
    assert 'TypeError' in ex.status.value and 'must return a Learner' in ex.status.value
    assert ex.runs[0]['status'] == 'error'


def test_train_fn_that_fits_itself_gets_the_callbacks(task):
    vocab, dls, _ = task
    def train_fn(lr, embedding_dim, cbs=None):
        learn = Learner(BagModel(len(vocab), embedding_dim), dls, lr=lr, metrics=[accuracy])
        learn.fit(2, cbs=cbs)
        return learn
    ex = HyperparamExplorer(SPACE, train_fn, background=False)
    drawn = []
    orig = ex._draw_live
    ex._draw_live = lambda learn, cb, force=False: (drawn.append(len(learn.history)), orig(learn, cb, force))
    ex.run()
    assert drawn[:2] == [1, 2]  # live redraw after each epoch, then the final one
    assert ex.runs[0]['epochs_run'] == 2 and ex.runs[0]['status'] == 'done'


def test_sweep_runs_the_grid_and_draws_the_heatmap(task):
    ex = HyperparamExplorer({'lr': [1e-2, 3e-2], 'embedding_dim': [4, 8]}, _make_train_fn(task), epochs=1)
    ex.sweep_button.click()
    assert ex.wait(WAIT)
    df = ex.runs_table()
    assert len(df) == 4 and set(df['status']) == {'done'}
    assert sorted(zip(df['lr'], df['embedding_dim'])) == [(1e-2, 4), (1e-2, 8), (3e-2, 4), (3e-2, 8)]
    assert 'image/png' in ex.extra.outputs[0]['data']  # the pairwise heatmap
    ex.pick.value = (1, 2)
    ex.overlay_button.click()
    assert 'image/png' in ex.extra.outputs[0]['data']


def test_random_sweep_and_bad_mode(task):
    ex = HyperparamExplorer(SPACE, _make_train_fn(task), epochs=1, background=False)
    ex.sweep(mode='random', n=2)
    assert len(ex.runs) == 2 and all(1e-3 <= r['lr'] <= 1e-1 for r in ex.runs)
    with pytest.raises(ValueError, match="'grid' or 'random'"):
        ex.sweep(mode='bayes')


def test_heatmap_needs_runs_and_two_parameters(task):
    ex = HyperparamExplorer(SPACE, _make_train_fn(task), background=False)
    ex.heatmap('lr', 'embedding_dim')
    assert 'no finished run in the last sweep' in ex.analysis_msg.value and ex.extra.outputs == ()
    ex.overlay()
    assert 'no run has a complete epoch' in ex.analysis_msg.value


class StopAtCB(Callback):
    "Presses the explorer's Stop at one batch (epoch, batch index, training or not), before ExplorerCB looks."
    order = 50
    def __init__(self, ex, epoch, batch, training=True): self.ex, self.at = ex, (epoch, batch, training)
    def after_batch(self, learn):
        if (learn.epoch, learn.iter, learn.training) == self.at:
            self.ex.stop()


def _stopping_explorer(task, epoch, batch, training=True, epochs=3):
    vocab, dls, _ = task  # 64 training items in batches of 16: 4 batches an epoch
    holder = {}
    def train_fn(lr, embedding_dim):
        return Learner(BagModel(len(vocab), embedding_dim), dls, lr=lr, metrics=[accuracy],
                       cbs=[StopAtCB(holder['ex'], epoch, batch, training)])
    ex = holder['ex'] = HyperparamExplorer(SPACE, train_fn, epochs=epochs, background=False)
    return ex


@pytest.mark.parametrize('epoch, batch, training, status, stopped_at, n_rows', [
    (2, 3, True, 'done', '', 3),  # Stop after the last batch of the last epoch: nothing was cut
    (2, 0, False, 'done', '', 3),  # Stop while the last epoch validates: nothing was cut
    (1, 0, True, 'stopped', 'epoch 2 of 3: 1/4 batches', 1),  # cut one batch into epoch 2: it gets no row
    (0, 3, True, 'stopped', 'after epoch 1 of 3', 1),  # after epoch 1's last batch: epoch 1 validates, then stops
    (0, 1, False, 'stopped', 'after epoch 1 of 3', 1),  # while epoch 1 validates
])
def test_a_run_is_stopped_only_when_stop_cut_it_short(task, epoch, batch, training, status, stopped_at, n_rows):
    ex = _stopping_explorer(task, epoch, batch, training)
    ex.run()
    row = ex.runs[-1]
    assert (row['status'], row['stopped_at'], row['epochs_run']) == (status, stopped_at, n_rows)
    assert len(ex.histories[1]) == n_rows and ex.histories[1]['epoch'].tolist() == list(range(n_rows))
    assert f'Run 1 {status}' in ex.status.value


def test_run_outcome():
    assert run_outcome(3, 3, None, True) == ('done', '')
    assert run_outcome(0, 3, (2, None), True) == ('stopped', 'epoch 1 of 3: 2/? batches')
    assert run_outcome(1, 3) == ('done', '')  # early stopping is not a Stop


def test_no_explorer_figure_goes_through_pyplot(task, toy):
    plt.close('all')
    ex = HyperparamExplorer({'lr': [1e-2, 3e-2], 'embedding_dim': [4, 8]}, _make_train_fn(task), epochs=2, background=False)
    ex.run()
    ex.sweep(mode='grid')
    ex.overlay([1, 2])
    vocab, model, data = toy
    ae = AttentionExplorer(model, data, vocab, ['sport', 'music'])
    ae.show(1, 0, 1)
    assert 'image/png' in ex.plot.outputs[0]['data'] and 'image/png' in ae.heat.outputs[0]['data']
    assert plt.get_fignums() == []  # nothing was registered with pyplot, so nothing can leak into a cell's output


def test_live_plot_redraws_at_most_every_redraw_every_seconds(task, monkeypatch):
    drawn, statuses = [], []
    real = widgets.render
    monkeypatch.setattr(widgets, 'render', lambda *a, **k: (drawn.append(a[0].__name__), real(*a, **k))[1])
    ex = HyperparamExplorer(SPACE, _make_train_fn(task), epochs=5, background=False, redraw_every=60)
    ex.status.observe(lambda c: statuses.append(c['new']), 'value')
    ex.run()
    assert drawn == ['plot_curves', 'plot_curves']  # the first epoch, then the final plot; none in between
    assert [k for k in range(1, 6) if any(f'epoch {k} of 5' in s for s in statuses)] == [1, 2, 3, 4, 5]
    ex.redraw_every = 0
    drawn.clear()
    ex.run()
    assert len(drawn) == 6  # every epoch and the final plot


def test_heatmap_uses_the_last_sweep_unless_asked(task):
    ex = HyperparamExplorer({'lr': [1e-2, 3e-2], 'embedding_dim': [4, 8]}, _make_train_fn(task), epochs=1, background=False)
    ex.run(lr=0.05)  # a run by hand, at an lr the sweep never has
    ex.sweep(mode='grid')
    assert ex.sweep_ids == [2, 3, 4, 5]
    assert 'x: lr = 0.01, 0.03; y: embedding_dim = 4, 8' in ex.analysis_msg.value
    assert 'over 4 runs (the last sweep)' in ex.analysis_msg.value
    ex.heatmap(runs='all')
    assert 'x: lr = 0.01, 0.03, 0.05; y: embedding_dim = 4, 8' in ex.analysis_msg.value
    ex.heatmap('lr', 'lr')
    assert 'both lr' in ex.analysis_msg.value and 'seqlab-error' in ex.analysis_msg.value
    assert ex.extra.outputs == ()  # the stale heatmap is cleared


def test_heatmap_marks_empty_cells_and_labels_bins():
    runs = pd.DataFrame({'p': np.linspace(0, 0.5, 10), 'cell': ['a'] * 9 + ['b'], 'acc': np.arange(10.)})
    b = bin_params(runs, {'p': (0.0, 0.5), 'cell': ['a', 'b']}, bins=2)
    ax = plot_runs_heatmap(b, 'p', 'cell', 'acc').axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ['0–0.25', '0.25–0.5'] and ax.get_xlabel() == 'p (binned)'
    assert [t.get_text() for t in ax.texts].count('no run') == 1  # cell b was tried in the upper bin only


def test_sweep_controls_say_what_a_sweep_will_run(task):
    ex = HyperparamExplorer(SPACE, _make_train_fn(task))
    assert ex.sweep_n.disabled and 'grid: 6 runs' in ex.sweep_info.value  # lr: 3 values, embedding_dim: 2
    ex.sweep_mode.value = 'random'
    assert not ex.sweep_n.disabled and 'random: 4 runs' in ex.sweep_info.value
    ex.sweep_n.value = 0
    assert ex.sweep_n.value == 1 and 'runs 0 is outside 1 … 200' in ex.notice.value
    ex.sweep_n.value = 7
    assert ex.notice.value == '' and 'random: 7 runs' in ex.sweep_info.value
    big = HyperparamExplorer({'a': list(range(9)), 'b': list(range(9))}, _make_train_fn(task))
    assert 'grid: 81 runs (over 64: use random)' in big.sweep_info.value


def test_typed_values_are_corrected_aloud(task):
    ex = HyperparamExplorer({'lr': (1e-3, 1e-1, 'log'), 'embedding_dim': (4, 8)}, _make_train_fn(task))
    lr_box = ex.ui.children[1].children[0].children[0].children[1]  # the box beside the lr slider
    lr_box.value = '5'
    assert ex.controls['lr'].value == pytest.approx(0.1) and 'lr 5 is outside its range 0.001 … 0.1: set to 0.1.' in ex.notice.value
    ex.controls['lr'].value = 0.01  # moving the slider clears the note
    assert ex.notice.value == '' and lr_box.value == '0.01'
    dim_box = ex.ui.children[1].children[0].children[1].children[1]
    dim_box.value = '6.4'
    assert ex.controls['embedding_dim'].value == 6 and ex.notice.value == ''


def test_runs_table_scrolls_and_overlay_has_a_hint(task):
    ex = HyperparamExplorer(SPACE, _make_train_fn(task), epochs=1, background=False)
    for _ in range(3):
        ex.run()
    assert 'max-height:220px;overflow:auto' in ex.table.value and 'best_accuracy' in ex.table.value
    assert 'Ctrl- or Shift-click' in ex.ui.children[6].children[0].children[0].value
    assert ex.pick.options[0][0] == 'run 1: lr=0.01 embedding_dim=4 epochs=1'


# ---------------------------------------------------------------- attention
class KeywordAttn(nn.Module):
    "Hand-set attention: all weight on keyword ids; predicts the class of the keywords it sees."
    def __init__(self, keywords, n_classes, heads=2):
        super().__init__()
        self.keywords, self.n_classes, self.heads = keywords, n_classes, heads
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x, lengths=None, return_attn=False):
        kw = torch.zeros_like(x, dtype=torch.float)
        logits = torch.zeros(x.shape[0], self.n_classes)
        for tok, c in self.keywords.items():
            kw += (x == tok).float()
            logits[:, c] += (x == tok).float().sum(1)
        w = kw + 1e-3 * (x != 0).float()
        w = w / w.sum(1, keepdim=True)  # (B, T)
        sa = w[:, None, None, :].expand(-1, self.heads, x.shape[1], -1).clone()  # (B, H, T, T)
        sa[:, 1] = torch.eye(x.shape[1])  # head 1 attends to itself
        return (logits, [sa, w]) if return_attn else logits


@pytest.fixture(scope='module')
def toy():
    vocab = Vocab.build([['goal', 'song', 'the', 'a', 'team', 'band', 'it']])
    kw = {vocab.stoi['goal']: 0, vocab.stoi['song']: 1}
    enc = lambda s: torch.tensor(vocab.encode(s.split()))
    data = [(enc('the goal a team'), 0), (enc('a song the band it'), 1), (enc('the goal it goal'), 0),
            (enc('team song'), 0), (enc('band band song'), 1)]
    return vocab, KeywordAttn(kw, 2), data


def test_top_attended_tokens_with_hand_set_attention(toy):
    vocab, model, data = toy
    df = top_attended_tokens(model, data, vocab, k=2, classes=['sport', 'music'])
    assert list(df.columns) == ['class', 'rank', 'token', 'score', 'count']
    top1 = df[df['rank'] == 1].set_index('class')['token'].to_dict()
    assert top1 == {'sport': 'goal', 'music': 'song'}
    assert df.set_index(['class', 'token']).loc[('sport', 'goal'), 'count'] == 3
    for agg in ('mean', 'top1'):
        d = top_attended_tokens(model, data, vocab, k=1, classes=['sport', 'music'], agg=agg, min_count=1)
        assert d['token'].tolist() == ['goal', 'song']
    # layer 0, head 1 attends to every token equally (identity): filler words can tie the keywords
    d = top_attended_tokens(model, data, vocab, k=10, layer=0, head=1, classes=['sport', 'music'])
    assert set(d[d['class'] == 'sport']['token']) >= {'the', 'goal', 'team'}
    with pytest.raises(ValueError, match="agg must be"):
        top_attended_tokens(model, data, vocab, agg='max')
    with pytest.raises(ValueError, match='head 5 does not exist'):
        top_attended_tokens(model, data, vocab, layer=0, head=5)


def test_predict_with_attention_cuts_padding(toy):
    vocab, model, data = toy
    res = predict_with_attention(model, data, bs=2)
    assert res['preds'].tolist() == [0, 1, 0, 1, 1] and res['targs'].tolist() == [0, 1, 0, 0, 1]
    assert [len(i) for i in res['ids']] == [4, 5, 4, 2, 3]
    assert res['attn'][3][0].shape == (2, 2, 2) and res['attn'][3][1].shape == (1, 1, 2)
    with pytest.raises(ValueError, match='empty'):
        predict_with_attention(model, [])


def test_models_without_attention_are_refused(task):
    vocab, _, va = task
    with pytest.raises(TypeError, match='return_attn'):
        predict_with_attention(BagModel(len(vocab)), va)

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))
        def forward(self, x, return_attn=False): return torch.zeros(x.shape[0], 2)
    with pytest.raises(TypeError, match=r'must return \(logits, attention\)'):
        predict_with_attention(Bad(), va)


def test_attention_shapes():
    assert attention_layers(torch.rand(2, 3, 3))[0].shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match='shape'):
        attention_layers([torch.rand(2, 2, 2, 2, 2, 2)])
    with pytest.raises(ValueError, match='no attention'):
        attention_layers([])
    np.testing.assert_allclose(token_weights(torch.eye(3) / 1, length=3), [1 / 3] * 3)


def test_highlight_html_is_plain_and_escaped():
    s = highlight_html(['<script>', 'ok'], [0.0, 2.0])
    assert '&lt;script&gt;' in s and '<script>' not in s
    assert 'rgba(214,39,40,1.00)' in s and 'rgba(214,39,40,0.00)' in s
    assert 'http' not in s  # nothing loaded from anywhere
    assert highlight_html([], []).count('seqlab-tok') == 0
    with pytest.raises(ValueError, match='one weight per token'):
        highlight_html(['a', 'b'], [1.0])


def test_plot_attention_checks_tokens():
    with pytest.raises(ValueError, match='key positions'):
        plot_attention(['a', 'b'], torch.rand(1, 3))
    fig = plot_attention(['a', 'b', 'c'], torch.rand(3, 3))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ['a', 'b', 'c']


def test_attention_explorer_shows_the_chosen_example_layer_and_head(toy):
    vocab, model, data = toy
    ae = AttentionExplorer(model, data, vocab, ['sport', 'music'])
    assert ae.selected == (0, 1, 0) and ae.head.disabled  # first example, last layer (pooling: nothing to choose)
    assert 'layer 1 (pooling)' in ae.info.value
    ae.example.value = 2
    assert ae.selected[0] == 2 and 'example <b>#2</b>' in ae.info.value
    ae.layer.value = 0
    assert ae.selected == (2, 0, 0) and ae.head.options == ('mean', 0, 1)  # head 0 still exists: kept
    ae.head.value = 1
    assert ae.selected == (2, 0, 1)
    assert 'layer 0, head 1' in ae.info.value and ae.text.value.count('seqlab-tok') == 4
    assert 'image/png' in ae.heat.outputs[0]['data']
    ae.only_wrong.value = True
    assert [v for _, v in ae.example.options] == [3] and ae.selected[0] == 3
    assert 'MISCLASSIFIED' in ae.info.value and 'true <b>sport</b>' in ae.info.value
    assert 'goal' in ae.table.value and 'song' in ae.table.value
    assert ae._repr_mimebundle_()['text/plain'].startswith('AttentionExplorer(5 examples, 2 attention layer(s))')


def test_attention_explorer_without_misclassified_and_bad_labels(toy):
    vocab, model, data = toy
    right = [d for i, d in enumerate(data) if i != 3]
    ae = AttentionExplorer(model, right, vocab, ['sport', 'music'], misclassified_only=True)
    assert ae.example.value is None and 'No example' in ae.info.value
    ae.only_wrong.value = False
    assert ae.selected[0] == 0
    with pytest.raises(ValueError, match='outside the 1 classes'):
        AttentionExplorer(model, data, vocab, ['sport'])


def test_widget_events_on_two_threads_render_one_at_a_time(toy):
    "JupyterLab may deliver widget events on a thread of their own: the explorer must stay consistent."
    import base64
    import io
    import matplotlib.image as mpimg
    vocab, model, data = toy
    ae = AttentionExplorer(model, data, vocab, ['sport', 'music'])
    errors = []

    def flip(values):
        try:
            for v in values:
                ae.layer.value = v
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def heads():
        try:
            for _ in range(10):
                ae.show(1, 0, 'mean')
                ae.show(1, 0, 1)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=flip, args=([0, 1] * 10,)), threading.Thread(target=heads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)
    assert not errors
    i, layer, head = ae.selected
    assert (ae.layer.value, ae.head.value) == (layer, head)
    pooling = ae.res['attn'][i][layer].shape[1] == 1  # whichever thread ends last: a pooling layer has no heads
    assert (f'layer {layer} (pooling)' if pooling else f'layer {layer}, head {head}') in ae.info.value
    img = mpimg.imread(io.BytesIO(base64.b64decode(ae.heat.outputs[0]['data']['image/png'])), format='png')
    assert img.shape[0] > 50 and img[..., :3].std() > 0.05  # a drawn heatmap, not a blank canvas


# ---------------------------------------------------------------- zero sizes

@pytest.mark.parametrize('n', [0, -1, 1.5])
def test_range_values_needs_at_least_one_value(n):
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        range_values('lr', (1, 3), n=n)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        space_grid({'hidden': (8, 64), 'lr': [0.1]}, n_range=n)


def test_range_values_of_choices_ignore_n():
    assert range_values('act', ['relu', 'tanh']) == ['relu', 'tanh'] and range_values('n', (1, 3), n=3) == [1, 2, 3]


# ---------------------------------------------------------------- inputs checked where they enter

@pytest.mark.parametrize('call,err,says', [
    (lambda: space_grid(None), TypeError, 'space must be a dict'),
    (lambda: watched_metric(None), TypeError, "history must be a learner's history DataFrame"),
    (lambda: fig_to_output(None), TypeError, 'fig must be a matplotlib figure'),
    (lambda: widgets.render(None), TypeError, 'plot_fn must be a function'),
    (lambda: bin_params(None, {}), TypeError, 'bin_params needs runs'),
    (lambda: attention_layers(None), TypeError, 'attention weights must be a tensor or a list'),
    (lambda: token_weights(torch.zeros(2, 2, 2)), ValueError, 'a must be one example'),
    (lambda: token_weights(torch.zeros(3, 3), 5), ValueError, 'length must be the example'),
    (lambda: highlight_html(None, None), TypeError, 'highlight_html needs a list of tokens'),
    (lambda: plot_attention(['a', 'b', 'c'], np.zeros(3)), ValueError, 'a must be one head'),
    (lambda: predict_with_attention(nn.Linear(2, 2), None), TypeError, 'data must be a data set'),
])
def test_bad_widget_input_is_refused_at_the_boundary(call, err, says):
    with pytest.raises(err) as e:
        call()
    assert says in str(e.value), str(e.value)
