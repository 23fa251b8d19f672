"""Training for the learned router (numpy; never imported on the request path).

`train_model` fits a multinomial logistic regression over the features of
`modelrouter.learned.features` (sublinear tf-idf, L2-normalised rows) and a complement naive
Bayes model over the same features; both are linear in the features, so their blend folds
into one weight table and costs nothing at run time. A softmax temperature fitted on
out-of-fold predictions makes the confidence it reports calibrated.
`fine_tune` adapts a trained model to a user's own corrections, pulling the weights towards
the base model instead of towards zero so a handful of examples cannot wipe it out.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelrouter.learned import LearnedModel, decide, features

DEFAULT_TIERS = ("trivial", "feature", "debug", "architecture")


@dataclass(frozen=True)
class Example:
    """One labelled request."""

    prompt: str
    tier: str
    weight: float = 1.0
    group: str = ""  # e.g. the repository: cross-validation never splits a group
    kind: str = ""  # where it comes from (file and source kind), for the CV breakdown


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults were chosen by cross-validation on the training file."""

    l2: float = 5e-4  # L2 penalty on the weights
    min_df: int = 2  # features seen in fewer documents are dropped
    char_min: int = 2
    char_max: int = 5
    epochs: int = 300
    lr: float = 0.1
    folds: int = 5
    seed: int = 13
    under_penalty: float = 2.0  # cost of a tier too weak relative to a tier too strong
    # Complement naive Bayes blended into the logistic regression (0 turns it off): its
    # smoothing and the blend weight were chosen by grouped cross-validation.
    nb_alpha: float = 0.1
    nb_weight: float = 0.5
    # Shift the class prior to uniform: real traffic is not skewed the way one training file
    # happens to be, and a rarer top tier in training would otherwise tilt towards under-routing.
    uniform_prior: bool = True
    rule_alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def read_jsonl(path: str | Path, tiers: Sequence[str] | None = None) -> list[Example]:
    """Labelled examples from a JSONL file of {"prompt": ..., "tier": ...} lines.

    Raises ValueError naming file:line for a line that is not usable.
    """
    out: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompt, tier = row["prompt"], row["tier"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path}:{n}: expected a JSON object with prompt and tier ({exc})"
                ) from None
            if not isinstance(prompt, str) or not isinstance(tier, str):
                raise ValueError(f"{path}:{n}: prompt and tier must be strings")
            if tiers is not None and tier not in tiers:
                raise ValueError(f"{path}:{n}: unknown tier {tier!r} (known: {', '.join(tiers)})")
            source = str(row.get("source", ""))
            group = source.split(" (", 1)[0]
            kind = source.rsplit("(", 1)[-1].rstrip(")") if source.endswith(")") else "other"
            out.append(
                Example(
                    prompt, tier, float(row.get("weight", 1.0)), group, f"{Path(path).name} {kind}"
                )
            )
    return out


