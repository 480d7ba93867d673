"""16_audio: parameter counts, shapes, invariances, the mel filterbank, folds and bad inputs."""
import numpy as np
import pytest
import torch

from seqlab.audio import (AUDIO_MODELS, AudioConfig, LogMel, MelCNN, MelConfig, WaveAugmentCB, WaveCNN, WaveTransformer,
                          build_audio_model, check_source_folds, esc10_arrays, fold_loaders, mel_filterbank, mix_clips,
                          param_breakdown, random_shift, train_audio)
from seqlab.core import n_params
from seqlab.datasets import load_esc10


def test_architecture_1_has_the_reports_parameter_count():
    assert n_params(WaveCNN(AudioConfig())) == 540_682


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
    with pytest.raises(AssertionError, match='f_max'):
        mel_filterbank(10, 256, 8000, f_max=9000)


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


def test_no_clip_of_the_sample_is_in_two_folds_and_each_fold_is_held_out_once():
    td = load_esc10(quick=True, n=100, sample_rate=4000, verbose=False)
    x, y, folds = esc10_arrays(td)
    assert len(x) == 100 and sorted(set(folds.tolist())) == [1, 2, 3, 4, 5]
    seen = []
    for f in range(1, 6):
        dls = fold_loaders(x, y, folds, f, bs=8)
        assert len(dls.train.dataset) + len(dls.valid.dataset) == 100
        seen.append(len(dls.valid.dataset))
    assert sum(seen) == 100
    with pytest.raises(AssertionError, match='test_fold 6'):
        fold_loaders(x, y, folds, 6)


def test_clip_shorter_than_the_receptive_field_gets_a_clear_error():
    with pytest.raises(ValueError, match='shorter than the 625 samples'):
        WaveCNN()(torch.randn(2, 624))
    WaveCNN()(torch.randn(2, 625))  # exactly enough
    with pytest.raises(ValueError, match='one channel'):
        WaveCNN()(torch.randn(2, 2, 4000))
    with pytest.raises(TypeError, match='float tensor'):
        WaveCNN()(torch.zeros(2, 4000, dtype=torch.int16))


def test_bad_configs_list_the_choices():
    with pytest.raises(AssertionError, match="choose one of"):
        AudioConfig(head='lstm')
    with pytest.raises(AssertionError, match="choose one of"):
        AudioConfig(tokens='frames')
    with pytest.raises(AssertionError, match="unknown model"):
        build_audio_model('resnet', 16000)


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


def test_training_with_augmentation_runs_and_validates_on_hard_labels():
    td = load_esc10(quick=True, n=50, sample_rate=4000, verbose=False)
    x, y, folds = esc10_arrays(td)
    learn = train_audio('cnn_aug', x, y, folds, 5, 4000, epochs=1, bs=16)
    assert len(learn.history) == 1 and 0 <= learn.history['accuracy'].iloc[0] <= 1
    assert any(isinstance(cb, WaveAugmentCB) for cb in learn.cbs)
