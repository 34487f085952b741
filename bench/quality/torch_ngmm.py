"""The quality benchmark's PyTorch NGMM, as an ML practitioner would write it (issue 17).

Usage: python3 torch_ngmm.py <config.json>. The config (bench/quality/peers.ts, torchConfig)
names a directory holding train.csv, seen.csv and fresh.csv (x1..x5, y, g); this script writes
<dir>/torch.out, one JSON line: fit seconds, epochs run, and the predicted means of the seen
rows (each group's posterior) and of the new groups' rows (the prior).

Model: eta = b0 + x'w + MLP(x) (ReLU 5-64-32-16-1, x standardised by the training means and
SDs) + b_g, b_g ~ N(0, sigma_b^2) a random intercept per group (random slopes are not modelled:
the 1-D grid is the practitioner's choice). Each group's marginal log-likelihood by a fixed
401-point log-sum-exp grid of b on [-6, 6] sigma_b with normal weights. Float64, one thread,
Adam 1e-3 on the mean negative log marginal per group, shuffled batches of 16 groups, up to
300 epochs, early stopping with patience 20 on 10 % of the training groups held out, the best
epoch's parameters restored. The validation groups' rows are still used for their posterior.
"""
import csv
import json
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def read(path):
    X, y, g = [], [], []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            X.append([float(row[f"x{k}"]) for k in range(1, 6)])
            y.append(float(row["y"]))
            g.append(row["g"])
    return torch.tensor(X), torch.tensor(y), g


class Net(torch.nn.Module):
    def __init__(self, p, hidden, family):
        super().__init__()
        self.lin = torch.nn.Linear(p, 1)
        layers, d = [], p
        for h in hidden:
            layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
            d = h
        layers.append(torch.nn.Linear(d, 1))
        self.mlp = torch.nn.Sequential(*layers)
        self.theta = torch.nn.Parameter(torch.tensor(0.0))  # sigma_b = softplus(theta)
        self.phi = torch.nn.Parameter(torch.tensor(0.0)) if family == "gaussian" else None

    def forward(self, X):
        return (self.lin(X) + self.mlp(X)).reshape(-1)


def loglik(family, y, eta, phi):
    """log p(y | eta) per row and grid point (y: [n, 1], eta: [n, K])."""
    if family == "bernoulli":
        return y * eta - torch.nn.functional.softplus(eta)
    if family == "poisson":
        return y * eta - torch.exp(eta) - torch.lgamma(y + 1.0)
    s = torch.nn.functional.softplus(phi)
    return -0.5 * ((y - eta) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)


def mean_of(family, eta):
    if family == "bernoulli":
        return torch.sigmoid(eta)
    if family == "poisson":
        return torch.exp(eta)
    return eta


def main():
    cfg = json.load(open(sys.argv[1]))
    d, fam = cfg["dir"], cfg["family"]
    torch.manual_seed(cfg["seed"])
    Xtr, ytr, gtr = read(os.path.join(d, "train.csv"))
    Xse, _, gse = read(os.path.join(d, "seen.csv"))
    Xfr, _, _ = read(os.path.join(d, "fresh.csv"))
    t0 = time.perf_counter()
    mu, sd = Xtr.mean(0), Xtr.std(0)
    st = lambda X: (X - mu) / sd  # noqa: E731
    levels = list(dict.fromkeys(gtr))
    index = {g: i for i, g in enumerate(levels)}
    gi = torch.tensor([index[g] for g in gtr])
    rows = [torch.nonzero(gi == i).reshape(-1) for i in range(len(levels))]
    K, H = cfg["gridPoints"], cfg["gridHalfWidth"]
    t = torch.linspace(-H, H, K)
    logw = -0.5 * t * t
    logw = logw - torch.logsumexp(logw, 0)
    Xs, Y = st(Xtr), ytr[:, None]
    net = Net(Xtr.shape[1], cfg["hidden"], fam)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])

    def group_logml(ids):
        """Log marginal likelihood of each group in ids, and the per-grid-point log joint."""
        idx = torch.cat([rows[i] for i in ids])
        seg = torch.cat([torch.full((len(rows[i]),), j) for j, i in enumerate(ids)])
        eta = net(Xs[idx])[:, None] + torch.nn.functional.softplus(net.theta) * t[None, :]
        ll = loglik(fam, Y[idx], eta, net.phi)
        per = torch.zeros(len(ids), K).index_add_(0, seg, ll) + logw[None, :]
        return torch.logsumexp(per, 1), per

    perm = torch.randperm(len(levels)).tolist()
    nval = max(1, round(cfg["validation"] * len(levels)))
    val, fit_ids = perm[:nval], perm[nval:]
    best, best_state, best_epoch, waited, epoch = math.inf, None, 0, 0, 0
    B = cfg["batchGroups"]
    for epoch in range(1, cfg["maxEpochs"] + 1):
        order = [fit_ids[i] for i in torch.randperm(len(fit_ids)).tolist()]
        for b in range(0, len(order), B):
            opt.zero_grad()
            loss = -group_logml(order[b:b + B])[0].mean()
            loss.backward()
            opt.step()
        with torch.no_grad():
            v = -group_logml(val)[0].mean().item()
        if v < best:
            best, best_epoch, waited = v, epoch, 0
            best_state = {k: x.clone() for k, x in net.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg["patience"]:
                break
    net.load_state_dict(best_state)
    seconds = time.perf_counter() - t0

    with torch.no_grad():
        # Seen groups: the posterior over the grid from all of the group's training rows.
        _, per = group_logml(list(range(len(levels))))
        post = torch.softmax(per, 1)
        sb = torch.nn.functional.softplus(net.theta)
        gs = torch.tensor([index[g] for g in gse])
        m_seen = (mean_of(fam, net(st(Xse))[:, None] + sb * t[None, :]) * post[gs]).sum(1)
        prior = torch.exp(logw)
        m_fresh = (mean_of(fam, net(st(Xfr))[:, None] + sb * t[None, :]) * prior[None, :]).sum(1)
    with open(os.path.join(d, "torch.out"), "w") as fh:
        json.dump({"seconds": seconds, "epochs": epoch, "bestEpoch": best_epoch, "sigmaB": sb.item(),
                   "seen": m_seen.tolist(), "fresh": m_fresh.tolist()}, fh)


if __name__ == "__main__":
    main()
