"""13_emotion_attention: attention aggregation, rollout, rankings, attributions, class weights and bad inputs."""
import math

import pandas as pd

import numpy as np
import pytest
import torch

from seqlab.datasets import load_emotion
from seqlab.emotion_attention import (attention_rollout, class_recall, class_weighted_loss, emotion_classifier,
                                      emotion_vectors, eval_scores, f1_weighted, keyword_cosines, rank_by_class,
                                      received_attention, seed_difference, token_attributions, top_token_per_sentence,
                                      train_emotion, uninformative_ids, winner_stats)
from seqlab.datasets import EMOTION_KEYWORDS
from seqlab.embeddings import train_vectors
from seqlab.transformer import transformer_data

ITOS = ['<pad>', '<unk>', 'i', 'feel', 'sad', 'happy', 'angry']


def test_received_attention_averages_real_queries_and_zeroes_padding():
    a = torch.zeros(1, 1, 1, 3, 3)
    a[0, 0, 0] = torch.tensor([[0., 1., 0.], [0., 1., 0.], [1., 0., 0.]])  # query 2 is padding
    got = received_attention(a, torch.tensor([2]))
    torch.testing.assert_close(got, torch.tensor([[0., 1., 0.]]))


def test_aggregation_by_class_on_hand_set_attention():
    # three sentences per class; 'sad' wins in sadness, 'happy' in joy, 'feel' wins once in each class
    ids = torch.tensor([[2, 3, 4], [2, 4, 3], [3, 2, 4], [2, 3, 5], [5, 2, 3], [3, 5, 2]])
    hot = [2, 1, 0, 2, 0, 0]  # position of the winner in each sentence
    scores = torch.zeros(6, 3)
    scores[torch.arange(6), torch.tensor(hot)] = 1.
    tops = top_token_per_sentence(ids, scores, torch.full((6,), 3), skip_ids={0, 1})
    assert [ITOS[t] for t in tops] == ['sad', 'sad', 'feel', 'happy', 'happy', 'feel']
    r = rank_by_class(tops, [0, 0, 0, 1, 1, 1], ITOS, ['sadness', 'joy'], k=2, min_count=1)
    first = r[r['rank'] == 1].set_index('class')
    assert first.loc['sadness', 'count_token'] == 'sad' and first.loc['joy', 'count_token'] == 'happy'
    assert first.loc['sadness', 'lift_token'] == 'sad' and first.loc['sadness', 'lift'] == pytest.approx(2.0)
    feel = r[(r['class'] == 'joy') & (r['lift_token'] == 'feel')]
    assert feel['lift'].item() == pytest.approx(1.0)  # wins as often in joy as everywhere: lift 1


def test_padding_and_special_tokens_are_never_ranked():
    ids = torch.tensor([[1, 4, 0, 0], [2, 1, 0, 0]])
    scores = torch.tensor([[5., 0.1, 9., 9.], [0.2, 7., 9., 9.]])
    tops = top_token_per_sentence(ids, scores, torch.tensor([2, 2]), skip_ids={0, 1})
    assert tops == [4, 2]
    assert top_token_per_sentence(torch.tensor([[1, 0]]), torch.tensor([[1., 2.]]), torch.tensor([1]), {0, 1}) == [None]
    r = rank_by_class([None, 4], [0, 0], ITOS, ['sadness'], k=2, min_count=1)
    assert set(r.count_token.dropna()) == {'sad'}


def test_rollout_of_identity_attention_is_identity_and_rows_sum_to_one():
    torch.testing.assert_close(attention_rollout(torch.eye(4).expand(3, 2, 2, 4, 4)), torch.eye(4).expand(3, 4, 4))
    a = torch.softmax(torch.randn(2, 3, 2, 5, 5), -1)
    torch.testing.assert_close(attention_rollout(a).sum(-1), torch.ones(2, 5))


def test_rank_min_count_hides_rare_winners_from_lift():
    r = rank_by_class([4, 5, 5, 5], [0, 1, 1, 1], ITOS, ['sadness', 'joy'], k=1, min_count=2)
    assert pd.isna(r.set_index('class').loc['sadness', 'lift_token'])
    assert r.set_index('class').loc['sadness', 'count_token'] == 'sad'


