"""Bad inputs, failure paths and sampler invariants of seqlab.data."""
import json
from functools import partial

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from seqlab.data import (BucketSampler, DataLoaders, TextDataset, TokenBudgetSampler, Vocab, check_labels, pad_collate,
                         padding_waste, random_deletion, run_packed, stratified_kfold, stratified_split, tokenize)

torch.set_num_threads(1)
TEXTS = ["A great film, truly great.", "A dull film.", "Great acting; dull plot!", "Not a great plot."]


@pytest.fixture
def vocab():
    return Vocab.build([tokenize(t) for t in TEXTS])


# --- tokenizer and vocabulary -------------------------------------------------------------------

def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError, match='expects a str'):
        tokenize(None)


def test_decode_out_of_range_names_id_and_size(vocab):
    n = len(vocab)
    with pytest.raises(IndexError, match=rf'id {n}\b.*vocab size {n}'):
        vocab.decode([2, n])
    with pytest.raises(IndexError, match=r'id -1\b'):
        vocab.decode(torch.tensor([-1]))


def test_encode_unknown_and_raw_string(vocab):
    assert vocab.encode(['great', 'zebra']) == [vocab.stoi['great'], vocab.unk_idx]
    with pytest.raises(TypeError, match='tokenize'):
        vocab.encode('great film')


def test_specials_and_limits():
    toks = [tokenize(t) for t in TEXTS]
    v = Vocab.build(toks, bos_eos=True)
    assert v.itos[:4] == ['<pad>', '<unk>', '<bos>', '<eos>'] and (v.pad_idx, v.unk_idx, v.bos_idx, v.eos_idx) == (0, 1, 2, 3)
    assert len(Vocab.build(toks, max_size=3)) == 3
    with pytest.raises(ValueError, match='max_size'):
        Vocab.build(toks, max_size=1)
    with pytest.raises(ValueError, match='min_freq'):
        Vocab.build(toks, min_freq=0)
    with pytest.raises(ValueError, match='must start with'):
        Vocab(['a', 'b'])
    with pytest.raises(ValueError, match='unique'):
        Vocab(['<pad>', '<unk>', 'a', 'a'])


def test_vocab_save_load_roundtrip(tmp_path, vocab):
    p = vocab.save(tmp_path / 'sub' / 'vocab.json')
    assert Vocab.load(p) == vocab
    assert json.loads(p.read_text())['itos'] == vocab.itos
    (tmp_path / 'bad.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match='not a saved Vocab'):
        Vocab.load(tmp_path / 'bad.json')


# --- data set and collate -----------------------------------------------------------------------

def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match='empty'):
        TextDataset([], [])


def test_label_outside_classes():
    with pytest.raises(ValueError, match=r"label 2 is outside the classes.*n_classes=2"):
        TextDataset(TEXTS, [0, 1, 2, 0], n_classes=2)
    with pytest.raises(ValueError, match=r"label 'meh' is not one of the 2 classes"):
        TextDataset(TEXTS, ['pos', 'neg', 'meh', 'pos'], classes=['neg', 'pos'])
    with pytest.raises(ValueError, match='outside the classes'):
        TextDataset(TEXTS, [0, 1, -1, 0], n_classes=2)


def test_non_int_labels_without_classes():
    with pytest.raises(TypeError, match='pass classes'):
        TextDataset(TEXTS, ['pos', 'neg', 'pos', 'neg'])


def test_ids_outside_vocab(vocab):
    with pytest.raises(ValueError, match='ids must lie in'):
        TextDataset([[2, 3], [len(vocab)]], [0, 1], vocab=vocab)


def test_label_count_mismatch():
    with pytest.raises(ValueError, match='one label per text'):
        TextDataset(TEXTS, [0, 1])


def test_dataset_uses_given_vocab_and_max_len(vocab):
    ds = TextDataset(["great zebra film"], [0], vocab=vocab, max_len=2)
    assert ds.vocab is vocab
    assert ds[0][0].tolist() == [vocab.stoi['great'], vocab.unk_idx]
    assert ds.lengths == [2]


def test_dataset_augment_applied_on_read(vocab):
    ds = TextDataset(TEXTS, [0, 1, 0, 1], vocab=vocab, augment=partial(random_deletion, p=1.0))
    assert len(ds[0][0]) == 1 and ds.lengths[0] == 7


