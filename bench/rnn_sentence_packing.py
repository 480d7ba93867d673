"""Epoch time of the three packing choices of `seqlab.rnn_sentence`, with random and with length-bucketed batches.

Lengths are TREC-like: log-normal (median 9 tokens, a tail to 37), token ids random. For each of
no packing (the RNN runs over the padding), packing in forward (`run_packed` inside the model) and
packing once per batch (`pack_collate`), with random batches and with `BucketSampler` batches, it
times one training epoch (forward, backward, Adam step) of an `RNNSentenceClassifier`, on
`seqlab.core.default_device()`. The rounds are interleaved and the fastest of `--repeats` rounds is
kept, so a change in the machine's load touches every cell alike. It prints the times and their
ratio to "no packing, random batches", measured side by side in this one run; read the ratios,
not the seconds, on a shared machine.

    python bench/rnn_sentence_packing.py            # small default: seconds on a CPU
    python bench/rnn_sentence_packing.py --n 5452 --hidden 200 --cell rnn --repeats 3

Measured (2026-12-01, CPU, 1 thread, torch on a shared 2-core machine; ratios of one run each):
default (LSTM 64, 2,000 lengths, --repeats 3): pack in forward / no packing 1.73 (random) and 1.36
(bucketed); pack once / pack in forward 1.06 and 0.93; bucketed / random 0.66, 0.52, 0.46 (no
packing, in forward, once). `--cell rnn --hidden 200 --n 5452 --repeats 3`: packed / unpacked 1.11
and 1.25; pack once / in forward 1.10 and 1.15; bucketed / random 0.60, 0.68, 0.71. Packing costs
time on a CPU, where it runs makes no consistent difference, and length buckets are the speed lever.
"""
import argparse
import functools
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from seqlab.core import default_device
from seqlab.data import BucketSampler, TextDataset, lognormal_lengths, pad_collate, padding_waste
from seqlab.learner import to_device
from seqlab.rnn_sentence import RNNSentenceClassifier, RNNSentenceConfig, pack_collate

CHOICES = {'no packing': (False, pad_collate), 'pack in forward': (True, pad_collate), 'pack once (collate)': (True, pack_collate)}


def loader(ds, bs, batches, collate, seed):
    "A training loader with random or length-bucketed batches."
    if batches == 'bucket':
        return DataLoader(ds, batch_sampler=BucketSampler(ds.lengths, bs, seed=seed), collate_fn=collate)
    return DataLoader(ds, batch_size=bs, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(seed))


def time_epoch(ds, pack, collate, batches, args, dev):
    "Seconds of one training epoch of a fresh model."
    torch.manual_seed(0)
    cfg = RNNSentenceConfig(args.vocab, 6, args.emb, args.cell, args.hidden, pack=pack)
    model = RNNSentenceClassifier(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    dl = loader(ds, args.bs, batches, collate, args.seed)
    if dev.type == 'cuda': torch.cuda.synchronize()
    t0 = time.perf_counter()
    for (xb, lens), yb in dl:
        xb, lens, yb = to_device(xb, dev), lens.to(dev), yb.to(dev)
        loss = torch.nn.functional.cross_entropy(model(xb, lens), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=2000, help='questions (TREC train: 5,452)')
    p.add_argument('--cell', default='lstm', choices=['rnn', 'gru', 'lstm'])
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--emb', type=int, default=64)
    p.add_argument('--vocab', type=int, default=5000)
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dev = default_device()
    lengths = lognormal_lengths(args.n, median=9, sigma=0.45, lo=2, hi=37, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    ds = TextDataset([rng.integers(2, args.vocab, n).tolist() for n in lengths], rng.integers(0, 6, args.n).tolist(), n_classes=6)
    bucket = BucketSampler(lengths, args.bs, seed=args.seed).batches(0)
    rand = np.array_split(rng.permutation(args.n), -(-args.n // args.bs))
    print(f'{args.n} TREC-like lengths (median {np.median(lengths):.0f}, max {lengths.max()}); padding waste: '
          f'random {padding_waste(rand, lengths):.1%}, bucketed {padding_waste(bucket, lengths):.1%}; '
          f'{args.cell} {args.emb}->{args.hidden}, batch {args.bs}, device {dev}, {args.threads} thread(s)')
    cells = [(c, b) for b in ('random', 'bucket') for c in CHOICES]
    best = {k: float('inf') for k in cells}
    for _ in range(args.repeats):
        for c, b in cells:
            pack, collate = CHOICES[c]
            best[(c, b)] = min(best[(c, b)], time_epoch(ds, pack, collate, b, args, dev))
    ref = best[('no packing', 'random')]
    print(f"{'choice':22s} {'batches':8s} {'s/epoch':>8s} {'vs no packing, random':>22s}")
    for c, b in cells:
        print(f'{c:22s} {b:8s} {best[(c, b)]:8.3f} {best[(c, b)] / ref:22.2f}')
    for b in ('random', 'bucket'):
        print(f"{b}: pack in forward / no packing {best[('pack in forward', b)] / best[('no packing', b)]:.2f}, "
              f"pack once / pack in forward {best[('pack once (collate)', b)] / best[('pack in forward', b)]:.2f}")
    for c in CHOICES:
        print(f"{c}: bucketed / random {best[(c, 'bucket')] / best[(c, 'random')]:.2f}")


if __name__ == '__main__':
    main()