def test_f1_weighted_and_class_weights():
    assert f1_weighted(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 1, 1])) == 1.0
    loss = class_weighted_loss([0, 0, 0, 1], 2)  # class 1 is rare: its mistakes cost 3x
    logits = torch.zeros(1, 2)
    assert loss(logits, torch.tensor([1])).item() == pytest.approx(math.log(2))  # weighted mean over one item
    l2 = loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    assert l2.item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match='every class needs training examples'):
        class_weighted_loss([0, 0], 2)
    with pytest.raises(ValueError, match=r'class ids in 0\.\.1'):
        class_weighted_loss([0, 1, 5], 2)  # a label outside the classes
    with pytest.raises(ValueError, match='class ids'):
        class_weighted_loss([], 2)
    with pytest.raises(ValueError, match='n_classes'):
        class_weighted_loss([0, 1], 0)
    with pytest.raises(ValueError, match='of one length'):
        f1_weighted(torch.tensor([0, 1]), torch.tensor([0]))


@pytest.fixture(scope='module')
def prep():
    td = load_emotion(quick=True, n=300, verbose=False)
    return transformer_data(td, max_len=16, bs=32, p_delete=0.0)


def test_word2vec_variant_rows_and_bad_sizes(prep):
    kv = train_vectors(prep.token_lists, 'word2vec', vector_size=16, seed=0, epochs=1, cache=False)
    model, oov = emotion_classifier(prep, kv, d_model=16, n_heads=2, d_ff=16, max_len=16)
    assert model.embedding.weight.shape == (len(prep.vocab), 16) and len(oov.how) == len(prep.vocab)
    with pytest.raises(ValueError, match='pass d_model=16'):
        emotion_classifier(prep, kv, d_model=32, n_heads=2, max_len=16)
    with pytest.raises(TypeError, match='transformer_data'):
        emotion_classifier(object(), kv, d_model=16, n_heads=2, max_len=16)


@pytest.mark.parametrize('method', ['attention', 'rollout', 'grad_input'])
def test_attributions_cover_every_sentence_and_one_token_sentences_work(prep, method):
    learn = train_emotion(prep, epochs=1, lr=3e-3, d_model=16, n_heads=2, d_ff=16, max_len=16)
    ids, sc, lens, ys = token_attributions(learn.model, prep.dls.test, method)
    assert ids.shape == sc.shape and len(ys) == len(prep.dls.test.dataset)
    assert (sc[torch.arange(ids.shape[1])[None] >= lens[:, None]] == 0).all()  # nothing on padding
    one = torch.tensor([[prep.vocab.stoi.get('i', 2)]])
    logits, attn = learn.model.eval()(one, torch.tensor([1]), return_attn=True)
    assert attn.shape[-2:] == (1, 1) and torch.allclose(attn.sum(-1), torch.ones_like(attn.sum(-1)))
    with pytest.raises(ValueError, match='choose'):
        token_attributions(learn.model, prep.dls.test, 'saliency')
    with pytest.raises(ValueError, match='non-empty split'):
        token_attributions(learn.model, [], method)


# --- pretrained vectors: what they miss and what they carry ------------------------------------------

def test_quick_vectors_miss_rare_words_and_tell_emotions_apart(prep):
    """Quick mode's stand-in for pretrained vectors learns from other sentences: rare task words are OOV,
    and words of one emotion are closer to each other than to other emotions' words."""
    kv = emotion_vectors(prep, quick=True, vector_size=64, seed=0, n_pretrain=6000)  # the notebook's settings
    model, oov = emotion_classifier(prep, kv, d_model=64, n_heads=2, d_ff=16, max_len=16)
    assert 0 < len(oov.oov) < len(prep.vocab) // 2
    freq = pd.Series([t for toks in prep.token_lists for t in toks]).value_counts()
    miss = freq.index.isin(oov.oov)
    assert freq[miss].sum() / freq.sum() < miss.mean()  # the missing words are rare: fewer running tokens than entries
    cos = keyword_cosines(kv, EMOTION_KEYWORDS)
    assert cos['same group'] - cos['different groups'] > 0.05, cos
    assert cos['words found'] == cos['words asked'] == 60


@pytest.mark.parametrize('kw, msg', [(dict(vector_size=0), 'vector_size'), (dict(n_pretrain=-1), 'n_pretrain'),
                                     (dict(min_count=1.5), 'min_count')])
def test_emotion_vectors_rejects_impossible_sizes(prep, kw, msg):
    with pytest.raises(ValueError, match=msg):
        emotion_vectors(prep, quick=True, **kw)