class _Design:
    """A sparse (COO) design matrix over a fixed vocabulary: idf-weighted counts, normalised."""

    def __init__(self, feats: list[dict[str, float]], index: dict[str, int], idf: np.ndarray):
        rows, cols, vals = [], [], []
        for i, fd in enumerate(feats):
            r_cols = [index[f] for f in fd if f in index]
            if not r_cols:
                continue
            counts = np.array([fd[f] for f in fd if f in index])
            w = idf[r_cols]
            # Normalised as if every occurrence were its own feature: the run-time model
            # caches each token's share (see `LearnedModel.logits`).
            v = counts * w / np.sqrt((counts * w * w).sum())
            rows.extend([i] * len(r_cols))
            cols.extend(r_cols)
            vals.extend(v.tolist())
        self.n = len(feats)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.vals = np.asarray(vals, dtype=np.float64)

    def dot(self, w: np.ndarray) -> np.ndarray:
        prod = self.vals[:, None] * w[self.cols]
        return np.stack(
            [np.bincount(self.rows, prod[:, j], minlength=self.n) for j in range(w.shape[1])],
            axis=1,
        )

    def tdot(self, g: np.ndarray, n_features: int) -> np.ndarray:
        prod = self.vals[:, None] * g[self.rows]
        return np.stack(
            [np.bincount(self.cols, prod[:, j], minlength=n_features) for j in range(g.shape[1])],
            axis=1,
        )


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit(
    x: _Design,
    y: np.ndarray,
    sample_w: np.ndarray,
    n_features: int,
    k: int,
    cfg: TrainConfig,
    prior_w: np.ndarray | None = None,
    prior_b: np.ndarray | None = None,
    fit_bias: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch Adam on weighted cross-entropy + L2 (towards `prior_w` when given);
    `fit_bias=False` keeps the bias (the tier prior) as given."""
    w = np.zeros((n_features, k)) if prior_w is None else prior_w.copy()
    b = np.zeros(k) if prior_b is None else prior_b.copy()
    anchor = np.zeros_like(w) if prior_w is None else prior_w
    onehot = np.eye(k)[y]
    total = sample_w.sum()
    mw, vw, mb, vb = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, cfg.epochs + 1):
        p = _softmax(x.dot(w) + b)
        g = (p - onehot) * sample_w[:, None] / total
        gw = x.tdot(g, n_features) + cfg.l2 * (w - anchor)
        gb = g.sum(axis=0)
        mw = beta1 * mw + (1 - beta1) * gw
        vw = beta2 * vw + (1 - beta2) * gw * gw
        mb = beta1 * mb + (1 - beta1) * gb
        vb = beta2 * vb + (1 - beta2) * gb * gb
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        w -= cfg.lr * (mw / c1) / (np.sqrt(vw / c2) + eps)
        if fit_bias:
            b -= cfg.lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
    return w, b


def _vocabulary(feats: list[dict[str, float]], min_df: int) -> tuple[list[str], np.ndarray]:
    df: dict[str, int] = {}
    for fd in feats:
        for f in fd:
            df[f] = df.get(f, 0) + 1
    names = sorted(f for f, c in df.items() if c >= min_df)
    n = len(feats)
    idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in names])
    return names, idf


def _complement_nb(
    x: _Design, y: np.ndarray, sample_w: np.ndarray, n_features: int, k: int, alpha: float
) -> np.ndarray:
    """Complement naive Bayes weights (features x tiers), centred across tiers per feature.

    A tier's score is how unlike the *other* tiers' requests the text is; the weights are
    normalised per tier (as in Rennie et al. 2003) so no tier wins by having more text.
    """
    per_tier = x.tdot(np.eye(k)[y] * sample_w[:, None], n_features)
    complement = per_tier.sum(axis=1, keepdims=True) - per_tier + alpha
    log_theta = np.log(complement / complement.sum(axis=0, keepdims=True))
    v = -log_theta / np.abs(log_theta).sum(axis=0, keepdims=True)
    return v - v.mean(axis=1, keepdims=True)


def fit_logits(
    train: Sequence[Example], tiers: Sequence[str], cfg: TrainConfig
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit on `train`; returns (feature names, idf, LR weights, LR bias, naive Bayes
    weights) — uncalibrated and not yet blended (see `Blend`)."""
    feats = [features(e.prompt, cfg.char_min, cfg.char_max) for e in train]
    names, idf = _vocabulary(feats, cfg.min_df)
    index = {f: i for i, f in enumerate(names)}
    x = _Design(feats, index, idf)
    y = np.array([list(tiers).index(e.tier) for e in train])
    sw = np.array([e.weight for e in train], dtype=np.float64)
    k = len(tiers)
    w, b = _fit(x, y, sw, len(names), k, cfg)
    v = _complement_nb(x, y, sw, len(names), k, cfg.nb_alpha) if cfg.nb_weight else 0 * w
    return names, idf, w, b, v


def _logits_for(
    texts: Iterable[str], names: list[str], idf: np.ndarray, w: np.ndarray, b: np.ndarray, cfg
) -> np.ndarray:
    feats = [features(t, cfg.char_min, cfg.char_max) for t in texts]
    index = {f: i for i, f in enumerate(names)}
    return _Design(feats, index, idf).dot(w) + b


def fold_ids(data: Sequence[Example], folds: int, seed: int) -> np.ndarray:
    """A deterministic fold number per example; examples sharing a group share a fold.

    Grouping by repository keeps the estimate honest: requests from the same project share
    wording, and a router meets projects it has never seen.
    """
    rng = np.random.default_rng(seed)
    groups = sorted({e.group for e in data if e.group})
    perm = rng.permutation(len(groups))
    fold_of = {g: int(perm[i] % folds) for i, g in enumerate(groups)}
    singles = np.arange(len(data)) % folds
    rng.shuffle(singles)
    return np.array(
        [fold_of[e.group] if e.group else int(s) for e, s in zip(data, singles, strict=True)]
    )


def cross_val_logits(
    data: Sequence[Example], tiers: Sequence[str], cfg: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold uncalibrated LR logits and naive Bayes scores for every example (k-fold,
    fixed seed)."""
    ids = fold_ids(data, cfg.folds, cfg.seed)
    lr = np.zeros((len(data), len(tiers)))
    nb = np.zeros((len(data), len(tiers)))
    for f in range(cfg.folds):
        tr = [e for e, i in zip(data, ids, strict=True) if i != f]
        te_idx = np.flatnonzero(ids == f)
        names, idf, w, b, v = fit_logits(tr, tiers, cfg)
        texts = [data[i].prompt for i in te_idx]
        lr[te_idx] = _logits_for(texts, names, idf, w, b, cfg)
        nb[te_idx] = _logits_for(texts, names, idf, v, np.zeros(len(tiers)), cfg)
    return lr, nb


@dataclass(frozen=True)
class Blend:
    """How LR logits and naive Bayes scores combine: lr / lr_scale + weight * nb / nb_scale
    (the scales are the out-of-fold spreads, so `weight` means the same on any data)."""

    lr_scale: float
    nb_scale: float
    weight: float

    @classmethod
    def fit(cls, lr: np.ndarray, nb: np.ndarray, weight: float) -> Blend:
        """Scales from out-of-fold predictions."""
        nb_scale = float(nb.std()) if weight else 1.0
        return cls(float(lr.std()) or 1.0, nb_scale or 1.0, weight)

    def __call__(self, lr: np.ndarray, nb: np.ndarray) -> np.ndarray:
        """The blend of two arrays of the same shape (logits, or weight tables)."""
        return lr / self.lr_scale + self.weight * nb / self.nb_scale


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimising negative log-likelihood (golden-section search)."""

    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    lo, hi = 0.05, 20.0
    g = (math.sqrt(5) - 1) / 2
    a, c = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(80):
        if nll(a) < nll(c):
            hi = c
        else:
            lo = a
        a, c = hi - g * (hi - lo), lo + g * (hi - lo)
    return round((lo + hi) / 2, 4)


def to_model(
    names: list[str],
    idf: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    tiers: Sequence[str],
    temperature: float,
    cfg: TrainConfig,
    meta: dict,
) -> LearnedModel:
    """Package fitted arrays as a LearnedModel, dropping features whose weights are ~0."""
    vocab: dict[str, tuple[float, ...]] = {}
    for i, f in enumerate(names):
        row = w[i]
        if np.abs(row).max() < 1e-3:
            continue
        vocab[f] = (round(float(idf[i]), 4), *(round(float(v), 4) for v in row))
    return LearnedModel(
        tiers=list(tiers),
        vocab=vocab,
        bias=[round(float(v), 5) for v in b],
        temperature=temperature,
        char_min=cfg.char_min,
        char_max=cfg.char_max,
        meta=meta,
    )


# Relative price of a request at each tier, cheapest first, for the saving figures of the
# cross-validation report when no rules give prices.
DEFAULT_TIER_COSTS = (0.0, 1.0, 5.0, 8.0)


@dataclass
class CVReport:
    """Cross-validated figures for the whole decision (actions, rules, learned model), from
    models that never saw the row's repository."""

    n: int
    accuracy: float
    under_route_rate: float
    over_route_rate: float
    learned_only_accuracy: float
    nll: float
    calibration: list[tuple[str, int, float, float]]  # bucket, n, mean confidence, accuracy
    saving: float = 0.0  # cost saved versus everything on the top tier
    oracle_saving: float = 0.0  # what a perfect router would save
    folds: int = 5
    groups: int = 0
    # label -> (n, accuracy, under-route, over-route), per file and source kind
    breakdown: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    predicted: np.ndarray = field(default=None, repr=False)  # tier index per example

    def lines(self) -> list[str]:
        """Human-readable summary."""
        ratio = self.saving / self.oracle_saving if self.oracle_saving else 0.0
        out = [
            f"cross-validated on {self.n} examples, grouped by repository ({self.folds} folds, "
            f"{self.groups} repositories; no fold's repositories were in its training):",
            f"  accuracy {self.accuracy:.3f}  under-route {self.under_route_rate:.3f}  "
            f"over-route {self.over_route_rate:.3f}  saving {self.saving:.3f} "
            f"(oracle {self.oracle_saving:.3f}, {ratio:.2f} × oracle)",
            f"  learned model alone (most likely tier) accuracy {self.learned_only_accuracy:.3f}"
            f"  log-loss {self.nll:.3f}",
        ]
        if self.breakdown:
            out.append("  by file and source:")
            out += [
                f"    {label:<32} n={n:<5} accuracy {a:.3f}  under {u:.3f}  over {o:.3f}"
                for label, (n, a, u, o) in sorted(self.breakdown.items())
            ]
        out.append("  calibration (confidence bucket: n, mean confidence, accuracy):")
        out += [f"    {b:>9}: {n:4d}  {c:.2f}  {a:.2f}" for b, n, c, a in self.calibration]
        return out


def rule_evidence(rules, data: Sequence[Example], tiers: Sequence[str]):
    """Per example: rule score per tier (matrix), and the tier decided without the model
    (an action's tier, or the rules alone), else None."""
    from modelrouter.classify import classify_intent, classify_rules
    from modelrouter.learned import rules_decide_alone

    scores = np.zeros((len(data), len(tiers)))
    decided: list[str | None] = []
    for i, e in enumerate(data):
        c = classify_rules(rules, e.prompt)
        for t, v in c.scores.items():
            if t in tiers:
                scores[i, list(tiers).index(t)] = v
        by_action = classify_intent(rules, e.prompt, c.tokens)
        if by_action is not None:
            decided.append(by_action.tier)
        elif rules_decide_alone(c, rules.classifier.rule_confidence):
            decided.append(c.tier)
        else:
            decided.append(None)
    return scores, decided


def prior_shift(data: Sequence[Example], tiers: Sequence[str]) -> np.ndarray:
    """Per-tier logit offsets that turn the training file's class prior into a uniform one."""
    counts = np.zeros(len(tiers))
    for e in data:
        counts[list(tiers).index(e.tier)] += e.weight
    prior = (counts + 1.0) / (counts.sum() + len(tiers))
    return np.log(1.0 / len(tiers)) - np.log(prior)


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())


def train_model(
    data: Sequence[Example],
    tiers: Sequence[str] = DEFAULT_TIERS,
    cfg: TrainConfig | None = None,
    meta: dict | None = None,
    rules=None,
) -> tuple[LearnedModel, CVReport]:
    """Fit the model on all of `data`, calibrated on out-of-fold logits.

    With `rules`, also fit how much weight the rules' evidence gets in hybrid mode
    (`rule_alpha`) and the calibration of the fused scores, and report the cross-validated
    figures of the whole hybrid decision under those rules' thresholds.
    """
    cfg = cfg or TrainConfig()
    tiers = list(tiers)
    y = np.array([tiers.index(e.tier) for e in data])
    shift = prior_shift(data, tiers) if cfg.uniform_prior else np.zeros(len(tiers))
    lr_oof, nb_oof = cross_val_logits(data, tiers, cfg)
    blend = Blend.fit(lr_oof, nb_oof, cfg.nb_weight)
    oof = blend(lr_oof + shift, nb_oof)
    temperature = fit_temperature(oof, y)
    base = oof / temperature
    alpha, fused_t = 0.0, 1.0
    decided: list[str | None] = [None] * len(data)
    if rules is not None:
        scores, decided = rule_evidence(rules, data, tiers)
        fits = []
        for a in cfg.rule_alphas:
            t = fit_temperature(base + a * scores, y)
            fits.append((_nll(_softmax((base + a * scores) / t), y), a, t))
        _, alpha, fused_t = min(fits)
        probs = _softmax((base + alpha * scores) / fused_t)
        escalate_below = rules.classifier.escalate_below
    else:
        probs = _softmax(base)
        escalate_below = 0.0
    costs = None
    if rules is not None:
        # Priced as `modelrouter eval` prices: each tier's primary backend, same-size requests.
        costs = [rules.backends[rules.tiers[t][0]].price.cost(2000, 500) for t in tiers]
    report = _report(
        probs, y, decided, tiers, cfg.under_penalty, escalate_below, _softmax(base), costs
    )
    report.folds, report.groups = cfg.folds, len({e.group for e in data if e.group})
    kinds = np.array([e.kind for e in data])
    for label in sorted(set(kinds)):
        m = kinds == label
        p, t = report.predicted[m], y[m]
        report.breakdown[label or "other"] = (
            int(m.sum()),
            float((p == t).mean()),
            float((p < t).mean()),
            float((p > t).mean()),
        )
    names, idf, w, b, v = fit_logits(data, tiers, cfg)
    w, b = blend(w, v), blend(b + shift, np.zeros_like(b))
    info = {"examples": len(data), "seed": cfg.seed, "l2": cfg.l2, "min_df": cfg.min_df}
    if cfg.nb_weight:
        info.update({"nb_alpha": cfg.nb_alpha, "nb_weight": cfg.nb_weight})
    info.update(meta or {})
    model = to_model(names, idf, w, b, tiers, temperature, cfg, info)
    model.rule_alpha, model.fused_temperature = alpha, fused_t
    model.under_penalty = cfg.under_penalty
    return model, report


def _report(
    probs, y, decided, tiers, under_penalty, escalate_below, learned_probs, costs=None
) -> CVReport:
    pred = []
    for p, alone in zip(probs, decided, strict=True):
        if alone is not None:
            pred.append(tiers.index(alone))
            continue
        d = decide(tiers, p.tolist(), under_penalty=under_penalty, escalate_below=escalate_below)
        pred.append(tiers.index(d.tier))
    pred = np.array(pred)
    conf = probs.max(axis=1)
    most_likely = probs.argmax(axis=1)
    buckets = []
    for lo, hi in ((0.0, 0.4), (0.4, 0.55), (0.55, 0.7), (0.7, 0.85), (0.85, 1.01)):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            label = f"{lo:.2f}-{min(hi, 1.0):.2f}"
            buckets.append(
                (
                    label,
                    int(m.sum()),
                    float(conf[m].mean()),
                    float((most_likely[m] == y[m]).mean()),
                )
            )
    if costs is None:
        costs = DEFAULT_TIER_COSTS if len(tiers) == 4 else range(len(tiers))
    costs = np.array(costs, dtype=float)
    top = costs[-1] * len(y)
    report = CVReport(
        n=len(y),
        accuracy=float((pred == y).mean()),
        under_route_rate=float((pred < y).mean()),
        over_route_rate=float((pred > y).mean()),
        learned_only_accuracy=float((learned_probs.argmax(axis=1) == y).mean()),
        nll=_nll(probs, y),
        calibration=buckets,
        saving=float(1 - costs[pred].sum() / top) if top else 0.0,
        oracle_saving=float(1 - costs[y].sum() / top) if top else 0.0,
    )
    report.predicted = pred
    return report


def fine_tune(
    base: LearnedModel,
    data: Sequence[Example],
    cfg: TrainConfig | None = None,
    meta: dict | None = None,
) -> LearnedModel:
    """Adapt `base` to the user's own labels.

    The L2 term pulls towards the base weights (not zero), so the personal model only moves
    as far as the user's corrections push it. New features seen in the corrections join the
    vocabulary with the idf a rare feature gets in the base model.
    """
    cfg = cfg or TrainConfig(l2=1e-2, epochs=150, lr=0.05, min_df=1)
    tiers = base.tiers
    feats = [features(e.prompt, base.char_min, base.char_max) for e in data]
    names = list(base.vocab)
    index = {f: i for i, f in enumerate(names)}
    rare_idf = max((row[0] for row in base.vocab.values()), default=1.0)
    for fd in feats:
        for f in fd:
            if f not in index:
                index[f] = len(names)
                names.append(f)
    k = len(tiers)
    prior_w = np.zeros((len(names), k))
    idf = np.full(len(names), rare_idf)
    for f, row in base.vocab.items():
        i = index[f]
        idf[i] = row[0]
        prior_w[i] = row[1:]
    # Logits are scaled by the temperature at prediction time; fine-tune in that space.
    scale = base.temperature
    x = _Design(feats, index, idf)
    y = np.array([tiers.index(e.tier) for e in data])
    sw = np.array([e.weight for e in data], dtype=np.float64)
    # The bias stays: corrections say which wordings need which tier, not how often each
    # tier comes up, and a handful all pointing one way must not tilt every other request.
    bias = np.asarray(base.bias, dtype=float) / scale
    w, b = _fit(x, y, sw, len(names), k, cfg, prior_w / scale, bias, fit_bias=False)
    info = dict(base.meta)
    info.update({"personal_examples": len(data)})
    info.update(meta or {})
    return to_model(
        names,
        idf,
        w * scale,
        b * scale,
        tiers,
        base.temperature,
        TrainConfig(char_min=base.char_min, char_max=base.char_max),
        info,
    )
