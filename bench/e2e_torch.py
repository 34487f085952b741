"""The e2e benchmark's PyTorch baseline (bench/e2e.bench.ts drives it as a subprocess).

Reads <prefix>.json (parameters, sizes, family, timing plan), <prefix>.X.f64 and <prefix>.y.f64,
computes the same objective as the TS side (NGMM §4: f = b0 + xW + MLP(x), ReLU 64-32-16,
random intercept sigma = softplus(theta), group marginal by a fixed 201-point log-sum-exp grid
on [-6, 6]) in float64 (or float32: meta "dtype") on meta "threads" threads (default 1), and prints JSON: the full-data objective and the median
seconds per epoch (mini-batches of groups) for objective+gradient and for a full Adam step.
"""
import json
import math
import os
import statistics
import sys
import time
from array import array

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402



def load(prefix):
    with open(prefix + ".json") as fh:
        meta = json.load(fh)
    # Threads and precision of this run: float64 on one thread unless the case says otherwise.
    torch.set_num_threads(int(meta.get("threads", 1)))
    torch.set_default_dtype(torch.float32 if meta.get("dtype") == "float32" else torch.float64)
    def f64(path):
        a = array("d")
        with open(path, "rb") as fh:
            a.frombytes(fh.read())
        return torch.tensor(a, dtype=torch.float64).to(torch.get_default_dtype())
    X = f64(prefix + ".X.f64").reshape(-1, meta["p"])
    y = f64(prefix + ".y.f64")
    return meta, X, y


def main():
    meta, X, y = load(sys.argv[1])
    G, n, K = meta["groups"], meta["perGroup"], meta["gridPoints"]
    fam = meta["family"]
    params = [torch.tensor(v, dtype=torch.get_default_dtype()).reshape(s).clone().requires_grad_(True) for v, s in zip(meta["values"], meta["shapes"])]
    b0, W, theta = params[0], params[1], params[-1]
    layers = params[2:-1]
    t = torch.linspace(-6.0, 6.0, K)
    logw = -0.5 * t * t
    logw = logw - torch.logsumexp(logw, 0)
    cst = -torch.lgamma(y + 1.0) if fam == "poisson" else torch.zeros_like(y)

    def objective(lo, hi):
        Xb, yb, cb = X[lo * n:hi * n], y[lo * n:hi * n], cst[lo * n:hi * n]
        h = Xb
        for i in range(0, len(layers), 2):
            h = h @ layers[i] + layers[i + 1]
            if i + 2 < len(layers):
                h = torch.relu(h)
        f = (Xb @ W).reshape(-1) + b0 + h.reshape(-1)
        eta = f[:, None] + torch.nn.functional.softplus(theta) * t[None, :]
        if fam == "bernoulli":
            ll = yb[:, None] * eta - torch.nn.functional.softplus(eta)
        else:
            ll = yb[:, None] * eta - torch.exp(eta)
        ll = ll.reshape(hi - lo, n, K).sum(1) + logw[None, :]
        L = torch.logsumexp(ll, 1) + cb.reshape(hi - lo, n).sum(1)
        return -L.mean()

    with torch.no_grad():
        full = float(objective(0, G))
    batch = meta["batch"]
    opt = torch.optim.Adam(params, lr=meta["lr"])

    def epoch(adam):
        for lo in range(0, G, batch):
            hi = min(G, lo + batch)
            if adam:
                opt.zero_grad()
                loss = objective(lo, hi)
                loss.backward()
                opt.step()
            else:
                for p in params:
                    p.grad = None
                loss = objective(lo, hi)
                loss.backward()

    out = {"objective": full, "torch": torch.__version__, "threads": torch.get_num_threads()}
    for mode in ("grad", "adam"):
        epoch(mode == "adam")  # warm-up
        times = []
        for _ in range(meta["reps"]):
            t0 = time.perf_counter()
            epoch(mode == "adam")
            times.append(time.perf_counter() - t0)
        out[mode] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