def test_keyword_cosines_needs_known_words():
    kv = train_vectors([['a', 'b', 'c', 'd']] * 20, 'word2vec', vector_size=8, seed=0, epochs=1, cache=False)
    with pytest.raises(ValueError, match='too few of the group words'):
        keyword_cosines(kv, {'x': ['zz'], 'y': ['qq']})
    got = keyword_cosines(kv, {'x': ['a', 'b'], 'y': ['c', 'zz']})
    assert got['words found'] == 3 and -1 <= got['different groups'] <= 1


# --- training inputs ------------------------------------------------------------------------------

def test_train_emotion_checks_its_arguments(prep):
    with pytest.raises(ValueError, match='weighted=True needs train_labels'):
        train_emotion(prep, weighted=True, epochs=1, d_model=16, n_heads=2, d_ff=16, max_len=16)
    with pytest.raises(ValueError, match='epochs must be'):
        train_emotion(prep, epochs=0, d_model=16, n_heads=2, d_ff=16, max_len=16)


def test_eval_scores_refuses_an_empty_split(prep):
    learn = train_emotion(prep, epochs=1, lr=3e-3, d_model=16, n_heads=2, d_ff=16, max_len=16)
    assert set(eval_scores(learn, prep.dls.valid)) >= {'accuracy', 'f1_macro', 'preds'}
    with pytest.raises(ValueError, match='non-empty split'):
        eval_scores(learn, None)


def test_seed_difference_and_class_recall():
    assert seed_difference([0.5, 0.52, 0.48], [0.7, 0.71, 0.69])['stands out']
    assert not seed_difference([0.5, 0.6, 0.4], [0.55, 0.65, 0.45])['stands out']
    with pytest.raises(ValueError, match='at least 2 seeds'):
        seed_difference([0.5], [0.6, 0.7])
    assert class_recall(torch.tensor([2, 0, 5, 5]), torch.tensor([2, 2, 5, 1]), [2, 5]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match='no sentence belongs'):
        class_recall([0, 1], [0, 1], [4])
    with pytest.raises(ValueError, match='of one length'):
        class_recall([0, 1], [0], [0])


# --- attention inputs -----------------------------------------------------------------------------

def test_attention_helpers_check_shapes_and_lengths():
    a = torch.softmax(torch.randn(2, 1, 2, 4, 4), -1)
    with pytest.raises(ValueError, match=r'lengths must lie in 1\.\.4'):
        received_attention(a, torch.tensor([4, 9]))  # longer than the input
    with pytest.raises(ValueError, match=r'\(B,\) = \(2,\)'):
        received_attention(a, torch.tensor([4, 4, 4]))  # not one per sentence
    with pytest.raises(ValueError, match='return_attn=True'):
        received_attention(a[:, 0], torch.tensor([4, 4]))
    with pytest.raises(ValueError, match='residual'):
        attention_rollout(a, residual=1.5)
    with pytest.raises(ValueError, match='one shape'):
        top_token_per_sentence(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3), torch.tensor([4, 4]))
    with pytest.raises(ValueError, match='lengths must lie in 0..4'):
        top_token_per_sentence(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4), torch.tensor([4, 5]))


def test_rankings_check_labels_and_sizes():
    with pytest.raises(ValueError, match='one label per sentence'):
        rank_by_class([4, 5], [0], ITOS, ['sadness', 'joy'])
    with pytest.raises(ValueError, match=r'class ids in 0\.\.1'):
        rank_by_class([4, 5], [0, 2], ITOS, ['sadness', 'joy'])
    with pytest.raises(ValueError, match='k must be'):
        rank_by_class([4, 5], [0, 1], ITOS, ['sadness', 'joy'], k=0)
    with pytest.raises(ValueError, match='min_count must be'):
        rank_by_class([4, 5], [0, 1], ITOS, ['sadness', 'joy'], min_count=0)


def test_stop_words_and_punctuation_are_set_aside():
    from seqlab.data import Vocab
    v = Vocab.build([['i', 'feel', 'the', 'sad', '.', '>', 'all', 'is', ':)', 'furious']])
    banned = {v.itos[i] for i in uninformative_ids(v)}
    assert {'<pad>', '<unk>', 'i', 'the', '.', '>', 'all', 'is', ':)'} <= banned
    assert not {'feel', 'sad', 'furious'} & banned
    with pytest.raises(TypeError, match='Vocab'):
        uninformative_ids(['the'])


