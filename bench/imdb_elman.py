"""The Elman RNN from scratch (`seqlab.imdb.ElmanRNN`) against `nn.RNN(nonlinearity='relu')`, forward + backward.

Both get the same weights and the same padded batch (B, T, E); one step is forward, the sum of the
outputs and the final state, and backward. Times are the best of `--reps` interleaved repeats, and
what is printed is the ratio from scratch / nn.RNN per sequence length, measured side by side in
this run (absolute times on a shared machine mean little). Goal: within 2x of nn.RNN at every T.
Runs on the CPU by default, in seconds.

    python bench/imdb_elman.py [--T 100 500 1000] [--batch 16] [--hidden 128] [--reps 3] [--threads 1]
                               [--variants] [--compile] [--device cpu]

--variants  also times two slower ways to write the same network: the report's loop over
            Linear(cat(x_t, h)) (the input projected inside the loop), and our loop indexing
            xw[:, t] instead of iterating over xw.unbind(1) (its backward grows with T^2).
--compile   also times torch.compile(ElmanRNN) and prints its compile time (first call) separately.

Measured (2026-12-01, torch 2.13.0+cpu, 1 thread, batch 16, hidden 128, a shared 2-core machine, so
the ratios move by ~0.3 between runs):
  `python bench/imdb_elman.py --variants --reps 2`: from scratch / nn.RNN 1.10x, 0.67x, 0.96x at
  T = 100, 500, 1000; the report's cat loop 2.27x, 4.11x, 9.26x; the xw[:, t] loop 2.24x, 3.75x, 8.64x.
  `python bench/imdb_elman.py --compile --T 100 --reps 2`: compiled 0.73x against 0.89x uncompiled,
  after a first call of 188 s (the loop is unrolled over T), so torch.compile does not pay off here.
"""
import argparse
import sys
import time

import torch
from torch import nn

from seqlab.imdb import ElmanRNN


class CatLoopElman(nn.Module):
    "The report's Elman network: one Linear over cat(x_t, h) per time step (same parameters)."
    def __init__(self, ours: ElmanRNN):
        super().__init__()
        self.ours = ours

    def forward(self, x):  # (B, T, E) -> (B, T, H), (1, B, H)
        o = self.ours
        w = torch.cat([o.weight_ih_l0, o.weight_hh_l0], 1)  # (H, E + H)
        b = o.bias_ih_l0 + o.bias_hh_l0
        h = x.new_zeros(x.shape[0], o.hidden_size)
        outs = []
        for t in range(x.shape[1]):
            h = torch.relu(torch.nn.functional.linear(torch.cat([x[:, t], h], 1), w, b))
            outs.append(h)
        return torch.stack(outs, 1), h.unsqueeze(0)


class IndexLoopElman(nn.Module):
    "Our Elman with the input projection in one matmul, but indexing xw[:, t] in the loop."
    def __init__(self, ours: ElmanRNN):
        super().__init__()
        self.ours = ours

    def forward(self, x):
        o = self.ours
        B, T, E = x.shape
        xw = torch.addmm(o.bias_ih_l0 + o.bias_hh_l0, x.reshape(B * T, E), o.weight_ih_l0.t()).view(B, T, -1)
        h = x.new_zeros(B, o.hidden_size)
        outs = []
        for t in range(T):
            h = torch.relu(torch.addmm(xw[:, t], h, o.weight_hh_l0.t()))
            outs.append(h)
        return torch.stack(outs, 1), h.unsqueeze(0)


def step(fn, x, dev):
    "Seconds of one forward + backward of `fn` on `x`."
    if dev.type == 'cuda': torch.cuda.synchronize()
    t0 = time.perf_counter()
    out, h = fn(x)
    (out.sum() + h.sum()).backward()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--T', type=int, nargs='+', default=[100, 500, 1000], help='sequence lengths')
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--hidden', type=int, default=128, help='hidden and embedding size (the report: 300)')
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (0: leave torch default)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--variants', action='store_true', help="also time the report's cat-loop and the xw[:, t] loop")
    p.add_argument('--compile', action='store_true', help='also time torch.compile(ElmanRNN), compile time apart')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    ours = ElmanRNN(a.hidden, a.hidden).to(dev)
    ref = nn.RNN(a.hidden, a.hidden, nonlinearity='relu', batch_first=True).to(dev)
    ref.load_state_dict(ours.state_dict())
    fns = {'nn.RNN': ref, 'from scratch': ours}
    if a.variants:
        fns['cat loop (report)'] = CatLoopElman(ours)
        fns['xw[:, t] loop'] = IndexLoopElman(ours)
    compile_s = {}
    if a.compile:
        fns['compiled'] = torch.compile(ours)
    print(f'{dev.type}, {torch.get_num_threads()} thread(s), torch {torch.__version__}; batch {a.batch}, '
          f'embedding = hidden = {a.hidden}; forward + backward, best of {a.reps}')
    names = [n for n in fns if n != 'nn.RNN']
    print(f"{'T':>6} " + ' '.join(f'{n + " / nn.RNN":>26}' for n in names))
    t_start, ok = time.perf_counter(), True
    for T in a.T:
        x = torch.randn(a.batch, T, a.hidden, device=dev, requires_grad=True)
        with torch.no_grad():
            torch.testing.assert_close(ours(x)[1], ref(x)[1], atol=1e-4, rtol=1e-4)  # the same network
        for n, fn in fns.items():  # warm-up; the compiled model compiles here (once per new T)
            s = step(fn, x, dev)
            if n == 'compiled': compile_s[T] = s
        best = {n: step(fn, x, dev) for n, fn in fns.items()}
        for _ in range(a.reps - 1):
            for n, fn in fns.items():
                best[n] = min(best[n], step(fn, x, dev))
        ratios = {n: best[n] / best['nn.RNN'] for n in names}
        ok &= ratios['from scratch'] <= 2.0
        print(f'{T:>6} ' + ' '.join(f'{r:>25.2f}x' for r in ratios.values()))
    if compile_s:
        print('torch.compile: first call (compile + run) per T: ' + ', '.join(f'T={T}: {s:.1f} s' for T, s in compile_s.items()))
    print(f"goal (from scratch within 2x of nn.RNN at every T): {'met' if ok else 'NOT met'}; took {time.perf_counter() - t_start:.1f} s")
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
