"""16_audio: parameter counts, shapes, invariances, the mel filterbank, folds, BatchNorm in eval() mode and bad inputs."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.audio import (AUDIO_MODELS, AudioConfig, DebiasedBatchNorm1d, LogMel, MelCNN, MelConfig, PreciseBNCB, WaveAugmentCB,
                          WaveCNN, WaveTransformer, audio_kfold, bn_variances, build_audio_model, check_source_folds, conv_block,
                          esc10_arrays, fold_loaders, hz_to_mel, mel_filterbank, mel_to_hz, mix_clips, mode_accuracy, param_breakdown, precise_bn,
                          random_shift, train_audio)
from seqlab.core import n_params, set_seed
from seqlab.datasets import Split, load_esc10
from seqlab.learner import overfit_batch
from seqlab.metrics import accuracy


@pytest.fixture(scope='module')
def sample():
    "The quick-mode sample of the notebook: 100 clips of 1 s at 8 kHz, 10 classes, 5 folds."
    torch.set_num_threads(1)
    return esc10_arrays(load_esc10(quick=True, seed=0, n=100, sample_rate=8000, verbose=False))


def test_architecture_1_has_the_reports_parameter_count():
    assert n_params(WaveCNN(AudioConfig())) == 540_682
    assert n_params(WaveCNN(AudioConfig(debias_bn=False))) == 540_682


@pytest.mark.parametrize('tokens', ['channels', 'time'])
def test_architecture_2_count_does_not_depend_on_heads(tokens):
    counts = {h: n_params(WaveTransformer(AudioConfig(head='transformer', tokens=tokens, n_heads=h))) for h in (1, 2, 4)}
    assert len(set(counts.values())) == 1, counts


def test_architecture_2_reproduces_421130_without_cls_and_final_norm():
    b = param_breakdown(WaveTransformer(AudioConfig(head='transformer')))
    assert b['total'] == sum(v for k, v in b.items() if k != 'total')
    assert b['total'] - b['CLS vector'] - b['final layer norm'] == 421_130
    assert b['CLS vector'] == 128 and b['positions'] == 0


@pytest.mark.parametrize('name', list(AUDIO_MODELS))
@pytest.mark.parametrize('shape', [(3, 4000), (3, 1, 4000)])
def test_output_shapes(name, shape):
    m = build_audio_model(name, 8000, **({'n_fft': 256, 'n_mels': 32} if name == 'logmel_cnn' else {})).eval()
    assert m(torch.randn(*shape)).shape == (3, 10)


def test_transformer_attention_shape_and_rows():
    m = WaveTransformer(AudioConfig(head='transformer', n_heads=2)).eval()
    logits, attn = m(torch.randn(2, 4000), return_attn=True)
    assert attn.shape == (2, 2, 2, 65, 65)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 2, 65))


@pytest.mark.parametrize('tokens', ['channels', 'time'])
def test_cls_output_does_not_depend_on_batch_order(tokens):
    torch.manual_seed(0)
    m = WaveTransformer(AudioConfig(head='transformer', tokens=tokens)).eval()
    x = torch.randn(5, 4000)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(m(x[perm]), m(x)[perm], atol=1e-5, rtol=1e-5)


def test_mel_filterbank_is_nonnegative_with_increasing_peaks():
    for n_mels, n_fft, sr in [(32, 512, 16000), (64, 1024, 22050), (10, 256, 8000)]:
        fb = mel_filterbank(n_mels, n_fft, sr)
        assert fb.shape == (n_mels, n_fft // 2 + 1)
        assert (fb >= 0).all() and (fb.max(1).values > 0).all()
        assert (fb.argmax(1).diff() > 0).all()


def test_log_mel_shape_and_a_tone_lands_in_its_band():
    sr, n_fft = 8000, 256
    t = torch.arange(sr) / sr
    tone = torch.sin(2 * torch.pi * 1000 * t)[None]
    S = LogMel(sr, n_fft, n_mels=32)(tone)
    assert S.shape == (1, 32, sr // (n_fft // 4) + 1)
    fb = mel_filterbank(32, n_fft, sr)
    peak_band = int(fb[:, round(1000 / (sr / 2) * (n_fft // 2))].argmax())
    assert int(S[0].mean(1).argmax()) == peak_band


def test_source_folds():
    names = ['1-100032-A-0.wav', '1-100032-B-0.wav', '3-5000-A-1.wav']
    assert check_source_folds(names, [1, 1, 3]) == 2
    with pytest.raises(ValueError, match='100032'):
        check_source_folds(names, [1, 2, 3])
    with pytest.raises(ValueError, match='not ESC-50 file names'):
        check_source_folds(['dog.wav'], [1])
    with pytest.raises(ValueError, match='filenames is empty'):
        check_source_folds([], [])
    with pytest.raises(ValueError, match='one fold per file'):
        check_source_folds(names, [1, 1])


def test_source_folds_run_on_what_load_esc10_returns():
    x, y, folds, files = esc10_arrays(load_esc10(quick=True, seed=0, n=100, sample_rate=4000, verbose=False), with_files=True)
    assert len(files) == len(x) == 100 and all(f.endswith('.wav') for f in files)
    assert check_source_folds(files, folds) == 100  # the sample: one source recording per clip
    assert [int(f.split('-')[0]) for f in files] == folds.tolist()  # each name carries its clip's fold


def test_validation_and_test_folds_are_kept_out_of_training(sample):
    x, y, folds = sample
    assert len(x) == 100 and sorted(set(folds.tolist())) == [1, 2, 3, 4, 5]
    for f in range(1, 5):
        dls = fold_loaders(x, y, folds, f, bs=8, test_fold=5)
        sizes = [len(dl.dataset) for dl in dls]
        assert sizes == [60, 20, 20]
    dls = fold_loaders(x, y, folds, 2, bs=8)  # no test fold: train on the other four
    assert dls.test is None and len(dls.train.dataset) == 80
    with pytest.raises(ValueError, match='valid_fold=6'):
        fold_loaders(x, y, folds, 6)
    with pytest.raises(ValueError, match='test_fold=0'):
        fold_loaders(x, y, folds, 4, test_fold=0)
    with pytest.raises(ValueError, match='two different folds'):
        fold_loaders(x, y, folds, 4, test_fold=4)


def test_clip_shorter_than_the_receptive_field_gets_a_clear_error():
    with pytest.raises(ValueError, match='shorter than the 625 samples'):
        WaveCNN()(torch.randn(2, 624))
    WaveCNN()(torch.randn(2, 625))  # exactly enough
    with pytest.raises(ValueError, match='one channel'):
        WaveCNN()(torch.randn(2, 2, 4000))
    with pytest.raises(TypeError, match='float tensor'):
        WaveCNN()(torch.zeros(2, 4000, dtype=torch.int16))
    with pytest.raises(ValueError, match=r'x\[None\]'):
        WaveCNN()(torch.randn(4000))
    with pytest.raises(ValueError, match='empty'):
        WaveCNN()(torch.randn(0, 4000))
    with pytest.raises(ValueError, match='shorter than'):
        MelCNN(MelConfig(sample_rate=8000, n_fft=256, n_mels=32))(torch.randn(2, 300))


@pytest.mark.parametrize('kw, match', [
    (dict(head='lstm'), 'choose one of'), (dict(tokens='frames'), 'choose one of'),
    (dict(channels=(8, 0, 32, 64)), 'positive ints'), (dict(channels=()), 'non-empty'),
    (dict(kernels=(11, 11, 7, 4)), 'must be odd'), (dict(kernels=(11, 11, 7)), 'one entry per conv block'),
    (dict(pool=0), 'pool'), (dict(pooled_len=-1), 'pooled_len'), (dict(hidden=0), 'hidden'), (dict(n_classes=1), 'n_classes'),
    (dict(n_layers=0), 'n_layers'), (dict(d_ff=0), 'd_ff'), (dict(dropout=1.0), 'dropout'), (dict(n_heads=2.5), 'n_heads'),
    (dict(head='transformer', n_heads=3), 'does not divide'), (dict(head='transformer', tokens='time', n_heads=5), 'does not divide'),
])
def test_impossible_audio_configs_raise_value_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        AudioConfig(**kw)


@pytest.mark.parametrize('kw, match', [
    (dict(n_fft=1), 'n_fft'), (dict(hop=0), 'hop'), (dict(n_mels=4), 'n_mels'), (dict(channels=(16, -1)), 'positive ints'),
    (dict(n_classes=0), 'n_classes'), (dict(sample_rate=0), 'sample_rate'), (dict(dropout=-0.1), 'dropout'),
])
def test_impossible_mel_configs_raise_value_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        MelConfig(**kw)


def test_bad_front_end_arguments():
    with pytest.raises(ValueError, match='f_max'):
        mel_filterbank(10, 256, 8000, f_max=9000)
    with pytest.raises(ValueError, match='stay empty'):
        mel_filterbank(128, 64, 8000)
    with pytest.raises(ValueError, match='n_mels'):
        mel_filterbank(0, 256, 8000)
    with pytest.raises(ValueError, match='even|odd'):
        conv_block(1, 8, 4)
    with pytest.raises(ValueError, match='unknown model'):
        build_audio_model('resnet', 16000)
    with pytest.raises(ValueError, match='sample_rate'):
        build_audio_model('cnn', 0)
    with pytest.raises(TypeError, match='WaveTransformer'):
        param_breakdown(WaveCNN())
    with pytest.raises(TypeError, match='cfg must be made by AudioConfig'):
        WaveCNN({'n_classes': 3})
    with pytest.raises(TypeError, match='cfg must be made by MelConfig'):
        MelCNN(AudioConfig())
    with pytest.raises(ValueError, match='>= 0 Hz'):
        hz_to_mel([-100.0, 100.0])
    with pytest.raises(ValueError, match='mels must be >= 0'):
        mel_to_hz(-1.0)


def test_no_input_check_is_an_assert():
    "`python -O` removes assert statements: the module's checks must raise errors."
    import ast, inspect
    import seqlab.audio
    tree = ast.parse(inspect.getsource(seqlab.audio))
    assert not [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]


def test_augmentation_keeps_shapes_and_content():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 100)
    xs = random_shift(x, 0.3, g)
    assert xs.shape == x.shape
    for a, b in zip(xs, x):  # each row is a roll of its clip
        assert any(torch.equal(a, b.roll(k)) for k in range(-30, 31))
    xm, ym = mix_clips(x, torch.tensor([0, 1, 2, 3]), 5, generator=g)
    assert xm.shape == x.shape and ym.shape == (4, 5)
    torch.testing.assert_close(ym.sum(1), torch.ones(4))


def test_bad_augmentation_arguments():
    x = torch.randn(4, 100)
    with pytest.raises(ValueError, match='max_shift'):
        random_shift(x, 1.5)
    with pytest.raises(ValueError, match=r'\(B, T\)'):
        random_shift(x[:, None], 0.2)
    with pytest.raises(ValueError, match='class ids in 0..2'):
        mix_clips(x, torch.tensor([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match='integer class ids'):
        mix_clips(x, torch.tensor([0., 1., 0., 1.]), 3)
    with pytest.raises(ValueError, match='labels'):
        mix_clips(x, torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match='alpha'):
        mix_clips(x, torch.tensor([0, 1, 0, 1]), 3, alpha=0)
    with pytest.raises(ValueError, match='n_classes'):
        WaveAugmentCB(1)
    with pytest.raises(ValueError, match='mixup_alpha'):
        WaveAugmentCB(10, mixup_alpha=-1)


def test_bad_clips_labels_and_folds(sample):
    x, y, folds = sample
    with pytest.raises(ValueError, match='non-empty array'):
        fold_loaders(x[:0], y[:0], folds[:0], 1)
    with pytest.raises(TypeError, match='float waveforms'):
        fold_loaders((x * 1000).astype(np.int16), y, folds, 1)
    with pytest.raises(ValueError, match='y must be 100 integers'):
        fold_loaders(x, y[:50], folds, 1)
    with pytest.raises(ValueError, match='folds must be 100 integers'):
        fold_loaders(x, y, folds.astype(float), 1)
    with pytest.raises(ValueError, match='bs'):
        fold_loaders(x, y, folds, 1, bs=0)
    with pytest.raises(ValueError, match='no clips'):
        esc10_arrays(SimpleNamespace(name='ESC-10', train=Split(np.zeros((0, 10), np.float32), np.zeros(0, np.int64)), valid=None, test=None))
    td = load_esc10(quick=True, n=100, sample_rate=4000, verbose=False)
    td.train.meta.pop('fold')
    with pytest.raises(ValueError, match="meta"):
        esc10_arrays(td)


def test_train_audio_takes_the_class_count_from_the_data(sample):
    x, y, folds = sample
    keep = y < 3  # a data set of three classes
    learn = train_audio('cnn', x[keep], y[keep], folds[keep], 4, 8000, epochs=1, bs=8)
    assert learn.model.out.out_features == 3
    with pytest.raises(ValueError, match='n_classes=2'):
        train_audio('cnn', x[keep], y[keep], folds[keep], 4, 8000, epochs=1, n_classes=2)
    with pytest.raises(ValueError, match='at least two classes'):
        train_audio('cnn', x[y == 0], y[y == 0], folds[y == 0], 4, 8000, epochs=1)


def test_debiased_batchnorm_forgets_its_start_and_then_moves_as_usual():
    torch.manual_seed(0)
    xs = [torch.randn(8, 3, 20) * 0.05 + 1 for _ in range(12)]
    bn, plain = DebiasedBatchNorm1d(3).train(), nn.BatchNorm1d(3).train()
    for i, xb in enumerate(xs):
        bn(xb), plain(xb)
        if i < 10:  # a plain average of the batches so far: no trace of the start (mean 0, variance 1)
            torch.testing.assert_close(bn.running_mean, torch.stack([b.mean((0, 2)) for b in xs[:i + 1]]).mean(0))
            torch.testing.assert_close(bn.running_var, torch.stack([b.transpose(0, 1).flatten(1).var(1) for b in xs[:i + 1]]).mean(0))
    assert bn.momentum == 0.1  # the layer's own momentum is left as it was
    before = bn.running_mean.clone()
    bn(xs[0])  # batch 13: the usual moving average with momentum 0.1
    torch.testing.assert_close(bn.running_mean, 0.9 * before + 0.1 * xs[0].mean((0, 2)))
    assert (plain.running_var > 5 * bn.running_var).all()  # nn.BatchNorm1d still remembers its start
    assert set(bn.state_dict()) == set(plain.state_dict())


def test_precise_bn_recomputes_the_statistics_and_restores_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Dropout(0.5), nn.BatchNorm1d(4)).eval()
    xs = [torch.randn(8, 1, 30) * 0.1 for _ in range(3)]
    precise_bn(model, [(xb, None) for xb in xs])
    with torch.no_grad():
        feats = [model[0](xb) for xb in xs]  # dropout is off while the statistics are recorded
    torch.testing.assert_close(model[2].running_mean, torch.stack([f.mean((0, 2)) for f in feats]).mean(0))
    torch.testing.assert_close(model[2].running_var, torch.stack([f.transpose(0, 1).flatten(1).var(1) for f in feats]).mean(0))
    assert not model.training and model[2].momentum == 0.1
    assert precise_bn(nn.Linear(2, 2), []) is not None  # no BatchNorm: nothing to do
    with pytest.raises(ValueError, match='no batches'):
        precise_bn(model, [])


def test_overfit_one_batch_scores_its_batch_in_eval_mode(sample):
    "The check that catches a BatchNorm train/eval mismatch: a model that fits one batch must score it in eval() mode."
    x, y, folds = sample
    set_seed(0)
    batch = next(iter(fold_loaders(x, y, folds, 4, bs=16).train))
    fit = overfit_batch(build_audio_model('cnn', 8000), batch, lr=3e-3, steps=30, metrics=[accuracy])
    assert fit['accuracy'] == 1.0 and fit['last_loss'] < 0.1 * fit['first_loss'], fit


def test_waveform_cnn_scores_its_training_clips_in_eval_mode_and_beats_chance_held_out(sample):
    "Five epochs of architecture 1 on the quick sample: eval() mode must score the training clips as train() mode learnt them."
    x, y, folds = sample
    learn = train_audio('cnn', x, y, folds, 4, 8000, epochs=5, lr=3e-3, bs=16, seed=0)
    train_acc = learn.validate(learn.dls.train)['accuracy']  # eval() mode, the model's own training clips
    assert train_acc >= 0.6, train_acc  # chance is 0.1
    assert learn.history['accuracy'].iloc[-1] >= 0.3, learn.history  # held-out fold
    assert any(isinstance(cb, PreciseBNCB) for cb in learn.cbs)


def test_mode_accuracy_and_bn_variances_find_the_mismatch_of_plain_batchnorm(sample):
    x, y, folds = sample
    plain = train_audio('cnn', x, y, folds, 4, 8000, test_fold=5, epochs=3, lr=3e-3, bs=16, debias_bn=False, precise_bn=False)
    acc = mode_accuracy(plain.model, plain.dls.train)
    assert acc['train'] > acc['eval'] + 0.2, acc
    x_train = torch.from_numpy(x[(folds != 4) & (folds != 5)])
    v = bn_variances(plain.model, x_train)
    assert list(v.columns) == ['running variance', 'actual variance', 'ratio'] and len(v) == 4
    assert (v['ratio'] > 3).all(), v
    precise_bn(plain.model, plain.dls.train)
    v = bn_variances(plain.model, x_train)
    assert v['ratio'].between(0.9, 1.1).all(), v
    with pytest.raises(ValueError, match='no BatchNorm'):
        bn_variances(nn.Linear(3, 2), torch.randn(2, 3))


def test_kfold_with_a_test_fold(sample):
    x, y, folds = sample
    res = audio_kfold('logmel_cnn', x, y, folds, 8000, test_fold=5, epochs=1, bs=16, n_fft=256, n_mels=32)
    assert list(res.scores.index) == [1, 2, 3, 4] and list(res.scores.columns) == ['train', 'valid', 'test']
    assert torch.isnan(res.valid_logits[folds == 5]).all() and not torch.isnan(res.valid_logits[folds != 5]).any()
    assert set(res.test_logits) == {1, 2, 3, 4} and res.test_logits[1].shape == (20, 10)
    for f, h in res.histories.items():
        assert h['accuracy'].iloc[-1] == pytest.approx(res.scores.loc[f, 'valid'])


def test_training_with_augmentation_runs_and_validates_on_hard_labels(sample):
    x, y, folds = sample
    learn = train_audio('cnn_aug', x, y, folds, 5, 8000, epochs=1, bs=16)
    assert len(learn.history) == 1 and 0 <= learn.history['accuracy'].iloc[0] <= 1
    assert any(isinstance(cb, WaveAugmentCB) for cb in learn.cbs)
