"""Fused `F.scaled_dot_product_attention` against the explicit softmax(QKᵀ/√d)V path, forward and backward.

The explicit path is `seqlab.transformer.dot_product_attention`, the one the notebook writes out
and the one `MultiHeadSelfAttention` takes when the weights are asked for; the fused kernel is
what it takes otherwise. For each sequence length T both paths run forward + backward on the same
inputs (B, heads, T, d_head) with a padding mask (the last quarter of every other row padded),
alternating between the two, and the script prints the median time of each and their ratio
(explicit / fused: above 1, the fused kernel is faster). The batch holds B = tokens // T sequences,
so every length moves the same number of tokens. Before timing it checks that both paths agree.
Only the ratios, measured side by side in one run, are claims; the absolute times depend on the
machine and its load.

    python bench/transformer_attention.py [--quick] [--T 128 512 2048] [--tokens 8192] [--reps 3] [--threads 1]

On CPU it runs float32, on one thread unless `--threads` says otherwise (on a busy machine,
threads that wait for each other make the times erratic). On CUDA (`seqlab.core.default_device()`) it runs float32 and bfloat16.
`--quick`: T = 128 and 512, 2 repeats (a few seconds on a laptop CPU).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from seqlab.core import default_device
from seqlab.transformer import dot_product_attention


def inputs(T, tokens, heads, d_head, dev, dtype, seed=0):
    "q, k, v (B, H, T, D) that need gradients, and a key mask (B, T), True at real tokens."
    g = torch.Generator().manual_seed(seed)
    B = max(1, tokens // T)
    q, k, v = (torch.randn(B, heads, T, d_head, generator=g).to(dev, dtype).requires_grad_() for _ in range(3))
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[::2, T - T // 4:] = False  # every other sequence: its last quarter is padding
    return q, k, v, mask.to(dev)


def explicit(q, k, v, mask):
    return dot_product_attention(q, k, v, mask)[0]


def fused(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])


def fwd_bwd(f, q, k, v, mask, dev):
    "Seconds for one forward + backward of `f`."
    for t in (q, k, v):
        t.grad = None
    if dev.type == 'cuda':
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    f(q, k, v, mask).float().sum().backward()
    if dev.type == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def compare(T, tokens, heads, d_head, reps, dev, dtype):
    "One row: the median time of each path at length T and their ratio."
    q, k, v, mask = inputs(T, tokens, heads, d_head, dev, dtype)
    a, b = explicit(q, k, v, mask), fused(q, k, v, mask)
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    err = (a.float() - b.float()).abs().max().item()
    assert err < tol, f"the two paths disagree by {err} at T={T}"
    times = {'explicit': [], 'fused': []}
    for f in (explicit, fused):  # one warm-up each
        fwd_bwd(f, q, k, v, mask, dev)
    for _ in range(reps):
        times['explicit'].append(fwd_bwd(explicit, q, k, v, mask, dev))
        times['fused'].append(fwd_bwd(fused, q, k, v, mask, dev))
    ex, fu = statistics.median(times['explicit']), statistics.median(times['fused'])
    return dict(T=T, B=q.shape[0], dtype=str(dtype).replace('torch.', ''), explicit_ms=1e3 * ex, fused_ms=1e3 * fu,
                ratio=ex / fu, max_diff=err)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--T', type=int, nargs='+', default=[128, 512, 2048], help='sequence lengths')
    p.add_argument('--tokens', type=int, default=8192, help='tokens per batch (B = tokens // T)')
    p.add_argument('--heads', type=int, default=4)
    p.add_argument('--d-head', type=int, default=32)
    p.add_argument('--reps', type=int, default=3, help='timed repeats per path (median)')
    p.add_argument('--threads', type=int, default=1, help='CPU threads (1: steady timings on a busy machine)')
    p.add_argument('--quick', action='store_true', help='T = 128 and 512, 2 repeats')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.quick:
        a.T, a.reps = [128, 512], 2
    dev = default_device()
    dtypes = [torch.float32] + ([torch.bfloat16] if dev.type == 'cuda' else [])
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    print(f"attention forward + backward, {a.heads} heads x {a.d_head} dims, {a.tokens} tokens per batch, "
          f"padding mask; {name}, torch {torch.__version__}")
    print(f"{'T':>6} {'B':>4} {'dtype':>9} {'explicit ms':>12} {'fused ms':>10} {'explicit/fused':>15}")
    rows = []
    for dtype in dtypes:
        for T in a.T:
            r = compare(T, a.tokens, a.heads, a.d_head, a.reps, dev, dtype)
            rows.append(r)
            print(f"{r['T']:>6} {r['B']:>4} {r['dtype']:>9} {r['explicit_ms']:>12.1f} {r['fused_ms']:>10.1f} {r['ratio']:>14.2f}x")
    return rows


if __name__ == '__main__':
    main()