def test_pad_collate_shapes_and_dtypes():
    batch = [(torch.tensor([3, 4, 5]), 1), (torch.tensor([6]), 0)]
    (x, lengths), y = pad_collate(batch, pad_idx=0)
    assert x.tolist() == [[3, 4, 5], [6, 0, 0]]
    assert lengths.tolist() == [3, 1] and lengths.dtype == torch.long and y.dtype == torch.long
    (x2, _), _ = pad_collate([(torch.zeros(2, 4), 0), (torch.ones(3, 4), 1)])  # (T, C) features
    assert x2.shape == (2, 3, 4)
    with pytest.raises(ValueError, match='empty batch'):
        pad_collate([])


def test_run_packed_matches_unpadded_per_item():
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 5, batch_first=True)
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([2, 6, 4])
    with torch.no_grad():
        out, h = run_packed(gru, x, lengths)
        for i, l in enumerate(lengths.tolist()):
            ref, h_ref = gru(x[i:i + 1, :l])
            torch.testing.assert_close(out[i, :l], ref[0])
            torch.testing.assert_close(h[:, i], h_ref[:, 0])
            assert (out[i, l:] == 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_packed_matches_padded_on_cuda():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 16, batch_first=True, bidirectional=True).cuda()
    x = torch.randn(5, 9, 8, device='cuda')
    lengths = torch.tensor([9, 3, 5, 1, 7], device='cuda')  # lengths on the GPU are moved to the CPU
    # cuDNN may use TF32 matmuls (about 3 decimal digits), which would hide a real mismatch: compare in full fp32
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        out, _ = run_packed(lstm, x, lengths)
        for i, l in enumerate(lengths.tolist()):
            torch.testing.assert_close(out[i, :l], lstm(x[i:i + 1, :l])[0][0], atol=1e-5, rtol=1e-4)
    ds = TextDataset(TEXTS, [0, 1, 0, 1])
    (xb, lb), yb = next(iter(DataLoaders.from_datasets(ds, ds, bs=2).train))
    assert xb.is_pinned() and lb.is_pinned()


# --- samplers -----------------------------------------------------------------------------------

@pytest.mark.parametrize('bad', [0, -5, 0.5, None])
def test_max_tokens_below_one(bad):
    with pytest.raises(ValueError, match='max_tokens must be an int >= 1'):
        TokenBudgetSampler([3, 4], max_tokens=bad)


def test_sampler_bad_inputs():
    with pytest.raises(ValueError, match='empty'):
        TokenBudgetSampler([], max_tokens=10)
    with pytest.raises(ValueError, match='>= 0'):
        TokenBudgetSampler([3, -1], max_tokens=10)
    with pytest.raises(ValueError, match='batch_size'):
        BucketSampler([3, 4], batch_size=0)
    with pytest.raises(ValueError, match='pool_size'):
        BucketSampler([3, 4], batch_size=2, pool_size=0)


def test_long_item_gets_its_own_batch():
    s = TokenBudgetSampler([3, 100, 4, 5], max_tokens=20, shuffle=False)
    assert list(s) == [[0, 2, 3], [1]]


def _flat(batches):
    return sorted(i for b in batches for i in b)


lengths_st = st.lists(st.integers(0, 300), min_size=1, max_size=300)
positive_lengths_st = st.lists(st.integers(1, 300), min_size=1, max_size=300)  # the token budget rejects length 0


@settings(max_examples=60, deadline=None)
@given(lengths=positive_lengths_st, max_tokens=st.integers(1, 2000), seed=st.integers(0, 2**31 - 2),
       pool=st.one_of(st.none(), st.integers(1, 50)), shuffle=st.booleans())
def test_token_budget_invariants(lengths, max_tokens, seed, pool, shuffle):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # items over the budget are warned about (tested below)
        s = TokenBudgetSampler(lengths, max_tokens, shuffle=shuffle, seed=seed, pool_size=pool)
    for epoch in range(2):  # two epochs
        s.set_epoch(epoch)
        n_expected = len(s)
        batches = list(s)
        assert len(batches) == n_expected
        assert _flat(batches) == list(range(len(lengths)))  # every index exactly once
        for b in batches:
            assert all(isinstance(i, int) for i in b)
            assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_tokens  # budget kept


@settings(max_examples=40, deadline=None)
@given(lengths=lengths_st, bs=st.integers(1, 40), seed=st.integers(0, 1000),
       pool=st.one_of(st.none(), st.integers(1, 80)))
