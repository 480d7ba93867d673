"""Bad inputs and edge cases of seqlab.metrics that do not belong in the notebook's story."""
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm

from seqlab.metrics import (accuracy, check_preds_targs, classification_report_df, confusion, f1_macro,
                            f1_micro, metric_columns, plot_confusion, plot_curves, plot_roc,
                            plot_sweep_heatmap, precision_macro, recall_macro, roc_ovr, sweep_table,
                            to_labels, to_probs)

SCORES = [accuracy, f1_micro, f1_macro, precision_macro, recall_macro]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close('all')


def _data(n=200, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    x = rng.normal(size=(n, c))
    x[np.arange(n), t] += 1.5
    return x, t


@pytest.mark.parametrize('f', SCORES)
def test_scores_accept_logits_labels_tensors_and_arrays(f):
    x, t = _data()
    want = f(x.argmax(1), t)
    assert isinstance(want, float)
    assert f(torch.tensor(x), torch.tensor(t)) == pytest.approx(want)
    assert f(torch.tensor(x, dtype=torch.float16), t) == pytest.approx(want)
    assert f(torch.tensor(x.argmax(1)), list(t)) == pytest.approx(want)


def test_scores_match_sklearn():
    x, t = _data()
    p = x.argmax(1)
    assert accuracy(x, t) == pytest.approx(skm.accuracy_score(t, p))
    assert f1_macro(x, t) == pytest.approx(skm.f1_score(t, p, average='macro'))
    assert f1_micro(x, t) == pytest.approx(accuracy(x, t))
    assert precision_macro(x, t) == pytest.approx(skm.precision_score(t, p, average='macro'))
    assert recall_macro(x, t) == pytest.approx(skm.balanced_accuracy_score(t, p))


def test_macro_f1_punishes_a_majority_class_predictor():
    t = np.array([0] * 90 + [1] * 10)
    p = np.zeros(100, dtype=int)
    assert accuracy(p, t) == pytest.approx(0.9)
    assert f1_macro(p, t) < 0.5


@pytest.mark.parametrize('f', SCORES)
def test_mismatched_lengths_are_named(f):
    with pytest.raises(ValueError, match='3 predictions for 2 targets'):
        f([0, 1, 1], [0, 1])


@pytest.mark.parametrize('f', SCORES)
def test_empty_input_is_refused(f):
    with pytest.raises(ValueError, match='empty'):
        f(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_to_labels_rejects_bad_shapes_and_values():
    with pytest.raises(ValueError, match='whole numbers'):
        to_labels([0.2, 0.7])
    with pytest.raises(ValueError, match='shape'):
        to_labels(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match='integer label ids'):
        to_labels(np.array([True, False]))
    with pytest.raises(ValueError, match=r'shape \(3, 0\).*C >= 2'):
        to_labels(np.zeros((3, 0)))


def test_labels_outside_the_classes():
    with pytest.raises(ValueError, match='targs holds label 3, outside the 3 classes'):
        check_preds_targs([0, 1, 2], [0, 1, 3], n_classes=3)
    with pytest.raises(ValueError, match='targs holds label -1'):
        confusion([0, 1], [0, -1], 2)
    with pytest.raises(ValueError, match='preds holds label 4'):
        classification_report_df([0, 4], [0, 1], ['a', 'b'])
    with pytest.raises(ValueError, match='outside the 2 classes'):
        plot_confusion([0, 1], [0, 2], ['a', 'b'])


def test_score_columns_must_match_classes():
    x, t = _data(c=3)
    with pytest.raises(ValueError, match='3 scores per row but there are 4 classes'):
        classification_report_df(x, t, list('abcd'))
    with pytest.raises(ValueError, match='3 scores per row but there are 2 classes'):
        roc_ovr(x, t % 2, ['a', 'b'])


def test_report_has_every_class_even_absent_ones():
    df = classification_report_df([0, 0, 1], [0, 1, 1], ['a', 'b', 'c'])
    assert list(df.index) == ['a', 'b', 'c', 'accuracy', 'macro avg', 'weighted avg']
    assert df.loc['c', 'support'] == 0
    assert df.loc['accuracy', 'f1-score'] == pytest.approx(0.667)
    assert df['support'].dtype.kind == 'i'


def test_confusion_counts_and_normalize():
    cm = confusion([0, 1, 1, 2], [0, 1, 2, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    np.testing.assert_allclose(confusion([0, 1, 1, 2], [0, 1, 2, 2], 3, normalize='true').sum(1), 1)
    with pytest.raises(ValueError, match='normalize'):
        confusion([0], [0], 1, normalize='rows')


def test_to_probs_keeps_probabilities_and_softmaxes_logits():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    np.testing.assert_allclose(to_probs(p), p)
    q = to_probs(torch.tensor([[0., 0.], [10., -10.]]))
    np.testing.assert_allclose(q.sum(1), 1)
    assert q[1, 0] > 0.99
    with pytest.raises(ValueError, match=r'\(N, C\)'):
        to_probs(np.zeros(3))


def test_roc_matches_sklearn_and_handles_a_missing_class():
    x, t = _data(c=3)
    roc = roc_ovr(x, t, ['a', 'b', 'c'])
    assert set(roc) == {'a', 'b', 'c', 'macro'}
    assert roc['macro']['auc'] == pytest.approx(skm.roc_auc_score(t, to_probs(x), multi_class='ovr'))
    t2 = np.where(t == 2, 0, t)  # class 'c' never occurs: its AUC is undefined
    roc2 = roc_ovr(x, t2, ['a', 'b', 'c'])
    assert np.isnan(roc2['c']['auc'])
    assert roc2['macro']['auc'] == pytest.approx(np.mean([roc2['a']['auc'], roc2['b']['auc']]))
    fig = plot_roc(x, t2, ['a', 'b', 'c'])
    assert len(fig.axes[0].get_legend().get_texts()) == 3  # a, b, macro


def _history(n=5, metrics=('accuracy',)):
    d = {'epoch': np.arange(1, n + 1), 'train_loss': np.linspace(1, .2, n), 'valid_loss': np.linspace(1.1, .4, n)}
    for m in metrics:
        d[m] = np.linspace(.5, .9, n)
    d.update(lr=1e-3, grad_norm=1., seconds=.1)
    return pd.DataFrame(d)


def test_plot_curves_returns_a_figure_with_loss_and_metric():
    fig = plot_curves(_history(metrics=('accuracy', 'f1_macro')), metric='f1_macro')
    assert isinstance(fig, plt.Figure)
    loss_ax, met_ax = fig.axes
    assert [l.get_label() for l in loss_ax.get_lines()] == ['train', 'valid']
    assert met_ax.get_ylabel() == met_ax.get_title() == 'F1 score (macro average)'  # in words, not the column name


def test_plot_curves_accepts_a_learner_and_train_metrics():
    h = _history()
    h['train_accuracy'] = h['accuracy'] - .05

    class FakeLearner:
        history = h
    fig = plot_curves(FakeLearner())
    assert [l.get_label() for l in fig.axes[1].get_lines()] == ['train', 'valid']
    assert metric_columns(h) == ['accuracy']


def test_plot_curves_bad_input():
    with pytest.raises(TypeError, match='DataFrame'):
        plot_curves({'epoch': [0]})
    with pytest.raises(ValueError, match='empty'):
        plot_curves(_history().iloc[:0])
    with pytest.raises(ValueError, match="lacks the column"):
        plot_curves(pd.DataFrame({'epoch': [0], 'loss': [1.]}))
    with pytest.raises(ValueError, match="'auc' is not a column"):
        plot_curves(_history(), metric='auc')


def test_plot_curves_without_validation_or_metrics():
    h = _history(metrics=())
    h['valid_loss'] = np.nan
    fig = plot_curves(h)
    assert len(fig.axes) == 1
    assert [l.get_label() for l in fig.axes[0].get_lines()] == ['train']


def test_sweep_heatmap_averages_over_repeats():
    df = pd.DataFrame({'lr': [1e-3, 1e-3, 1e-2, 1e-2], 'bs': [8, 8, 8, 16], 'acc': [.5, .7, .8, .9]})
    tab = sweep_table(df, 'lr', 'bs', 'acc')
    assert tab.loc[8, 1e-3] == pytest.approx(.6)
    assert np.isnan(tab.loc[16, 1e-3])
    fig = plot_sweep_heatmap(df, 'lr', 'bs', 'acc')
    assert fig.axes[0].get_xlabel() == 'lr' and fig.axes[0].get_ylabel() == 'bs'


def test_sweep_heatmap_bad_input():
    df = pd.DataFrame({'lr': [1e-3], 'bs': [8], 'acc': [np.nan]})
    with pytest.raises(ValueError, match=r"\['dropout'\] not in the runs table"):
        plot_sweep_heatmap(df, 'lr', 'dropout', 'acc')
    with pytest.raises(ValueError, match='two different'):
        sweep_table(df, 'lr', 'lr', 'acc')
    with pytest.raises(ValueError, match='no run has a value'):
        sweep_table(df, 'lr', 'bs', 'acc')
    with pytest.raises(TypeError, match='DataFrame'):
        sweep_table([{'lr': 1}], 'lr', 'bs', 'acc')


def test_plot_curves_overlays_runs_one_colour_each():
    runs = {'a': _history(), 'b': _history().iloc[:3]}
    fig = plot_curves(runs, title='generated sample (seed 0)')
    loss_ax, met_ax = fig.axes
    assert [l.get_label() for l in loss_ax.get_lines()] == ['a train', 'a valid', 'b train', 'b valid']
    assert [l.get_color() for l in met_ax.get_lines()] == ['C0', 'C1']
    assert loss_ax.get_legend() is not None and met_ax.get_legend() is not None
    assert fig._suptitle.get_text() == 'generated sample (seed 0)'
    with pytest.raises(ValueError, match="run 'b'"):
        plot_curves({'a': _history(), 'b': _history(metrics=())}, metric='accuracy')
    with pytest.raises(ValueError, match='empty dict'):
        plot_curves({})


def test_plot_curves_whole_epoch_ticks_and_fixed_axis():
    fig = plot_curves(_history().iloc[:2], n_epochs=7)
    for ax in fig.axes:
        assert ax.get_xlim() == (0.5, 7.5)
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_plot_curves_draws_into_a_given_figure_without_pyplot():
    from matplotlib.figure import Figure
    n_open = len(plt.get_fignums())
    fig = plot_curves(_history())
    assert isinstance(fig, Figure) and fig.canvas.manager is None
    assert len(plt.get_fignums()) == n_open  # no pyplot figure was opened
    assert fig._repr_png_().startswith(b'\x89PNG')  # shows as the last expression of a cell
    mine = Figure()
    assert plot_curves(_history(), fig=mine) is mine
    plot_curves(_history(metrics=()), fig=mine)  # cleared first: one panel, not three
    assert len(mine.axes) == 1


@pytest.mark.parametrize('f', SCORES)
def test_column_targets_are_refused_not_argmaxed(f):
    x, t = _data()
    with pytest.raises(ValueError, match=r'targs has shape \(200, 1\).*squeeze'):
        f(x, t[:, None])  # arg-maxing the column would make every target 0


@pytest.mark.parametrize('f', SCORES)
def test_non_finite_scores_are_refused(f):
    x, t = _data()
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match='NaN or infinite scores in 1 of 200 rows .*row 5'):
        f(x, t)
    x[5, 1] = np.inf
    with pytest.raises(ValueError, match='NaN or infinite'):
        f(torch.tensor(x), t)


def test_ambiguous_shapes_are_errors():
    with pytest.raises(ValueError, match='C >= 2'):
        accuracy(np.zeros((4, 1)), [0, 0, 0, 0])  # one score per row
    with pytest.raises(ValueError, match='not one-hot'):
        accuracy(np.eye(3), np.full((3, 3), 1 / 3))  # probabilities as targets
    assert accuracy(np.eye(3), np.eye(3)) == 1.0  # one-hot targets are fine


def test_per_token_scores_pair_with_per_token_targets():
    s = np.zeros((2, 3, 4))
    s[..., 1] = 1.
    t = np.ones((2, 3), dtype=int)
    t[0, 0] = 2
    assert accuracy(s, t) == pytest.approx(5 / 6)


# --- the TF-IDF + logistic regression baseline --------------------------------------------------
from seqlab.metrics import tfidf_logreg


def test_tfidf_logreg_learns_keywords_and_reads_only_max_len():
    texts = ['good fun film', 'good film indeed', 'bad dull film', 'bad film indeed'] * 4
    labels = [1, 1, 0, 0] * 4
    base = tfidf_logreg(texts, labels)
    assert base.predict(['good', 'bad']).tolist() == [1, 0]
    assert base.score(texts, labels) == 1.0
    late = ['the film was ' + t for t in texts]  # the keyword comes after the first 3 tokens
    assert tfidf_logreg(late, labels, max_len=3).score(late, labels) == 0.5
    assert tfidf_logreg(late, labels, max_len=4).score(late, labels) == 1.0


def test_tfidf_logreg_options_reach_the_vectorizer():
    texts = ['new york is big', 'new delhi is big', 'old york is small', 'old delhi is small'] * 3
    base = tfidf_logreg(texts, [0, 0, 1, 1] * 3, ngram_range=(1, 2), min_df=2, max_features=5, sublinear_tf=False, C=0.5)
    vec, clf = base.steps[0][1], base.steps[1][1]
    assert len(vec.vocabulary_) == 5 and vec.ngram_range == (1, 2) and not vec.sublinear_tf and clf.C == 0.5


def test_tfidf_logreg_bad_input():
    with pytest.raises(ValueError, match='pair up'):
        tfidf_logreg(['a', 'b'], [0])
    with pytest.raises(ValueError, match='two classes'):
        tfidf_logreg(['a', 'b'], [1, 1])
    with pytest.raises(TypeError, match='tokenize expects a str'):
        tfidf_logreg([1, 2], [0, 1])


def test_plot_functions_open_no_pyplot_figure_and_show_as_png():
    "Like plot_curves: nothing registered with pyplot (no leak into later cells), and the figure shows itself as a cell's last value."
    plt.close('all')
    rng = np.random.default_rng(0)
    logits, targs = rng.normal(size=(30, 3)), rng.integers(0, 3, 30)
    runs = pd.DataFrame({'lr': [1e-3, 1e-2] * 2, 'bs': [16, 16, 32, 32], 'acc': [0.5, 0.6, 0.7, 0.8]})
    figs = [plot_confusion(logits, targs, ['a', 'b', 'c']), plot_roc(logits, targs, ['a', 'b', 'c']),
            plot_sweep_heatmap(runs, 'lr', 'bs', 'acc')]
    assert plt.get_fignums() == []
    for fig in figs:
        assert fig._repr_png_()[:8] == b'\x89PNG\r\n\x1a\n'


def test_plot_arguments_are_checked_at_the_boundary():
    h = _history()
    for bad in ((0, 3), (9,), 'big', (9, -1)):
        with pytest.raises(ValueError, match='figsize must be'):
            plot_curves(h, figsize=bad)
    with pytest.raises(ValueError, match='n_epochs must be a whole number'):
        plot_curves(h, n_epochs=0)
    with pytest.raises(TypeError, match='list of class names'):
        plot_confusion(torch.randn(4, 3), torch.tensor([0, 1, 2, 2]), None)
    with pytest.raises(TypeError, match='list of class names'):
        plot_confusion(torch.randn(4, 3), torch.tensor([0, 1, 2, 2]), 'abc')
    with pytest.raises(TypeError, match="a learner's `history`"):
        metric_columns([1, 2])