def test_winner_stats_tells_a_frequent_word_from_a_meaningful_one():
    """'the' wins everywhere (lift 1, no evidence); 'sad' wins only in sadness (lift 1/p, tiny p-value)."""
    tops = [4] * 10 + [2] * 10 + [2] * 20  # sadness: 10 'sad' + 10 'the'; joy: 20 'the'
    labels = [0] * 20 + [1] * 20
    st = winner_stats(tops, labels, ITOS, ['sadness', 'joy']).set_index(['class', 'token'])
    assert st.loc[('sadness', 'sad'), 'lift'] == pytest.approx(2.0) and st.loc[('sadness', 'sad'), 'p_value'] < 1e-3
    assert st.loc[('sadness', 'i'), 'p_value'] > 0.5 and st.loc[('joy', 'i'), 'lift'] == pytest.approx(4 / 3)
    r = rank_by_class(tops, labels, ITOS, ['sadness', 'joy'], k=1, min_count=2).set_index('class')
    assert r.loc['sadness', 'lift_token'] == 'sad' and r.loc['sadness', 'lift_p'] < 1e-3


def test_emotion_classifier_refuses_what_is_not_vectors(prep):
    with pytest.raises(TypeError, match='KeyedVectors'):
        emotion_classifier(prep, 'word2vec', d_model=16, n_heads=2, max_len=16)


# ---- Exercises 13.1-13.5: each check passes a correct answer, fails a typical wrong one with a message that says what is
# wrong without giving the answer away, and reports None or a stub as not attempted.
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from seqlab.cnn_lstm import lengths_to_mask  # noqa: E402
from seqlab.exercises import EXERCISES, check  # noqa: E402
from seqlab.transformer import TransformerClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _details(r) -> str:
    return ' | '.join(f'{v.label}: {v.detail}' for v in r.failed)


def _freeze_found_rows(model, found):
    keep = (~found).float()[:, None]
    model.embedding.weight.register_hook(lambda g: g * keep)
    return model


def _freeze_all(model, found):
    model.embedding.weight.requires_grad_(False)
    return model


def _permutation_p(top_ids, labels, token, cls, n_perm=2000, seed=0, strict=False):
    won, y = np.asarray(top_ids) == token, np.asarray(labels)
    wins = (won & (y == cls)).sum()
    shuffled = np.random.default_rng(seed).permuted(np.tile(y, (n_perm, 1)), axis=1)
    counts = (won & (shuffled == cls)).sum(1)
    return float(((counts > wins) if strict else (counts >= wins)).mean())


class _Cls(TransformerClassifier):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.cls = nn.Parameter(torch.randn(cfg.d_model))

    def forward(self, x, lengths=None, return_attn=False):
        if lengths is None:
            lengths = (x != self.cfg.padding_idx).sum(1)
        e = torch.cat([self.cls.expand(len(x), 1, -1), self.embedding(x) * math.sqrt(self.cfg.d_model)], dim=1)
        out = self.encoder(e, lengths_to_mask(lengths + 1, e.shape[1]), return_attn=return_attn)
        h, attn = out if return_attn else (out, None)
        logits = self.head(self.drop(h[:, 0]))
        return (logits, attn) if return_attn else logits

    @torch.no_grad()
    def most_attended(self, x, lengths=None):
        return self(x, lengths, return_attn=True)[1][:, -1, :, 0, 1:].mean(1)


class _ClsColumn(_Cls):
    @torch.no_grad()
    def most_attended(self, x, lengths=None):
        return self(x, lengths, return_attn=True)[1][:, -1, :, 1:, 0].mean(1)


class _ClsMean(_Cls):
    "The CLS vector in front, but the head still reads the mean of every position."
    def forward(self, x, lengths=None, return_attn=False):
        if lengths is None:
            lengths = (x != self.cfg.padding_idx).sum(1)
        e = torch.cat([self.cls.expand(len(x), 1, -1), self.embedding(x) * math.sqrt(self.cfg.d_model)], dim=1)
        mask = lengths_to_mask(lengths + 1, e.shape[1])
        h, attn = self.encoder(e, mask, return_attn=True)
        logits = self.head(self.drop((h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)))
        return (logits, attn) if return_attn else logits


def _received_by_layer(attn, lengths, all_rows=False):
    if all_rows:
        return attn.float().mean(dim=(2, 3))
    real = (torch.arange(attn.shape[-1])[None] < lengths[:, None]).float()
    got = (attn.float().mean(2) * real[:, None, :, None]).sum(2) / real.sum(1)[:, None, None]
    return got * real[:, None]


