"""What DDPCB's agreements cost: the stop and NaN flags it all-reduces at every training step.

Before every step DDPCB asks all ranks whether any loss is not finite and whether any rank has
requested a stop (one two-element all-reduce on a gloo group), so that no rank is left waiting in a
collective the others have left. This measures, side by side in one run, the epoch time of

- `ddp`: nprocs processes (2 on the CPU) with `DDPCB` as it is;
- `ddp-no-agree`: the same with the agreements switched off (a subclass for this benchmark only:
  without them a stop or a NaN on one rank hangs the others);
- `one`: one process on the same global batches (nprocs x bs), with the same number of threads in all.

and prints the ratios ddp / ddp-no-agree (the cost of the agreements) and ddp / one. The model is
an MLP on random data, sized so that one step takes a few milliseconds on a CPU core: the
agreements are a fixed cost per step, so a small step shows them at their largest.

    python bench/ddp_overhead.py [--steps 200] [--hidden 256] [--bs 32] [--repeats 3]

By default it runs on the CPU with gloo (2 processes, 1 thread each). With `--device cuda` it uses
nccl with one process per GPU; on a machine with one GPU that is DDP on a single rank (what the
Learner pays for the wrapper, the gradient all-reduce through nccl and the agreements) against plain
training on the same batch:

    python bench/ddp_overhead.py --device cuda --hidden 4096 --bs 256 --steps 300

Measured (2026-12-02, 2 shared CPU cores, torch 2.13.0+cpu, gloo):
`python bench/ddp_overhead.py`: ddp / ddp-no-agree 1.29x, ddp / one process 2.16x
(5.01 / 3.88 / 2.31 ms per step); `--hidden 1024 --steps 100`: 1.10x and 1.60x
(21.2 / 19.2 / 13.2 ms per step). The agreement is a fixed 1-2 ms per step here, where the two
processes share two busy cores; an earlier version with two all-reduces per step (the stop after
the batch, the NaN check before the step) measured 1.40x on the first configuration. On these two
cores DDP is slower than one process on the global batch: the gradient all-reduce costs more than
the halved compute saves. DDP pays off where each rank has its own device.
"""
import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqlab.data import DataLoaders
from seqlab.distributed import DDPCB, launch
from seqlab.learner import Learner


class NoAgreeDDPCB(DDPCB):
    "DDPCB without the per-step stop and NaN agreement (for this benchmark only)."
    def before_fit(self, learn):
        super().before_fit(learn)
        learn.stop_sync = None
    def after_loss(self, learn): pass  # no NaN check, and no stop carried along


def make_dls(n, bs, dim=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = (x[:, 0] > 0).long()
    ds = TensorDataset(x, y)
    return DataLoaders(DataLoader(ds, batch_size=bs, shuffle=True), DataLoader(TensorDataset(x[:bs], y[:bs]), batch_size=bs))


def model(hidden, dim=64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def timed_fit(learn):
    learn.fit(1)  # warm-up epoch
    t0 = time.perf_counter()
    learn.fit(1)
    return time.perf_counter() - t0


def run_ddp(cls_name, steps, hidden, bs, device):
    torch.set_num_threads(1)
    cb = {'ddp': DDPCB, 'ddp-no-agree': NoAgreeDDPCB}[cls_name]()
    learn = Learner(model(hidden), make_dls(WORLD[0] * steps * bs, bs), device=device, cbs=[cb])
    return timed_fit(learn)


def run_one(steps, hidden, bs, device):
    torch.set_num_threads(1)
    n = WORLD[0]
    learn = Learner(model(hidden), make_dls(n * steps * bs, n * bs), device=device)
    return timed_fit(learn)


WORLD = [2]  # processes of the DDP runs (set in main, read in the forked workers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=200, help='training steps per epoch')
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--bs', type=int, default=32, help='batch per process (the one-process run uses nprocs x bs)')
    ap.add_argument('--repeats', type=int, default=3, help='interleaved repetitions; the median is reported')
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                    help='cuda: nccl, one process per GPU (one GPU: DDP on a single rank against plain training)')
    ap.add_argument('--nprocs', type=int, default=None, help='DDP processes; default 2 on the CPU, the number of GPUs with cuda')
    a = ap.parse_args()
    # Nothing here touches CUDA before launch: the workers are forked, and a CUDA context cannot be.
    WORLD[0] = a.nprocs or (2 if a.device == 'cpu' else torch.cuda.device_count())  # counts without a CUDA context
    backend = 'gloo' if a.device == 'cpu' else 'nccl'
    times = {'ddp': [], 'ddp-no-agree': [], 'one': []}
    for _ in range(a.repeats):
        for name in ('ddp', 'ddp-no-agree'):
            times[name].append(max(launch(run_ddp, WORLD[0], args=(name, a.steps, a.hidden, a.bs, a.device), backend=backend)))  # the slower rank
        times['one'].append(launch(run_one, 1, args=(a.steps, a.hidden, a.bs, a.device), backend='gloo')[0])  # a fresh process too
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"{a.device}, {backend}, {WORLD[0]} DDP process(es); {a.steps} steps, hidden {a.hidden}, batch {a.bs} per process "
          f"(global {WORLD[0] * a.bs}), {a.repeats} repeats, torch {torch.__version__}")
    for k, v in med.items():
        print(f"  {k:13s} epoch {v:.3f} s ({1e3 * v / a.steps:.2f} ms/step)")
    print(f"ratio ddp / ddp-no-agree: {med['ddp'] / med['ddp-no-agree']:.2f}x (the cost of the agreements)")
    print(f"ratio ddp / one process:  {med['ddp'] / med['one']:.2f}x")


if __name__ == '__main__':
    main()