def test_bucket_invariants(lengths, bs, seed, pool):
    s = BucketSampler(lengths, bs, seed=seed, pool_size=pool)
    batches = list(s)
    assert _flat(batches) == list(range(len(lengths)))
    assert all(1 <= len(b) <= bs for b in batches)
    if pool is None:
        assert len(batches) == len(s) == -(-len(lengths) // bs)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 2), pool=st.one_of(st.none(), st.integers(20, 200)))
def test_shuffle_differs_per_epoch_and_repeats_for_a_seed(seed, pool):
    lengths = np.random.default_rng(seed).integers(1, 400, 400)
    a = TokenBudgetSampler(lengths, 2000, seed=seed, pool_size=pool)
    b = TokenBudgetSampler(lengths, 2000, seed=seed, pool_size=pool)
    ea = [a.set_epoch(e) or list(a) for e in range(3)]
    assert ea == [b.set_epoch(e) or list(b) for e in range(3)]  # same seed, same epochs
    assert ea[0] != ea[1] and ea[1] != ea[2]  # a new order every epoch
    b.set_epoch(1)
    assert list(b) == ea[1]  # an epoch can be replayed


def test_unseeded_sampler_follows_torch_seed():
    lengths = list(range(1, 200))
    torch.manual_seed(3)
    a = list(TokenBudgetSampler(lengths, 500))
    torch.manual_seed(3)
    assert list(TokenBudgetSampler(lengths, 500)) == a


def test_no_shuffle_is_sorted_and_stable():
    lengths = [5, 1, 3, 1, 9, 3]
    with pytest.warns(UserWarning, match='1 items are longer than max_tokens=6'):
        s = TokenBudgetSampler(lengths, 6, shuffle=False)
    assert list(s) == list(s) == [[1, 3], [2, 5], [0], [4]]  # 2 x 3 = 6 fits, 2 x 5 does not


def test_token_budget_beats_random_padding():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(np.log(175), 0.8, 3000).round(), 10, 2500).astype(int)
    tb = TokenBudgetSampler(lengths, 8192, seed=0)
    rand = np.array_split(rng.permutation(len(lengths)), len(tb))
    assert padding_waste(tb, lengths) < 0.10 < 0.40 < padding_waste(rand, lengths)


# --- splits, augmentation, loaders --------------------------------------------------------------

def test_stratified_split_bad_inputs():
    with pytest.raises(ValueError, match='empty'):
        stratified_split([])
    with pytest.raises(ValueError, match='valid_pct'):
        stratified_split([0, 1] * 10, valid_pct=0.6, test_pct=0.5)
    with pytest.raises(ValueError, match='Cannot stratify'):
        stratified_split([0] * 10 + [1], valid_pct=0.1, test_pct=0.1)


def test_stratified_split_is_a_partition_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, va, te = stratified_split(y, 0.2, 0.1, seed=1)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert [np.mean(y[va] == c) for c in range(3)] == [0.5, 0.3, 0.2]
    assert all((a == b).all() for a, b in zip((tr, va, te), stratified_split(y, 0.2, 0.1, seed=1)))


def test_kfold_bad_inputs_and_partition():
    with pytest.raises(ValueError, match='n_splits'):
        stratified_kfold([0, 1, 0, 1], n_splits=1)
    with pytest.raises(ValueError, match='empty'):
        stratified_kfold([])
    y = np.repeat([0, 1], [12, 8])
    folds = stratified_kfold(y, n_splits=4, seed=0)
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(20))
    for tr, va in folds:
        assert not set(tr) & set(va) and len(tr) + len(va) == 20


@settings(deadline=None)
@given(tokens=st.lists(st.integers(), min_size=1, max_size=50), p=st.floats(0, 1), seed=st.integers(0, 10**6))
def test_random_deletion_never_empty_and_a_subsequence(tokens, p, seed):
    out = random_deletion(tokens, p, rng=seed)
    assert 1 <= len(out) <= len(tokens)
    it = iter(tokens)
    assert all(t in it for t in out)  # order kept, only deletions


def test_random_deletion_bad_inputs():
    with pytest.raises(ValueError, match='empty'):
        random_deletion([])
    with pytest.raises(ValueError, match='p must be a number from 0 to 1'):
        random_deletion(['a'], p=1.5)


