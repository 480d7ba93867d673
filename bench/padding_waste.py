"""Padding waste of `TokenBudgetSampler` against random batches of the same mean size.

Lengths are IMDb-like: log-normal (median 175 tokens), clipped to 10-2,500 tokens. Padding waste is
the share of padded slots, sum(B * T_max - sum(len)) / sum(B * T_max). The claim checked here:
token-budget batches waste under 10% of their slots, random batches of the same mean size over 40%.
Exits with status 1 when the claim fails. Runs in a few seconds on a CPU.

    python bench/padding_waste.py [--n 25000] [--max-tokens 8192 16384] [--seed 0]
"""
import argparse
import sys
import time

import numpy as np

from seqlab.data import BucketSampler, TokenBudgetSampler, lognormal_lengths, padding_waste


def stats(name, batches, lengths):
    "One row of the table: batch count, mean batch size, padded slots and waste."
    slots = sum(len(b) * int(lengths[np.asarray(b)].max()) for b in batches)
    return dict(batching=name, batches=len(batches), mean_bs=len(lengths) / len(batches),
                slots=slots, waste=padding_waste(batches, lengths))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=25_000, help='number of texts (IMDb train: 25,000)')
    p.add_argument('--max-tokens', type=int, nargs='+', default=[4096, 8192, 16384], help='token budgets to try')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)

    t0 = time.perf_counter()
    lengths = lognormal_lengths(a.n, seed=a.seed)
    rng = np.random.default_rng(a.seed)
    print(f'{a.n} log-normal lengths, clipped to 10-2,500: median {np.median(lengths):.0f}, '
          f'mean {lengths.mean():.0f}, p99 {np.percentile(lengths, 99):.0f}, max {lengths.max()}\n')
    header = f"{'budget':>7} {'batching':<28} {'batches':>7} {'mean B':>7} {'waste':>7} {'slots vs budget':>16}"
    print(header)
    print('-' * len(header))
    ok = True
    for max_tokens in a.max_tokens:
        tb = TokenBudgetSampler(lengths, max_tokens, seed=a.seed)
        budget = list(tb)
        n_b = len(budget)
        rand = np.array_split(rng.permutation(a.n), n_b)  # random batches, same number => same mean size
        bucket = list(BucketSampler(lengths, round(a.n / n_b), seed=a.seed))
        pooled = list(TokenBudgetSampler(lengths, max_tokens, seed=a.seed, pool_size=100 * round(a.n / n_b)))
        rows = [stats('token budget', budget, lengths),
                stats('token budget, pools of 100 B', pooled, lengths),
                stats('length buckets, same mean B', bucket, lengths),
                stats('random, same mean B', rand, lengths)]
        for r in rows:
            print(f"{max_tokens:>7} {r['batching']:<28} {r['batches']:>7} {r['mean_bs']:>7.1f} "
                  f"{r['waste']:>7.1%} {r['slots'] / rows[0]['slots']:>15.2f}x")
        w_tb, w_rand = rows[0]['waste'], rows[-1]['waste']
        verdict = w_tb < 0.10 and w_rand > 0.40
        ok &= verdict
        print(f"{'':>7} waste ratio random / token budget = {w_rand / w_tb:.1f}x; "
              f"claim (<10% vs >40%): {'holds' if verdict else 'FAILS'}\n")
    print(f'took {time.perf_counter() - t0:.1f} s')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
