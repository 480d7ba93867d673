"""Images per second of the fast path (images held on the device, crop + flip as batch tensor ops)
against a standard DataLoader loop (a Dataset that crops and flips one image at a time, default
collate) training the same network with the same optimizer, measured side by side in one run.

    python bench/image_cnn_throughput.py            # seconds on CPU: a small net on 512 generated images
    python bench/image_cnn_throughput.py --gpu      # on CUDA: also seconds per epoch on 50,000 generated images

Prints ratios (fast / DataLoader), never absolute times as claims; an absolute time holds only on a GPU,
and the GPU branch records the device's name with it.
"""
from __future__ import annotations
import argparse, time
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from seqlab.core import default_device, set_seed
from seqlab.datasets import cifar10_sample
from seqlab.image_cnn import (FastCNN, FastCNNConfig, DeviceImageLoader, image_stats, normalize_images,
                              random_crop_flip)


class PerImageDataset(Dataset):
    "The standard way: one normalised image at a time, cropped and flipped in numpy."
    def __init__(self, x, y, mean, std, pad=2):
        self.x = ((x.astype(np.float32) / 255 - mean) / std).transpose(0, 3, 1, 2)  # (N, 3, H, W)
        self.y, self.pad = y, pad
    def __len__(self): return len(self.y)
    def __getitem__(self, i):
        p = self.pad
        img = np.pad(self.x[i], ((0, 0), (p, p), (p, p)), mode='reflect')
        dy, dx = np.random.randint(0, 2 * p + 1, 2)
        img = img[:, dy:dy + 32, dx:dx + 32]
        if np.random.rand() < 0.5:
            img = img[:, :, ::-1]
        return torch.from_numpy(img.copy()), int(self.y[i])


def make_model(widths, dev, x):
    set_seed(0)
    m = FastCNN(FastCNNConfig(widths=widths)).to(dev).init_whitening(x[:2048])
    if dev.type == 'cuda':
        m = m.to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)


def train_epoch(model, opt, batches, dev):
    "One epoch; returns (seconds, images)."
    n = 0
    if dev.type == 'cuda': torch.cuda.synchronize()
    t0 = time.perf_counter()
    for xb, yb in batches:
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        if dev.type == 'cuda':
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(yb)
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0, n


def compare(n, widths, bs, epochs, dev, workers):
    "Images/s of both paths, each after one warm-up epoch; returns (fast, standard) images/s."
    x, y, _ = cifar10_sample(n, seed=0)
    mean, std = image_stats(x)
    xt = normalize_images(x, mean, std, dev)
    fast_dl = DeviceImageLoader(xt, y, bs=bs, shuffle=True, augment=random_crop_flip, drop_last=True)
    std_dl = DataLoader(PerImageDataset(x, y, mean, std), batch_size=bs, shuffle=True, drop_last=True,
                        num_workers=workers, pin_memory=dev.type == 'cuda')
    out = {}
    for name, dl in (('fast', fast_dl), ('standard', std_dl)):
        model, opt = make_model(widths, dev, xt)
        train_epoch(model, opt, dl, dev)  # warm-up
        runs = [train_epoch(model, opt, dl, dev) for _ in range(epochs)]
        out[name] = sum(r[1] for r in runs) / sum(r[0] for r in runs)
    return out['fast'], out['standard']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=512, help='generated images for the CPU comparison')
    ap.add_argument('--epochs', type=int, default=1, help='timed epochs per path (after one warm-up epoch)')
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--workers', type=int, default=0, help='DataLoader workers of the standard path')
    ap.add_argument('--gpu', action='store_true', help='on CUDA: airbench widths, 50,000 images, seconds per epoch')
    a = ap.parse_args()
    dev = default_device()
    if dev.type != 'cuda':
        torch.set_num_threads(1)
    widths = (16, 32, 32)
    fast, std = compare(a.n, widths, a.bs, a.epochs, torch.device('cpu'), a.workers)
    print(f"CPU, FastCNN{widths}, {a.n} images, batch {a.bs}, {a.workers} workers: "
          f"fast path / DataLoader loop = {fast / std:.2f}x images per second")
    if a.gpu or dev.type == 'cuda':
        if dev.type != 'cuda':
            print('no CUDA device here: the GPU branch is skipped'); return
        torch.backends.cudnn.benchmark = True
        fast, std = compare(50_000, (64, 256, 256), 1024, 2, dev, 8)
        print(f"{torch.cuda.get_device_name(dev)}, FastCNN(64, 256, 256), 50,000 generated images, batch 1024: "
              f"fast path {50_000 / fast:.2f} s/epoch, DataLoader loop (8 workers) {50_000 / std:.2f} s/epoch, "
              f"ratio {fast / std:.1f}x")


if __name__ == '__main__':
    main()
