"""13_emotion_attention: attention aggregation, rollout, rankings, attributions, class weights and bad inputs."""
import math

import pandas as pd

import numpy as np
import pytest
import torch

from seqlab.datasets import load_emotion
from seqlab.emotion_attention import (attention_rollout, class_weighted_loss, emotion_classifier, f1_weighted,
                                      rank_by_class, received_attention, token_attributions, top_token_per_sentence,
                                      train_emotion)
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
    with pytest.raises(AssertionError, match='every class'):
        class_weighted_loss([0, 0], 2)


@pytest.fixture(scope='module')
def prep():
    td = load_emotion(quick=True, n=300, verbose=False)
    return transformer_data(td, max_len=16, bs=32, p_delete=0.0)


def test_word2vec_variant_rows_and_bad_sizes(prep):
    kv = train_vectors(prep.token_lists, 'word2vec', vector_size=16, seed=0, epochs=1, cache=False)
    model, oov = emotion_classifier(prep, kv, d_model=16, n_heads=2, d_ff=16, max_len=16)
    assert model.embedding.weight.shape == (len(prep.vocab), 16) and len(oov.how) == len(prep.vocab)
    with pytest.raises(AssertionError, match='d_model=16'):
        emotion_classifier(prep, kv, d_model=32, n_heads=2, max_len=16)


@pytest.mark.parametrize('method', ['attention', 'rollout', 'grad_input'])
def test_attributions_cover_every_sentence_and_one_token_sentences_work(prep, method):
    learn = train_emotion(prep, epochs=1, lr=3e-3, d_model=16, n_heads=2, d_ff=16, max_len=16)
    ids, sc, lens, ys = token_attributions(learn.model, prep.dls.test, method)
    assert ids.shape == sc.shape and len(ys) == len(prep.dls.test.dataset)
    assert (sc[torch.arange(ids.shape[1])[None] >= lens[:, None]] == 0).all()  # nothing on padding
    one = torch.tensor([[prep.vocab.stoi.get('i', 2)]])
    logits, attn = learn.model.eval()(one, torch.tensor([1]), return_attn=True)
    assert attn.shape[-2:] == (1, 1) and torch.allclose(attn.sum(-1), torch.ones_like(attn.sum(-1)))
    with pytest.raises(AssertionError, match='choose'):
        token_attributions(learn.model, prep.dls.test, 'saliency')