def test_dataloaders_empty_split_and_sampler_fn(vocab):
    ds = TextDataset(TEXTS, [0, 1, 0, 1], vocab=vocab)
    with pytest.raises(ValueError, match='training data set is empty'):
        DataLoaders.from_datasets([], ds)
    dls = DataLoaders.from_datasets(ds, ds, ds, sampler_fn=partial(BucketSampler, batch_size=3, seed=0))
    assert dls.test is not None and len(dls.train) == 2
    (x, lengths), y = next(iter(dls.valid))
    assert x.shape == (3, int(lengths.max())) and y.shape == (3,)
    # validation does not shuffle: the same batches every time
    assert [b[1].tolist() for b in dls.valid] == [b[1].tolist() for b in dls.valid]


# ---------------------------------------------------------------- issue 11: nothing silent

def test_vocab_build_rejects_non_strings_and_empty_corpus():
    with pytest.raises(TypeError, match=r"tokens that are str, got 3 \(int\)"):
        Vocab.build([[3, 4], [5]])
    with pytest.raises(ValueError, match='corpus is empty'):
        Vocab.build([])
    with pytest.raises(ValueError, match='corpus is empty'):
        Vocab.build([[], []])


@pytest.mark.parametrize('ids', [[2.0, 3.0], torch.tensor([2.0]), np.array([2.5]), [True]])
def test_decode_rejects_float_ids(ids):
    v = Vocab.build([['a', 'b']])
    with pytest.raises(TypeError, match='decode expects integer ids'):
        v.decode(ids)


def test_decode_accepts_integer_ids():
    v = Vocab.build([['a', 'b']])
    assert v.decode(torch.tensor([2, 3])) == v.decode(np.array([2, 3])) == v.decode([2, np.int64(3)]) == ['a', 'b']


@pytest.mark.parametrize('lengths,match', [([3.5, 4.0], 'lengths must be integers'), (np.ones((4, 2), int), '1-d'),
                                           ([], 'empty'), ([3, -1], '>= 0')])
def test_sampler_lengths_are_checked(lengths, match):
    with pytest.raises((TypeError, ValueError), match=match):
        BucketSampler(lengths, batch_size=2)


@pytest.mark.parametrize('bs', [2.5, 0, True, '4'])
def test_batch_size_must_be_an_int(bs):
    with pytest.raises(ValueError, match='batch_size must be an int'):
        BucketSampler([3, 4, 5], batch_size=bs)
    ds = TextDataset(['a b', 'c'], [0, 1])
    with pytest.raises(ValueError, match='bs must be an int'):
        DataLoaders.from_datasets(ds, ds, bs=bs)


def test_random_deletion_rejects_a_raw_string():
    with pytest.raises(TypeError, match='got a str'):
        random_deletion('a raw text', p=0.5)


def test_token_budget_rejects_zero_lengths_and_warns_once_over_budget():
    with pytest.raises(ValueError, match='2 items have length 0'):
        TokenBudgetSampler([3, 0, 0, 4], max_tokens=20)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        s = TokenBudgetSampler([5, 50, 60, 5], max_tokens=20, seed=0)
        for e in range(3):
            s.set_epoch(e)
            list(s)
    assert len(w) == 1 and '2 items are longer than max_tokens=20' in str(w[0].message)


def test_pad_collate_rejects_empty_items():
    with pytest.raises(ValueError, match='item 1 of the batch has no tokens'):
        pad_collate([([3, 4], 0), ([], 1)])
    with pytest.raises(ValueError, match='empty batch'):
        pad_collate([])


@pytest.mark.parametrize('bad', [None, 3, float('nan')])
def test_text_dataset_rejects_missing_texts(bad):
    with pytest.raises(TypeError, match='text 1 is'):
        TextDataset(['a text', bad], [0, 1])


def test_iterating_a_sampler_changes_nothing():
    """A demo `next(iter(dl))` must not shift the epochs training sees: epoch e depends only on (seed, e)."""
    lengths = np.random.default_rng(0).integers(1, 200, 300)
    a, b = (TokenBudgetSampler(lengths, 1000, seed=7) for _ in range(2))
    ds = TextDataset([[1] * int(n) for n in lengths], [0] * len(lengths))
    dl = DataLoaders.from_datasets(ds, ds, sampler_fn=partial(TokenBudgetSampler, max_tokens=1000, seed=7))
    next(iter(dl.train))  # a look at one batch
    next(iter(a))
    for e in (0, 1, 2):
        a.set_epoch(e)
        b.set_epoch(e)
        dl.set_epoch(e)
        assert list(a) == list(b) == list(dl.train.batch_sampler)
    for s in (BucketSampler(lengths, 16, seed=7), a):
        s.set_epoch(4)
        first = list(s)
        assert list(s) == first  # iterating twice: the same epoch
    with pytest.raises(ValueError, match='epoch must be a non-negative int'):
        a.set_epoch(-1)


