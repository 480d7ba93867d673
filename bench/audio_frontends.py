"""Forward + backward time per batch: the waveform CNN (architecture 1) against the log-mel CNN, side by side in one run;
and what precise BN adds to an epoch (`seqlab.audio.precise_bn`: one forward pass without gradients per training batch).

    python bench/audio_frontends.py               # CPU, 1-second clips at 16 kHz (seconds)
    python bench/audio_frontends.py --seconds 5   # the real clips' length

Prints the median time of each model, the ratio waveform / log-mel, and for each model the time of the precise-BN pass
over one batch as a fraction of a training step on it; on CUDA the same on the GPU."""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from seqlab.audio import build_audio_model, precise_bn
from seqlab.core import default_device, n_params


def step_time(model, x, y, reps: int) -> float:
    "Median seconds of one forward + backward pass."
    opt = torch.optim.Adam(model.parameters())
    times = []
    for i in range(reps + 1):
        if x.is_cuda: torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda: torch.cuda.synchronize()
        if i: times.append(time.perf_counter() - t0)  # the first pass warms up
    return statistics.median(times)


def precise_bn_time(model, x, reps: int) -> float:
    "Median seconds of `precise_bn` over one batch (a forward pass in train() mode for the BatchNorm layers, no gradients)."
    times = []
    for i in range(reps + 1):
        if x.is_cuda: torch.cuda.synchronize()
        t0 = time.perf_counter()
        precise_bn(model, [(x, None)])
        if x.is_cuda: torch.cuda.synchronize()
        if i: times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--seconds', type=float, default=1.0, help='clip length in seconds')
    ap.add_argument('--sample-rate', type=int, default=16_000)
    ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--reps', type=int, default=5)
    args = ap.parse_args()
    dev = default_device()
    if dev.type == 'cpu':
        torch.set_num_threads(1)
    torch.manual_seed(0)
    T = int(args.seconds * args.sample_rate)
    x = torch.randn(args.bs, T, device=dev)
    y = torch.randint(0, 10, (args.bs,), device=dev)
    res, extra = {}, {}
    for name in ('cnn', 'logmel_cnn'):
        m = build_audio_model(name, args.sample_rate).to(dev)
        res[name] = step_time(m, x, y, args.reps)
        extra[name] = precise_bn_time(m, x, args.reps) / res[name]
        print(f'{name:>11}: {n_params(m):>8,} parameters, {res[name] * 1e3:8.1f} ms per batch of {args.bs} clips of {T:,} samples ({dev.type})')
    print(f'ratio waveform CNN / log-mel CNN, forward + backward: {res["cnn"] / res["logmel_cnn"]:.2f}x')
    for name, r in extra.items():
        print(f'precise BN pass / training step, {name}: {r:.2f}x (what recomputing the statistics adds to an epoch)')


if __name__ == '__main__':
    main()
