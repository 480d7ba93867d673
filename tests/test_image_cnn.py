"""seqlab.image_cnn: shapes and parameter counts of every architecture, Xavier init, the on-device
augmentation and loader, the whitening layer, and the errors for bad inputs."""
import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.core import n_params
from seqlab.datasets import cifar10_sample
from seqlab.datasets import Split, TaskData
from seqlab.image_cnn import (IMAGE_CNN_ARCHS, DeviceImageLoader, FastCNN, FastCNNConfig, ImageCNN, ImageCNNConfig,
                              LayerGradNormCB, activation_scales, capture_activations, check_image_batch,
                              image_cnn_config, image_cnn_scores, image_loaders, image_stats, init_image_cnn,
                              normalize_images, patch_whitening, plateau_steps, plot_layer_grads, random_crop_flip,
                              train_fast_cnn, train_image_cnn, tta_logits)

SMALL = dict(channels=(4, 8, 8, 8, 16, 16), hidden_sizes=(32, 16))


def _count(cfg):
    c = (3,) + cfg.channels
    conv = sum(9 * a * b + b for a, b in zip(c[:-1], c[1:])) + (9 * c[-1] ** 2 + c[-1] if cfg.extra_conv else 0)
    f = (cfg.channels[-1] * (cfg.image_size // 8) ** 2,) + cfg.hidden_sizes + (cfg.n_classes,)
    return conv + sum(a * b + b for a, b in zip(f[:-1], f[1:])) + (2 * sum(cfg.hidden_sizes) if cfg.linear_bn else 0)


@pytest.mark.parametrize('arch', list(IMAGE_CNN_ARCHS))
def test_shape_and_parameter_count(arch):
    cfg = image_cnn_config(arch, **SMALL)
    m = ImageCNN(cfg).eval()
    assert m(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    assert n_params(m) == _count(cfg)


def test_report_widths_parameter_counts():
    counts = {a: n_params(ImageCNN(image_cnn_config(a))) for a in ('arch1', 'arch3', 'arch4')}
    assert counts['arch1'] == 5_851_338
    assert counts['arch3'] - counts['arch1'] == 9 * 256 * 256 + 256  # the extra Conv2d(256, 256, 3)
    assert counts['arch4'] - counts['arch1'] == 2 * (1024 + 512)  # BatchNorm1d weights and biases


def test_architecture_switches_build_the_right_layers():
    kinds = lambda a: [type(l) for l in ImageCNN(image_cnn_config(a, **SMALL)).head]
    assert nn.Sigmoid in kinds('arch2') and nn.ReLU not in kinds('arch2')
    assert nn.BatchNorm1d in kinds('arch4') and nn.BatchNorm1d not in kinds('arch2')
    assert kinds('task4').count(nn.Dropout) == 2
    n_conv = lambda a: sum(isinstance(l, nn.Conv2d) for l in ImageCNN(image_cnn_config(a, **SMALL)).features)
    assert (n_conv('arch1'), n_conv('arch3')) == (6, 7)


def test_xavier_init_bounds_and_zero_bias():
    torch.manual_seed(0)
    m = ImageCNN(image_cnn_config('task4', channels=(4, 8, 8, 8, 16, 16)))
    for lin in (l for l in m.modules() if isinstance(l, nn.Linear)):
        bound = math.sqrt(6 / (lin.in_features + lin.out_features))
        assert lin.weight.abs().max() <= bound
        assert lin.weight.abs().max() > 0.9 * bound
        assert lin.bias.abs().max() == 0
    default = ImageCNN(image_cnn_config('arch4', channels=(4, 8, 8, 8, 16, 16)))
    assert any(l.bias.abs().max() > 0 for l in default.modules() if isinstance(l, nn.Linear))


def test_kaiming_init_and_bad_init():
    m = init_image_cnn(ImageCNN(image_cnn_config('arch1', **SMALL)), 'kaiming')
    conv = m.features[2]
    assert abs(conv.weight.std().item() - math.sqrt(2 / (conv.in_channels * 9))) < 0.3 * math.sqrt(2 / (conv.in_channels * 9))
    with pytest.raises(ValueError, match='use one of'):
        init_image_cnn(m, 'orthogonal')


@pytest.mark.parametrize('bad, err, msg', [
    (dict(activation='tanh'), ValueError, 'relu'),
    (dict(channels=(8, 16)), ValueError, 'six positive ints'),
    (dict(dropout=1.5), ValueError, 'dropout'),
    (dict(init='he'), ValueError, 'use one of'),
    (dict(image_size=30), ValueError, 'multiple of 8'),
])
def test_bad_config(bad, err, msg):
    with pytest.raises(err, match=msg):
        ImageCNNConfig(**bad)


def test_unknown_architecture():
    with pytest.raises(ValueError, match='arch1'):
        image_cnn_config('arch9')


def test_bad_batches_name_the_fix():
    m = ImageCNN(image_cnn_config('arch1', **SMALL))
    x, _, _ = cifar10_sample(4)
    with pytest.raises(TypeError, match='normalize_images'):
        m(torch.from_numpy(x))  # uint8 (B, H, W, C) straight from the data set
    with pytest.raises(TypeError, match='unnormalised'):
        m(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match='channels last'):
        m(torch.zeros(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r'x\[None\]'):
        m(torch.zeros(3, 32, 32))  # one image, not a batch
    with pytest.raises(ValueError, match=r'\(B, 3, 32, 32\).*image_size'):
        m(torch.zeros(2, 3, 24, 24))  # another size: say how to build a model for it
    with pytest.raises(TypeError, match='tensor'):
        check_image_batch(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(TypeError, match='normalize_images'):
        random_crop_flip(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match='channels last'):
        FastCNN(FastCNNConfig(widths=(8, 8, 8)))(torch.zeros(2, 32, 32, 3))


def test_normalize_and_stats_check_their_input():
    x, _, _ = cifar10_sample(64)
    mean, std = image_stats(x)
    t = normalize_images(x, mean, std)
    assert t.shape == (64, 3, 32, 32) and t.dtype == torch.float32
    assert torch.allclose(t.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    with pytest.raises(TypeError, match='uint8'):
        normalize_images(x.astype(np.float32), mean, std)
    with pytest.raises(ValueError, match=r'x\[None\]'):
        image_stats(x[0])  # one image (H, W, 3)


def test_augmentation_keeps_shapes_and_repeats_under_a_seed():
    x = torch.randn(16, 3, 32, 32)
    a = random_crop_flip(x, generator=torch.Generator().manual_seed(3))
    b = random_crop_flip(x, generator=torch.Generator().manual_seed(3))
    c = random_crop_flip(x, generator=torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    flipped = random_crop_flip(x, pad=0, generator=torch.Generator().manual_seed(0))
    same = [torch.equal(f, o) for f, o in zip(flipped, x)]
    mirrored = [torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)


def test_loader_keeps_labels_and_repeats():
    x = torch.randn(10, 3, 32, 32)
    y = torch.arange(10)
    mk = lambda s: DeviceImageLoader(x, y, bs=4, shuffle=True, augment=lambda xb, generator: random_crop_flip(xb, pad=0, generator=generator), seed=s)
    b1, b2 = list(mk(5)), list(mk(5))
    assert len(mk(5)) == 3 and [len(b[1]) for b in b1] == [4, 4, 2]
    for (xa, ya), (xb, yb) in zip(b1, b2):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        for img, k in zip(xa, ya):
            assert torch.equal(img, x[k]) or torch.equal(img, x[k].flip(-1))
    assert sorted(torch.cat([b[1] for b in b1]).tolist()) == list(range(10))
    assert len(DeviceImageLoader(x, y, bs=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match='must match'):
        DeviceImageLoader(x, y[:5])


def test_patch_whitening_whitens():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 16, 16) @ torch.randn(16, 16) * 0.3  # correlated pixels
    w = patch_whitening(x, k=2, eps=1e-8)
    assert w.shape == (24, 3, 2, 2) and torch.equal(w[12:], -w[:12])
    z = torch.nn.functional.conv2d(x, w[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
    assert torch.allclose(z.T @ z / len(z), torch.eye(12), atol=1e-2)


def test_layer_grad_cb_and_tta_through_the_learner():
    from seqlab.datasets import load_cifar10
    data = load_cifar10(quick=True, n=120, verbose=False)
    dls = image_loaders(data, bs=32, device='cpu')
    learn = train_image_cnn('arch4', dls, epochs=1, lr=1e-3, cbs=[LayerGradNormCB(max_steps=2)], **SMALL)
    g = learn.layer_grads
    assert list(g.columns) == [f'conv{i}' for i in range(1, 7)] + ['fc1', 'fc2', 'fc3', 'loss'] and len(g) == 2
    assert (g.drop(columns='loss').values > 0).all()
    preds, targs = tta_logits(learn.model, dls.valid)
    assert preds.shape == (len(data.valid), 10) and torch.equal(targs, torch.as_tensor(data.valid.y))
    plain, _ = tta_logits(learn.model, dls.valid, flip=False)
    mirror, _ = tta_logits(learn.model, [(xb.flip(-1), yb) for xb, yb in dls.valid], flip=False)
    assert torch.allclose(preds, (plain + mirror) / 2, atol=1e-5)


def _task(n_per_class=12, classes=('a', 'b', 'c'), size=16, seed=0, test=True):
    "A small TaskData of uint8 images (size x size), one mean colour per class: easy to tell apart."
    rng = np.random.default_rng(seed)
    k = len(classes)
    y = np.repeat(np.arange(k), n_per_class)
    x = (rng.integers(0, 60, (len(y), size, size, 3)) + 60 * y[:, None, None, None]).clip(0, 255).astype(np.uint8)
    idx = rng.permutation(len(y))
    tr, va, te = idx[:len(y) // 2], idx[len(y) // 2:3 * len(y) // 4], idx[3 * len(y) // 4:]
    return TaskData('mine', Split(x[tr], y[tr]), Split(x[va], y[va]), Split(x[te], y[te]) if test else None,
                    list(classes), 'made in a test', False)


@pytest.mark.parametrize('x, err, msg', [
    (np.zeros((5, 32, 32), np.uint8), ValueError, r'np\.repeat'),  # grey images: how to give them three channels
    (np.zeros((32, 32, 3), np.uint8), ValueError, r'x\[None\]'),  # one image
    (np.zeros((5, 32, 32, 4), np.uint8), ValueError, 'alpha'),  # RGBA
    (np.zeros((0, 32, 32, 3), np.uint8), ValueError, 'no images'),
    (np.zeros((5, 32, 32, 3), np.float32), TypeError, 'uint8'),
])
def test_image_arrays_get_a_hint_for_the_usual_mistakes(x, err, msg):
    with pytest.raises(err, match=msg):
        image_stats(x)


def test_normalize_checks_mean_and_std():
    x, _, _ = cifar10_sample(8)
    with pytest.raises(ValueError, match='mean and std'):
        normalize_images(x, np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match='std > 0'):
        normalize_images(x, np.zeros(3), np.zeros(3))


def test_batches_of_one_channel_or_no_images_are_refused():
    with pytest.raises(ValueError, match='expand'):
        check_image_batch(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match='non-empty'):
        check_image_batch(torch.zeros(0, 3, 32, 32))


@pytest.mark.parametrize('bad, msg', [
    (dict(hidden_sizes=(0, 16)), 'hidden_sizes'),
    (dict(hidden_sizes=(-4,)), 'hidden_sizes'),
    (dict(n_classes=1), 'n_classes'),
    (dict(n_classes=2.5), 'n_classes'),
    (dict(image_size=0), 'multiple of 8'),
    (dict(image_size=-8), 'multiple of 8'),
    (dict(dropout=True), 'dropout'),
    (dict(channels=(4, 8, 0, 8, 16, 16)), 'six positive ints'),
])
def test_impossible_sizes_are_refused(bad, msg):
    with pytest.raises(ValueError, match=msg):
        ImageCNNConfig(**bad)


def test_fast_config_checks_and_airbench_momentum():
    assert FastCNNConfig().bn_momentum == 0.4  # airbench's BatchNorm(momentum=0.6) passes 1 - 0.6 to PyTorch
    m = FastCNN(FastCNNConfig(widths=(8, 8, 8)))
    assert all(b.momentum == 0.4 for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d))
    for bad in (dict(bn_momentum=0), dict(whiten_eps=0), dict(whiten_k=0), dict(logit_scale=-1), dict(n_classes=1)):
        with pytest.raises(ValueError):
            FastCNNConfig(**bad)


def test_fast_cnn_says_when_images_are_too_small():
    m = FastCNN(FastCNNConfig(widths=(8, 8, 8)))
    with pytest.raises(ValueError, match=r'at least 9x9.*interpolate'):
        m(torch.zeros(2, 3, 8, 8))
    assert m(torch.zeros(2, 3, 9, 9)).shape == (2, 10)


def test_loader_checks_batch_size_and_labels():
    x = torch.randn(6, 3, 8, 8)
    with pytest.raises(ValueError, match='bs'):
        DeviceImageLoader(x, torch.arange(6), bs=0)
    with pytest.raises(TypeError, match='integer class ids'):
        DeviceImageLoader(x, torch.zeros(6), bs=2)


def test_image_loaders_need_train_and_valid_and_take_no_test():
    d = _task()
    dls = image_loaders(TaskData(d.name, d.train, d.valid, None, d.classes, d.source, False), bs=8, device='cpu')
    assert dls.test is None and dls.classes == ['a', 'b', 'c']
    with pytest.raises(ValueError, match='data.valid'):
        image_loaders(TaskData(d.name, d.train, None, d.test, d.classes, d.source, False), device='cpu')


def test_train_image_cnn_takes_class_count_and_image_size_from_the_data():
    dls = image_loaders(_task(), bs=8, device='cpu')
    learn = train_image_cnn('arch4', dls, epochs=1, lr=3e-3, **SMALL)
    assert (learn.model.cfg.n_classes, learn.model.cfg.image_size) == (3, 16)
    assert learn.get_preds(dls.valid)[0].shape == (len(dls.valid.y), 3)
    cfg = ImageCNNConfig(**SMALL)  # a config left at the defaults (10 classes, 32 pixels) is fitted to the data too
    assert train_image_cnn(cfg, dls, epochs=1).model.cfg.n_classes == 3
    with pytest.raises(ValueError, match='takes it from the data'):
        train_image_cnn('arch4', dls, epochs=1, n_classes=10, **SMALL)
    with pytest.raises(ValueError, match='takes it from the data'):
        train_image_cnn(ImageCNNConfig(image_size=32, n_classes=5, **SMALL), dls, epochs=1)


def test_train_image_cnn_refuses_non_square_images():
    d = _task()
    wide = lambda s: Split(np.concatenate([s.x, s.x], axis=2), s.y)  # 16 x 32
    dls = image_loaders(TaskData(d.name, wide(d.train), wide(d.valid), None, d.classes, d.source, False), bs=8, device='cpu')
    with pytest.raises(ValueError, match='square'):
        train_image_cnn('arch1', dls, epochs=1, **SMALL)


def test_task4_is_task4_on_its_own_and_runs_repeat_whatever_ran_before():
    dls = image_loaders(_task(), bs=4, device='cpu')
    learn = train_image_cnn('task4', dls, epochs=2, lr=1e-2, **SMALL)  # the cosine schedule comes with the name
    assert learn.lrs[0] == pytest.approx(1e-2) and learn.lrs[-1] < 1e-3
    assert not hasattr(train_image_cnn('arch4', dls, epochs=1, lr=1e-2, **SMALL), 'lrs')  # no schedule for the others
    assert hasattr(train_image_cnn('arch4', dls, epochs=1, lr=1e-2, sched='cosine', **SMALL), 'lrs')  # unless asked
    a = train_image_cnn('arch1', dls, epochs=1, seed=3, **SMALL).history.train_loss.iloc[0]
    train_image_cnn('arch2', dls, epochs=2, seed=5, **SMALL)  # uses the same loader in between
    b = train_image_cnn('arch1', dls, epochs=1, seed=3, **SMALL).history.train_loss.iloc[0]
    assert a == b


def test_train_fast_cnn_takes_classes_from_the_data_and_warns_on_few_steps():
    d = _task(n_per_class=16)
    with pytest.warns(UserWarning, match='steps per epoch'):
        learn = train_fast_cnn(d, FastCNNConfig(widths=(8, 8, 8)), epochs=1, bs=64, lr=0.1, device='cpu')
    assert learn.model.fc.out_features == 3
    with pytest.raises(ValueError, match='takes it from the data'):
        train_fast_cnn(d, FastCNNConfig(widths=(8, 8, 8), n_classes=5), epochs=1, bs=2, device='cpu')
    with pytest.raises(ValueError, match='bs'):
        train_fast_cnn(d, FastCNNConfig(widths=(8, 8, 8)), epochs=1, bs=0, device='cpu')


def test_augmentation_and_whitening_check_their_arguments():
    x = torch.randn(4, 3, 8, 8)
    for pad in (-1, 8, 1.5):
        with pytest.raises(ValueError, match='pad'):
            random_crop_flip(x, pad=pad)
    assert random_crop_flip(torch.randn(4, 3, 8, 12), pad=2).shape == (4, 3, 8, 12)  # not only square images
    with pytest.raises(ValueError, match='k must be'):
        patch_whitening(x, k=0)
    with pytest.raises(ValueError, match='eps'):
        patch_whitening(x, eps=0)


def test_layer_grad_cb_records_steps_and_checks_max_steps():
    with pytest.raises(ValueError, match='max_steps'):
        LayerGradNormCB(max_steps=0)
    dls = image_loaders(_task(), bs=8, device='cpu')
    learn = train_image_cnn('arch1', dls, epochs=1, opt_func=lambda p, lr: torch.optim.SGD(p, lr=lr), lr=0.1,
                            cbs=[LayerGradNormCB()], **SMALL)
    g, st = learn.layer_grads.drop(columns='loss'), learn.layer_steps
    assert g.shape == st.shape == (len(dls.train), 9)
    assert np.allclose(st.values, 0.1 * g.values, rtol=1e-4)  # plain SGD: the step is lr times the gradient


def test_plateau_steps():
    assert plateau_steps([2.3] * 10 + [1.0] * 10) == 6
    assert plateau_steps([2.3] * 8) == 8  # never left
    assert plateau_steps([1.2] * 6, n_classes=3, frac=0.9) == 6  # ln 3 = 1.10: 1.2 is still above
    assert plateau_steps([2.0, 1.0]) == 2  # fewer steps than the window: not seen to leave (a smoke run's few batches)
    for bad in ([], [[2.3, 2.3]]):
        with pytest.raises(ValueError, match='non-empty 1-d'):
            plateau_steps(bad)
    with pytest.raises(ValueError, match='window'):
        plateau_steps([2.3] * 8, window=0)


def test_activation_scales_name_the_layers():
    torch.manual_seed(0)
    s1 = activation_scales(ImageCNN(image_cnn_config('arch1', **SMALL)), torch.randn(8, 3, 32, 32))
    s3 = activation_scales(ImageCNN(image_cnn_config('arch3', **SMALL)), torch.randn(8, 3, 32, 32))
    assert list(s1.index) == [f'conv{i}' for i in range(1, 7)] + ['fc1', 'fc2', 'logits']
    assert list(s3.index) == [f'conv{i}' for i in range(1, 8)] + ['fc1', 'fc2', 'logits']  # arch 3's extra conv, not a shift


def test_bad_arguments_of_the_helpers():
    m = ImageCNN(image_cnn_config('arch1', **SMALL))
    with pytest.raises(TypeError, match='kinds'):
        capture_activations(m, torch.randn(2, 3, 32, 32), kinds=('relu',))
    with pytest.raises(ValueError, match='dls.test'):
        tta_logits(m, None)
    with pytest.raises(ValueError, match='no batches'):
        tta_logits(m, [])
    with pytest.raises(ValueError, match='same length'):
        image_cnn_scores(torch.randn(3, 10), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match='empty'):
        plot_layer_grads({})
    with pytest.raises(TypeError, match='nn.Module'):
        init_image_cnn('not a model', 'kaiming')


# ---------------------------------------------------------------------------------------------
# Exercises 12.1-12.5: each check passes a worked solution and fails a typical wrong answer with a
# message that says what is wrong without giving the answer away
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from seqlab.exercises import EXERCISES, check  # noqa: E402
from seqlab.learner import Callback  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _details(r) -> str:
    return ' | '.join(f'{v.label}: {v.detail}' for v in r.failed)


def _he_init(model, convs=True, gain=2.0):
    kinds = (nn.Conv2d, nn.Linear) if convs else (nn.Linear,)
    for m in model.modules():
        if isinstance(m, kinds):
            with torch.no_grad():
                m.weight.normal_(0.0, (gain / m.weight[0].numel()) ** 0.5)
                m.bias.zero_()
    return model


class _Lookahead(Callback):
    def __init__(self, k=5, alpha=0.5, reset=True, clone=True):
        self.k, self.alpha, self.reset, self.clone = k, alpha, reset, clone
    def before_fit(self, learn):
        self.params = [p for p in learn.model.parameters() if p.requires_grad]
        self.slow, self.n = [p.detach().clone() if self.clone else p.data for p in self.params], 0
    def after_step(self, learn):
        self.n += 1
        if self.n % self.k == 0:
            with torch.no_grad():
                for s, p in zip(self.slow, self.params):
                    s.add_(p - s, alpha=self.alpha)
                    if self.reset:
                        p.copy_(s)


def _param_groups(model, lr, scale=64, freeze=True, scale_all=False):
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if freeze:
        for b in bns:
            b.weight.data.fill_(1.0)
            b.weight.requires_grad_(False)
    biases = {id(b.bias) for b in bns}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in biases]
    return [{'params': rest, 'lr': scale * lr if scale_all else lr}, {'params': [b.bias for b in bns], 'lr': scale * lr}]


def _view_logits(model, xb, shift='reflect', train=False):
    model.train(train)
    H, W = xb.shape[-2:]
    if shift == 'reflect':
        xp = F.pad(xb, (1, 1, 1, 1), mode='reflect')
        shifts = [xp[..., 1 + dy:1 + dy + H, 1 + dx:1 + dx + W] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    else:
        shifts = [xb.roll(s, dims=d) for s in (1, -1) for d in (-2, -1)]
    with torch.no_grad():
        return torch.stack([model(v) for v in [xb, xb.flip(-1), *shifts]]).mean(0)


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize('key', ['12.1', '12.2', '12.3', '12.4', '12.5'])
def test_exercise_not_attempted(key):
    assert check(key, None, quiet=True).status == 'not attempted'
    assert check(key, _stub, quiet=True).status == 'not attempted'



def test_exercise_12_1_init_keeps_the_signal():
    assert check('12.1', _he_init, quiet=True)
    r = check('12.1', lambda m: _he_init(m, convs=False), quiet=True)  # the linear layers only
    assert not r and 'architecture 3: every conv and linear weight re-drawn' in [v.label for v in r.failed]
    assert 'after conv4 the signal' in _details(r) and 'shrinks' in _details(r)
    r = check('12.1', lambda m: _he_init(m, gain=1.0), quiet=True)  # a variance that forgets the ReLU halves the signal
    assert [v.label for v in r.failed] == [f"{n}: the signal of every layer within 10x of the first ReLU's"
                                           for n in ('architecture 3', 'architecture 1, other widths')]
    report = _details(r)
    assert 'shrinks' in report and 'sqrt' not in report and '2 /' not in report and 'fan_in' not in report  # a hint, not the formula
    r = check('12.1', lambda m: _he_init(m, gain=8.0), quiet=True)
    assert not r and 'grows' in _details(r)
    r = check('12.1', lambda m: _he_init(copy.deepcopy(m)), quiet=True)  # a new model instead of the one given
    assert [v.label for v in r.failed] == ['returns the model it was given, changed in place']


def test_exercise_12_2_sigmoid_head_learns():
    t0 = time.process_time()
    r = check('12.2', lambda cfg: _he_init(ImageCNN(cfg)), quiet=True)
    assert r, r
    assert time.process_time() - t0 < 30  # a check that trains stays well under 30 s of CPU
    r = check('12.2', lambda cfg: ImageCNN(replace(cfg, init='xavier')), quiet=True)  # task 4's init: the head only
    assert [v.label.split(' after')[0][:24] for v in r.failed] == ['mean validation accuracy']
    assert 'too slowly' in _details(r) and 'kaiming' not in _details(r).lower() and 'fan_in' not in _details(r)
    r = check('12.2', lambda cfg: ImageCNN(replace(cfg, linear_bn=True)), quiet=True)  # architecture 4 is not the answer
    assert [v.label for v in r.failed] == ["an nn.Module with architecture 2's layers"] and 'BatchNorm1d' in _details(r)
    assert len(r.verdicts) == 1  # no training for the wrong layers


def test_exercise_12_3_lookahead():
    assert check('12.3', _Lookahead, quiet=True)
    r = check('12.3', lambda k=5, alpha=0.5: _Lookahead(k, alpha, reset=False), quiet=True)  # the fast weights never reset
    assert not r and '4 steps, k=5: no synchronisation yet, plain SGD' not in [v.label for v in r.failed]
    assert {v.label for v in r.failed} == {'5 steps, k=5, alpha=0.2', '12 steps, k=5, alpha=0.2', '10 steps, k=3, alpha=0.5'}
    assert 'differs, largest difference' in _details(r)
    r = check('12.3', lambda k=5, alpha=0.5: _Lookahead(k, alpha, clone=False), quiet=True)  # the slow copy is a view of the fast weights
    assert not r and len(r.failed) == 3
    r = check('12.3', lambda k=5, alpha=0.5: _Lookahead(k, 1 - alpha), quiet=True)  # alpha the other way round
    assert {v.label for v in r.failed} == {'5 steps, k=5, alpha=0.2', '12 steps, k=5, alpha=0.2'}
    r = check('12.3', lambda k=5, alpha=0.5: object(), quiet=True)
    assert [v.label for v in r.failed] == ['Lookahead(k, alpha) is a Callback']


def test_exercise_12_4_param_groups():
    assert check('12.4', _param_groups, quiet=True)
    r = check('12.4', lambda m, lr, scale=64: _param_groups(m, lr, scale, freeze=False), quiet=True)
    assert 'BatchNorm weights frozen (no gradient) and equal to 1' in [v.label for v in r.failed]
    r = check('12.4', lambda m, lr, scale=64: _param_groups(m, lr, scale, scale_all=True), quiet=True)
    assert [v.label for v in r.failed] == ['every other trainable weight at lr', 'one SGD step: how far each weight moved']
    r = check('12.4', lambda m, lr, scale=64: [{'params': list(m.parameters()), 'lr': lr}], quiet=True)  # one group of everything
    assert {'BatchNorm biases at 64 x lr', 'every trainable weight in exactly one group, no frozen one in any'} <= {v.label for v in r.failed}
    assert 'frozen tensors' in _details(r)
    r = check('12.4', lambda m, lr, scale=64: m.parameters(), quiet=True)
    assert [v.label for v in r.failed] == ["a list of parameter groups {'params': [...], 'lr': ...}"]


def test_exercise_12_5_six_views():
    assert check('12.5', _view_logits, quiet=True)
    r = check('12.5', lambda m, xb: _view_logits(m, xb, shift='roll'), quiet=True)  # translations that wrap around
    assert [v.label for v in r.failed] == ['the same, on a linear model of the pixels (every pixel counts)']
    r = check('12.5', lambda m, xb: _view_logits(m, xb[:, :, :, :]).mean(0, keepdim=True), quiet=True)
    assert [v.label for v in r.failed] == ['returns logits (B, n_classes)'] and 'expected (6, 4), got (1, 4)' in _details(r)
    r = check('12.5', lambda m, xb: _view_logits(m, xb, train=True), quiet=True)  # BatchNorm in train mode
    assert not r and 'leaves the BatchNorm running statistics as they were' in [v.label for v in r.failed]
    assert 'eval mode' in _details(r) and 'pad' not in _details(r)


@pytest.mark.parametrize('args, words', [((None, 8), 'c_in'), ((3, 0), 'c_out'), ((3, 8, 1.5), 'bn_momentum')])
def test_fast_cnn_block_checks_its_sizes(args, words):
    "fast_cnn_block names the bad argument instead of failing inside nn.Conv2d."
    from seqlab.image_cnn import fast_cnn_block
    with pytest.raises((ValueError, TypeError), match=words):
        fast_cnn_block(*args)