@pytest.mark.parametrize('text,tokens', [
    ("I don’t like it, and I won’t watch it again.", ['i', "don't", 'like', 'it', ',', 'and', 'i', "won't", 'watch', 'it', 'again', '.']),
    ("It’s the film’s best scene — ‘quiet’ and sad.", ["it's", 'the', "film's", 'best', 'scene', '—', "'", 'quiet', "'", 'and', 'sad', '.']),
    ("Beyonce\u0301 sang at the Caf\u00e9 in Zu\u0308rich.", ['beyoncé', 'sang', 'at', 'the', 'café', 'in', 'zürich', '.']),
    ("The ﬁrst ﬂight cost ＄１２０.", ['the', 'first', 'flight', 'cost', '$', '120', '.']),
])
def test_tokenize_normalises_unicode_on_real_sentences(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_keeps_one_form_of_a_word():
    composed, decomposed = 'na\u00efve caf\u00e9', 'nai\u0308ve cafe\u0301'
    assert tokenize(composed) == tokenize(decomposed) == ['naïve', 'café']


# --- warnings that must not be swallowed (Python shows a repeated warning once per line) ------------------------

def _recorded(fn, times=2):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('default')  # Python's own setting
        for _ in range(times):
            fn()
    return [str(x.message) for x in w]


def test_every_over_budget_sampler_warns():
    """A second sampler with the same long item (a validation split, a cell run again) used to pass silently."""
    msgs = _recorded(lambda: TokenBudgetSampler([100, 2, 3], max_tokens=10))
    assert len(msgs) == 2 and all('longer than max_tokens=10' in m and 'item 0' in m for m in msgs)


def test_over_budget_warning_in_loaders_of_two_splits():
    ds = TextDataset([['a'] * 30, ['b'], ['a', 'b']], [0, 1, 0])
    fn = lambda: DataLoaders.from_datasets(ds, ds, sampler_fn=lambda l, shuffle: TokenBudgetSampler(l, 10, shuffle=shuffle))
    assert len(_recorded(fn, times=1)) == 2  # train and valid both say it


def test_empty_text_becomes_unk_with_a_warning_each_time():
    msgs = _recorded(lambda: TextDataset(['', 'a b', '...'], [0, 1, 0], tokenizer=lambda t: t.split() if t != '...' else []))
    assert len(msgs) == 2 and msgs[0].startswith('2 of 3 texts have no tokens (e.g. text 0')
    assert TextDataset(['', 'a b'], [0, 1]).ids[0].tolist() == [1]


def test_user_filters_still_apply_to_data_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(UserWarning, match='no tokens'):
            TextDataset(['', 'a b'], [0, 1])


# --- inputs checked where they enter (not deep inside NumPy, PyTorch, scikit-learn or json) ------------------

@pytest.mark.parametrize('call,err,says', [
    (lambda: Vocab.build(None), TypeError, 'token_lists must be a list of token lists, got NoneType'),
    (lambda: Vocab.build([['a', None, 'b']]), TypeError, 'got None (NoneType)'),
    (lambda: Vocab.build([['a', 3]]), TypeError, 'got 3 (int)'),
    (lambda: Vocab.build([['a'], None]), TypeError, 'token_lists[1] is None'),
    (lambda: Vocab.build([['a']], min_freq=1.5), ValueError, 'min_freq must be an int >= 1'),
    (lambda: Vocab.build([['a']], max_size=2.5), ValueError, 'max_size must be an int >= 1'),
    (lambda: Vocab(None), TypeError, 'itos must be a list of tokens'),
    (lambda: Vocab.build([['a']]).encode(None), TypeError, 'tokens must be a list of tokens (str), got NoneType'),
    (lambda: Vocab.build([['a']]).encode(['a', None]), TypeError, 'encode expects tokens that are str, got None'),
    (lambda: Vocab.build([['a']]).decode(None), TypeError, 'ids must be a sequence of ids'),
    (lambda: TextDataset('a b c', [0, 1, 0, 1, 0]), TypeError, 'texts_or_ids must be a list'),
    (lambda: TextDataset(['a'], [0], tokenizer=None), TypeError, 'tokenizer must be a function'),
    (lambda: TextDataset(['a'], [0], vocab=['<pad>', '<unk>']), TypeError, 'vocab must be a seqlab.data.Vocab'),
    (lambda: TextDataset([[4, -2]], [0]), ValueError, 'ids must be >= 0'),
    (lambda: TextDataset([[4, 'a']], [0]), TypeError, 'mixes ids and tokens'),
    (lambda: check_labels(None), TypeError, 'labels must be a list of labels'),
    (lambda: check_labels(['a'], classes='ab'), TypeError, 'classes must be a list of class names, got str'),
    (lambda: check_labels([[0]]), TypeError, 'is not one label'),
    (lambda: pad_collate([(torch.tensor([1, 2]), 0), (torch.tensor([1.5]), 1)]), TypeError, 'mix dtypes'),
    (lambda: pad_collate([('ab', 0)]), TypeError, 'holds a str, not ids'),
    (lambda: pad_collate([(torch.tensor([1]),)]), ValueError, 'not a pair (ids, label)'),
    (lambda: pad_collate([(torch.tensor([1]), 0)], pad_idx=None), TypeError, 'pad_idx must be an int'),
    (lambda: run_packed(torch.nn.GRU(4, 3, batch_first=True), torch.zeros(2, 3, 4), torch.tensor([5, 2])), ValueError, 'lengths must be one length in 1..T=3'),
    (lambda: run_packed(torch.nn.GRU(4, 3, batch_first=True), torch.zeros(2, 3, 4), torch.tensor([3])), ValueError, 'per row of x (B=2)'),
    (lambda: run_packed(torch.nn.GRU(4, 3), torch.zeros(2, 3, 4), torch.tensor([3, 2])), ValueError, 'batch_first=True'),
    (lambda: padding_waste([[]], [1, 2]), ValueError, 'batch 0 is []'),
    (lambda: padding_waste([[5]], [1, 2]), ValueError, 'item indices in 0..1'),
    (lambda: BucketSampler([1, 2], 2, seed=-1), ValueError, 'seed must be an int from 0 to 2**32 - 1 or None, got -1'),
    (lambda: TokenBudgetSampler([1, 2], 10, seed=1.5), ValueError, 'seed must be an int'),
    (lambda: BucketSampler([1, 2], 2, pool_size=1.5), ValueError, 'pool_size must be an int >= 1'),
    (lambda: BucketSampler([1, 2], 2).batches(-1), ValueError, 'epoch must be an int >= 0'),
    (lambda: stratified_split([0, 1] * 10, seed=-1), ValueError, 'seed must be an int from 0'),
    (lambda: stratified_split([[0, 1]] * 10), ValueError, 'labels must be 1-d'),
    (lambda: stratified_split([0, 1] * 10, valid_pct='a'), ValueError, 'valid_pct must be a number'),
    (lambda: stratified_kfold([0, 1] * 10, n_splits=2.5), ValueError, 'n_splits must be an int >= 2'),
    (lambda: stratified_kfold([0, 1] * 10, seed=-1), ValueError, 'seed must be an int from 0'),
    (lambda: random_deletion([1, 2], rng=-1), ValueError, 'rng must be an int from 0'),
    (lambda: random_deletion(None), TypeError, 'tokens must be a list of tokens or ids'),
    (lambda: DataLoaders(None, None), TypeError, 'DataLoaders.train must be a DataLoader (an iterable of batches), got NoneType'),
    (lambda: DataLoaders.from_datasets(None, None), ValueError, 'train_ds is required'),
    (lambda: DataLoaders.from_datasets([(torch.tensor([1]), 0)], None, num_workers=-1), ValueError, 'num_workers must be an int >= 0'),
    (lambda: DataLoaders.from_datasets([(torch.tensor([1]), 0)], None, sampler_fn=42), TypeError, 'sampler_fn must be a function'),
])
def test_bad_input_is_refused_at_the_boundary(call, err, says):
    with pytest.raises(err) as e:
        call()
    assert says in str(e.value), str(e.value)


def test_vocab_load_of_a_file_that_is_not_json(tmp_path):
    (tmp_path / 'model.pt').write_bytes(b'\x80\x02not json at all')
    with pytest.raises(ValueError, match='is not a saved Vocab: it is not JSON'):
        Vocab.load(tmp_path / 'model.pt')
    with pytest.raises(FileNotFoundError, match='No vocabulary file at'):
        Vocab.load(tmp_path / 'missing.json')
    with pytest.raises(IsADirectoryError, match='give a file name'):
        Vocab.build([['a']]).save(tmp_path)