def _adjust_logits(logits, counts, tau=1.0):
    share = torch.as_tensor(counts, dtype=torch.float64)
    return logits - tau * (share / share.sum()).log().to(logits.dtype)


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize('key', ['13.1', '13.2', '13.3', '13.4', '13.5'])
def test_exercise_not_attempted(key):
    assert check(key, None, quiet=True).status == 'not attempted'
    assert check(key, _stub, quiet=True).status == 'not attempted'



def test_exercise_13_1_freeze_found_rows():
    assert check('13.1', _freeze_found_rows, quiet=True)
    r = check('13.1', _freeze_all, quiet=True)
    assert [v.label for v in r.failed] == ['the rows without a vector learn'] and 'did not change' in _details(r)
    assert 'hook' not in _details(r) and 'requires_grad' not in _details(r)  # a hint, not the answer
    r = check('13.1', lambda m, found: m, quiet=True)  # nothing frozen: the found rows move
    assert [v.label for v in r.failed] == ['the rows with a vector stay exactly as they were'] and 'changed in training' in _details(r)
    r = check('13.1', lambda m, found: None, quiet=True)
    assert [v.label for v in r.failed] == ['returns the classifier']


def test_exercise_13_2_permutation_p():
    assert check('13.2', _permutation_p, quiet=True)
    r = check('13.2', lambda *a, **k: _permutation_p(*a, **k, strict=True), quiet=True)
    assert r.failed and all('more than the' in v.detail for v in r.failed) and 'off by' in _details(r)
    assert '>=' not in _details(r)  # says what to think about, not what to write
    r = check('13.2', lambda *a, seed=0, **k: _permutation_p(*a, seed=np.random.randint(10**6), **k), quiet=True)
    assert 'the same seed repeats the result' in [v.label for v in r.failed]
    r = check('13.2', lambda *a, **k: 100 * _permutation_p(*a, **k), quiet=True)  # a percentage instead of a fraction
    assert [v.label for v in r.failed] == ['returns a fraction between 0 and 1']


def test_exercise_13_3_cls_classifier():
    assert check('13.3', _Cls, quiet=True)
    r = check('13.3', _ClsColumn, quiet=True)
    assert [v.label for v in r.failed] == ['most_attended: the weights with which the classified output mixes the tokens, '
                                           'last layer, mean of the heads'] and 'differs' in _details(r)
    assert ':, 0, 1:' not in _details(r) and 'row 0' not in _details(r)
    r = check('13.3', _ClsMean, quiet=True)
    assert 'the head reads the output at the CLS position, in front of the tokens' in [v.label for v in r.failed]
    r = check('13.3', TransformerClassifier, quiet=True)  # no CLS token at all
    assert 'one learned vector more than TransformerClassifier(cfg) (d_model = 16 weights)' in [v.label for v in r.failed]
    assert '+0 weights' in _details(r)


def test_exercise_13_4_received_by_layer():
    assert check('13.4', _received_by_layer, quiet=True)
    r = check('13.4', lambda a, l: _received_by_layer(a, l, all_rows=True), quiet=True)
    labels = [v.label for v in r.failed]
    assert 'where all real queries attend alike, each layer gives that row (mean of the heads)' in labels
    assert 'padding changes nothing' in labels and 'differs' in _details(r)
    r = check('13.4', lambda a, l: _received_by_layer(a, l).mean(1), quiet=True)  # averaged over the layers: received_attention
    assert [v.label for v in r.failed] == ['returns (B, n_layers, T)'] and 'expected (3, 3, 6), got (3, 6)' in _details(r)


def test_exercise_13_5_adjust_logits():
    assert check('13.5', _adjust_logits, quiet=True)
    r = check('13.5', lambda z, c, tau=1.0: z / (torch.as_tensor(c, dtype=z.dtype) / sum(c)) ** tau, quiet=True)
    assert r.failed and all(v.label.startswith(('tau=1.0', 'tau=0.5', 'only the class shares')) for v in r.failed)
    assert 'log' not in _details(r)  # the trick is not given away
    r = check('13.5', lambda z, c, tau=1.0: z.sub_(tau * (torch.as_tensor(c, dtype=z.dtype) / sum(c)).log()), quiet=True)
    assert [v.label for v in r.failed] == ['leaves the logits passed in unchanged'] and 'in place' in _details(r)
    r = check('13.5', lambda z, c, tau=1.0: _adjust_logits(z, c, tau).softmax(-1).argmax(-1), quiet=True)  # labels, not logits
    assert [v.label for v in r.failed] == ['returns float logits (N, C)']
