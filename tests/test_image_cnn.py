"""seqlab.image_cnn: shapes and parameter counts of every architecture, Xavier init, the on-device
augmentation and loader, the whitening layer, and the errors for bad inputs."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.core import n_params
from seqlab.datasets import cifar10_sample
from seqlab.image_cnn import (IMAGE_CNN_ARCHS, DeviceImageLoader, FastCNN, FastCNNConfig, ImageCNN, ImageCNNConfig,
                              LayerGradNormCB, check_image_batch, image_cnn_config, image_loaders, image_stats,
                              init_image_cnn, normalize_images, patch_whitening, random_crop_flip,
                              train_image_cnn, tta_logits)

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
    with pytest.raises(ValueError, match=r'\(B, 3, 32, 32\)'):
        m(torch.zeros(3, 32, 32))
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
    with pytest.raises(ValueError, match=r'\(N, H, W, 3\)'):
        image_stats(x[0])


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
