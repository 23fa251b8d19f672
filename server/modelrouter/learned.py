"""The learned router: a small linear model over request text's n-grams (a logistic
regression blended with complement naive Bayes at training time; see `modelrouter.train`).

Pure Python at run time (no numpy import on the request path): the weights are a table of
feature string -> (idf, per-tier weight), loaded lazily once, and a prediction is one pass
over the request's word and character n-grams. Training lives in `modelrouter.train`.

Weights file format (JSON, optionally gzip-compressed, ``.json`` / ``.json.gz``)::

    {"format": "modelrouter-ngram-lr", "version": 1,
     "tiers": ["trivial", "feature", "debug", "architecture"],
     "features": {"char_min": 2, "char_max": 5}, "temperature": 1.3, "bias": [...],
     "fusion": {"rule_alpha": 1.0, "temperature": 1.4}, "decision": {"under_penalty": 2.0},
     "vocab": {"w:fix": [idf, w_trivial, w_feature, w_debug, w_architecture], ...},
     "trained_on": {...}}
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import logging
import math
import operator
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from modelrouter.errors import WeightsError
from modelrouter.memo import looked_up
from modelrouter.paths import data_dir
from modelrouter.request_words import Token, concepts, scan, words_of

FORMAT = "modelrouter-ngram-lr"
FORMAT_VERSION = 2

log = logging.getLogger(__name__)

# Characters past this point rarely change the tier (subjects come first) and cost time.
MAX_CHARS = 600
# A request this long (text plus selection) never goes to the cheapest tier on the model's
# word alone.
LONG_REQUEST_TOKENS = 2000

_NON_LATIN = re.compile(r"[^\x00-\u024f\u2000-\u2bff]")
# Distinct tokens whose summed weights are remembered (about 100 bytes each).
TOKEN_CACHE_SIZE = 50_000
_CODE_HINT = re.compile(r"(Traceback|Exception|Error:|panic:|\bat [\w.$]+\(|segfault|SIGSEGV)")


def token_features(kind: str, text: str, char_min: int = 2, char_max: int = 5) -> list[str]:
    """The features one token contributes, wherever it stands in the request.

    An ordinary word brings itself, its in-word character n-grams and its concepts; a name or
    a piece of code brings only its kind, so an identifier never reads as intent.
    """
    if kind != "word":
        return ["t:" + kind]
    out = ["w:" + text]
    padded = " " + text + " "
    n_chars = len(padded)
    for n in range(char_min, char_max + 1):
        for i in range(n_chars - n + 1):
            out.append("c:" + padded[i : i + n])
    out.extend("k:" + c for c in concepts(text))
    return out


def request_features(text: str) -> tuple[tuple[Token, ...], list[str]]:
    """The request's tokens and its whole-request features: word pairs, the opening words
    and their concepts, and shape (length, lines, question form, code, script)."""
    text = text[:MAX_CHARS]
    tokens = scan(text)
    seq = [_pair_part(t) for t in tokens]
    out = ["b:" + a + " " + b for a, b in itertools.pairwise(seq)]
    out.extend(_shape_features(text, tokens))
    return tokens, out


def _pair_part(t: Token) -> str:
    # In word pairs a name or a piece of code stands as its kind.
    return t.text if t.kind == "word" else "_" + t.kind


def _pair_feature(pair: tuple[Token, Token]) -> str:
    return "b:" + _pair_part(pair[0]) + " " + _pair_part(pair[1])


_KIND = operator.itemgetter(0)
# The literal parts of `_CODE_HINT`: a text with none of them cannot match it.
_CODE_HINT_LITERALS = ("Traceback", "Exception", "Error:", "panic:", "segfault", "SIGSEGV")


def _shape_features(text: str, tokens: tuple[Token, ...]) -> list[str]:
    """The whole-request features other than word pairs, `text` already cut to MAX_CHARS."""
    words = words_of(text)
    out = list(_opening_features(words[0])) if words else []
    if len(words) > 1:
        out.append("f2:" + words[0] + " " + words[1])
    n = len(tokens)
    out.append("len:" + ("1" if n <= 3 else "2" if n <= 8 else "3" if n <= 20 else "4"))
    if "\n" in text.strip():
        out.append("shape:body")
    if _code_hint(text):
        out.append("shape:trace")
    question = text.find("?")
    if question >= 0 and text.find("\n", 0, question) < 0:  # on the first line
        out.append("shape:question")
    codes = list(map(_KIND, tokens)).count("code")
    if codes:
        out.append("shape:code" if codes < 3 else "shape:code3")
    if not text.isascii() and _NON_LATIN.search(text):
        out.append("shape:script")
    return out


_openings: dict[str, tuple[str, ...]] = {}


def _opening_features(word: str) -> tuple[str, ...]:
    """The features of a request's first word: itself and its concepts (cached per word)."""
    found = _openings.get(word)
    if found is None:
        found = ("f:" + word, *("fk:" + c for c in concepts(word)))
        if len(_openings) < TOKEN_CACHE_SIZE:
            _openings[word] = found
    return found


def _code_hint(text: str) -> bool:
    """`_CODE_HINT.search(text)`, without running the regex over texts that cannot match."""
    for literal in _CODE_HINT_LITERALS:
        if literal in text:
            return True
    return "at " in text and "(" in text and _CODE_HINT.search(text) is not None


def features(text: str, char_min: int = 2, char_max: int = 5) -> dict[str, float]:
    """Feature counts for a request (tokens' features plus whole-request features).

    Training reads these; prediction sums the same features per token through a cache
    (`LearnedModel.logits`), and a test proves both give the same scores.
    """
    tokens, whole = request_features(text)
    out: dict[str, float] = {}
    get = out.get
    for t in tokens:
        for k in token_features(t.kind, t.text, char_min, char_max):
            out[k] = get(k, 0.0) + 1.0
    for k in whole:
        out[k] = get(k, 0.0) + 1.0
    return out


@dataclass
class Prediction:
    """Calibrated tier probabilities for one request, most likely first."""

    ranked: list[tuple[str, float]]

    @property
    def tier(self) -> str:
        """The most likely tier."""
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        """Calibrated probability of the most likely tier."""
        return self.ranked[0][1]


@dataclass
class LearnedModel:
    """A loaded weights table; `predict_proba` is pure Python and takes microseconds."""

    tiers: list[str]
    vocab: dict[str, Sequence[float]]  # feature -> (idf, w_0 .. w_k-1)
    bias: list[float]
    temperature: float = 1.0
    char_min: int = 2
    char_max: int = 5
    # Hybrid mode adds rule evidence: fused = (logits / temperature + rule_alpha * rule
    # scores) / fused_temperature, both fitted on out-of-fold predictions.
    rule_alpha: float = 0.0
    fused_temperature: float = 1.0
    # Under-routing costs this many times more than over-routing by one tier.
    under_penalty: float = 2.0
    source: str = ""
    meta: dict = field(default_factory=dict)
    personal: bool = False  # fine-tuned on the user's corrections
    # Per token: its summed weights per tier, then its summed squared idf; per word pair
    # (and whole-request feature): idf × each tier's weight, then idf², or () when unknown.
    _token_cache: dict[Token, tuple[float, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _pair_cache: dict[tuple[Token, Token], tuple[float, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _row_cache: dict[str, tuple[float, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def logits(self, text: str) -> list[float]:
        """Uncalibrated class scores: idf-weighted feature counts, L2-normalised as if every
        occurrence were its own feature (so each token's share can be cached), times the
        weights."""
        text = text[:MAX_CHARS]
        tokens = scan(text)
        k = len(self.tiers)
        hits = looked_up(self._token_cache, tokens, self._token_row)
        # Column sums in C, in the same order as one addition per token.
        if hits:
            cols = list(zip(*hits, strict=True))
            scores = [sum(col) for col in cols[:k]]
            norm2 = sum(cols[k])
        else:
            scores, norm2 = [0.0] * k, 0.0
        # The whole-request features, in `request_features` order: word pairs, then shape.
        rows = looked_up(self._pair_cache, list(itertools.pairwise(tokens)), self._pair_row)
        rows += looked_up(self._row_cache, _shape_features(text, tokens), self._row)
        rows = [row for row in rows if row]
        if rows:
            cols = list(zip(*rows, strict=True))
            vec = [sum(col) for col in cols[:k]]
            norm2 += sum(cols[k])
        else:
            vec = [0.0] * k
        if norm2 > 0.0:
            inv = 1.0 / math.sqrt(norm2)
            return [s * inv + v * inv + b for s, v, b in zip(scores, vec, self.bias, strict=True)]
        return list(self.bias)

    def _token_row(self, t: Token) -> tuple[float, ...]:
        vec, sq = self._sum_rows(token_features(t.kind, t.text, self.char_min, self.char_max))
        row = (*vec, sq)
        if len(self._token_cache) < TOKEN_CACHE_SIZE:
            self._token_cache[t] = row
        return row

    def _pair_row(self, pair: tuple[Token, Token]) -> tuple[float, ...]:
        row = self._row(_pair_feature(pair))
        if len(self._pair_cache) < TOKEN_CACHE_SIZE:
            self._pair_cache[pair] = row
        return row

    def _row(self, feature: str) -> tuple[float, ...]:
        """The feature's idf × weight per tier, then idf² (the products `_sum_rows` sums)."""
        row = self._row_cache.get(feature)
        if row is None:
            found = self.vocab.get(feature)
            row = () if found is None else tuple(found[0] * w for w in (*found[1:], found[0]))
            if len(self._row_cache) < TOKEN_CACHE_SIZE:
                self._row_cache[feature] = row
        return row

    def _sum_rows(self, feats: list[str]) -> tuple[list[float], float]:
        """Summed idf × weight of the known features, and their summed squared idf."""
        vocab = self.vocab
        rows = [row for f in feats if (row := vocab.get(f)) is not None]
        if not rows:
            return [0.0] * len(self.tiers), 0.0
        idfs, *weights = zip(*rows, strict=True)
        mul = operator.mul
        return [sum(map(mul, idfs, w)) for w in weights], sum(map(mul, idfs, idfs))

    def predict_proba(self, text: str, rule_scores: dict[str, float] | None = None) -> list[float]:
        """Calibrated probability of each tier (in `self.tiers` order).

        With `rule_scores` (tier -> summed rule weight, from the rule-based classifier) the
        rules' evidence is fused in and the fused calibration applies.
        """
        z = [s / self.temperature for s in self.logits(text)]
        if rule_scores is not None:
            z = [
                (s + self.rule_alpha * rule_scores.get(t, 0.0)) / self.fused_temperature
                for s, t in zip(z, self.tiers, strict=True)
            ]
        return _softmax(z)

    def predict(self, text: str, rule_scores: dict[str, float] | None = None) -> Prediction:
        """Tiers ranked by calibrated probability."""
        probs = self.predict_proba(text, rule_scores)
        return Prediction(sorted(zip(self.tiers, probs, strict=True), key=lambda tp: -tp[1]))

    def to_json(self) -> dict:
        """The weights file contents (see the module docstring)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "tiers": self.tiers,
            "features": {"char_min": self.char_min, "char_max": self.char_max},
            "temperature": self.temperature,
            "fusion": {"rule_alpha": self.rule_alpha, "temperature": self.fused_temperature},
            "decision": {"under_penalty": self.under_penalty},
            "bias": [round(b, 5) for b in self.bias],
            "vocab": {f: [round(x, 4) for x in row] for f, row in sorted(self.vocab.items())},
            "trained_on": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the weights file (gzip when the name ends in .gz)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        if path.suffix == ".gz":
            # mtime=0 keeps the file byte-for-byte reproducible.
            path.write_bytes(gzip.compress(data.encode("utf-8"), mtime=0))
        else:
            path.write_text(data, encoding="utf-8")
        return path


def _softmax(z: list[float]) -> list[float]:
    m = max(z)
    e = [math.exp(s - m) for s in z]
    total = sum(e)
    return [x / total for x in e]


@functools.cache
def _mistake_costs(k: int, under_penalty: float) -> tuple[tuple[float, ...], ...]:
    """Row t, column y: the cost of sending a request that needs tier y to tier t."""
    return tuple(
        tuple(float(t - y) if t >= y else under_penalty * (y - t) for y in range(k))
        for t in range(k)
    )


@dataclass(frozen=True)
class Decision:
    """The tier to use for a prediction, and why it is not simply the most likely one."""

    tier: str
    predicted: str  # the most likely tier
    confidence: float  # its calibrated probability
    escalated: str = ""  # why the tier is above `predicted` ("" when it is not)


def decide(
    tiers: list[str], probs: list[float], *, under_penalty: float, escalate_below: float
) -> Decision:
    """Pick a tier from calibrated probabilities (tiers cheapest first); never below the
    most likely tier.

    Two guards against under-routing, the expensive mistake: (1) the tier minimising the
    expected cost of a mistake, where each tier too weak costs `under_penalty` times a tier
    too strong; (2) when the top probability is below `escalate_below`, one tier up.
    The higher of the two wins.
    """
    k = len(tiers)
    conf = max(probs)
    best = k - 1 - probs[::-1].index(conf)  # on a tie, the more capable tier
    mul = operator.mul
    expected = [sum(map(mul, probs, row)) for row in _mistake_costs(k, under_penalty)]
    by_cost = expected.index(min(expected))  # on a tie, the cheaper tier
    chosen, why = best, ""
    if by_cost > chosen:
        risk = sum(probs[by_cost:])
        chosen = by_cost
        why = f"{risk:.2f} chance it needs {tiers[by_cost]} or above → {tiers[by_cost]}"
    if conf < escalate_below and best + 1 < k and best + 1 > chosen:
        chosen = best + 1
        why = f"below {escalate_below:g} → escalated to {tiers[chosen]}"
    return Decision(tiers[chosen], tiers[best], conf, why)


def load(path: str | Path) -> LearnedModel:
    """Load a weights file; raises WeightsError with the reason when it cannot be used."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such weights file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a {FORMAT} weights file")
    if data.get("version") != FORMAT_VERSION:
        raise WeightsError(f"{path}: weights format version {data.get('version')} unsupported")
    try:
        tiers = list(data["tiers"])
        k = len(tiers)
        vocab = data["vocab"]  # rows stay JSON lists: converting 20k of them costs ~10 ms
        if not isinstance(vocab, dict):
            raise ValueError("vocab is not an object")
        if any(len(row) != k + 1 for row in vocab.values()) or len(data["bias"]) != k:
            raise ValueError("weight rows do not match the tier count")
        feats = data.get("features", {})
        return LearnedModel(
            tiers=tiers,
            vocab=vocab,
            bias=[float(b) for b in data["bias"]],
            temperature=float(data.get("temperature", 1.0)),
            char_min=int(feats.get("char_min", 2)),
            char_max=int(feats.get("char_max", 5)),
            rule_alpha=float(data.get("fusion", {}).get("rule_alpha", 0.0)),
            fused_temperature=float(data.get("fusion", {}).get("temperature", 1.0)),
            under_penalty=float(data.get("decision", {}).get("under_penalty", 2.0)),
            source=str(path),
            meta=data.get("trained_on", {}),
            personal="personal_examples" in data.get("trained_on", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: malformed weights ({exc})") from None


def shipped_weights_path() -> Path:
    """The weights that ship with the package."""
    return Path(__file__).parent / "data" / "router_weights.json.gz"


def personal_weights_path() -> Path:
    """Where `modelrouter train --from-history` writes the personal model."""
    return data_dir() / "personal_router.json.gz"


def overrides_log_path() -> Path:
    """The plain JSONL log of user corrections (redo / explicit tier override)."""
    return data_dir() / "overrides.jsonl"


_cache: dict[tuple[str, float], LearnedModel] = {}
# (weights setting, data dir setting) -> (when the files were last checked, model)
_recent: dict[tuple[str | None, str | None], tuple[float, LearnedModel]] = {}
RECHECK_S = 1.0  # how often to look for a new or retrained weights file


def default_model(weights: str | None = None) -> LearnedModel:
    """The model to route with, loaded once and cached (reloaded when the file changes).

    `weights` is an explicit file (rules.classifier.weights); otherwise the personal model
    in the user data dir when there is one, else the shipped model. The files are looked at
    no more than once a second, so a classification costs no system calls.
    """
    memo_key = (weights, os.environ.get("MODELROUTER_DATA_DIR"))
    now = time.monotonic()
    recent = _recent.get(memo_key)
    if recent is not None and now - recent[0] < RECHECK_S:
        return recent[1]
    if weights:
        path = Path(weights).expanduser()
    else:
        personal = personal_weights_path()
        path = personal if personal.is_file() else shipped_weights_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    key = (str(path), mtime)
    model = _cache.get(key)
    if model is None:
        try:
            model = load(path)
        except WeightsError as exc:
            if weights or path == shipped_weights_path():
                raise
            # A personal model from an older release (or a damaged one) must not take the
            # learned router away: the shipped model stands in until it is retrained.
            if str(exc) not in _warned:
                _warned.add(str(exc))
                log.warning("personal model skipped (%s); using the shipped model", exc)
            model = load(shipped_weights_path())
        if len(_cache) > 4:
            _cache.clear()
        _cache[key] = model
    _recent[memo_key] = (now, model)
    return model


_warned: set[str] = set()  # weights problems already logged (once each)


def classify_hybrid(rules, text: str, by_rules, *, use_rules: bool = True):
    """The hybrid decision, given the rule-based classification `by_rules`.

    Rules decide alone when they are confident (at least rules.classifier.rule_confidence)
    and uncontradicted (see `rules_decide_alone`); otherwise the learned model decides,
    with the rules' evidence fused in (`use_rules`), and its calibrated confidence may move
    the request up a tier (see `decide`). When no model can be loaded the rules' answer
    stands and the reason says why.
    """
    settings = rules.classifier
    if use_rules and rules_decide_alone(by_rules, settings.rule_confidence):
        return by_rules.revised(
            f"rules (confidence {by_rules.confidence:.2f} ≥ "
            f"{settings.rule_confidence:g}, nothing against): {by_rules.reason}"
        )
    try:
        model = default_model(settings.weights)
    except WeightsError as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.warning("learned router unavailable: %s", exc)
        return by_rules.revised(f"{by_rules.reason} (learned model unavailable: {exc})")
    order = rules.tier_order
    if model.tiers != order:
        return by_rules.revised(
            f"{by_rules.reason} (learned model tiers {model.tiers} do not match the rules)"
        )
    probs = model.predict_proba(text, by_rules.scores if use_rules else None)
    d = decide(
        order,
        probs,
        under_penalty=model.under_penalty,
        escalate_below=settings.escalate_below,
    )
    ranked = sorted(zip(order, probs, strict=True), key=lambda tp: -tp[1])
    which = "personal model" if model.personal else "learned model"
    reason = f"{which}: {ranked[0][0]} {ranked[0][1]:.2f} ({ranked[1][0]} {ranked[1][1]:.2f})"
    tier, escalated = d.tier, d.escalated
    if tier == order[0] and by_rules.tokens >= LONG_REQUEST_TOKENS and len(order) > 1:
        # A short ask with a lot of pasted code is not a one-line fix.
        tier, escalated = order[1], f"{by_rules.tokens} tokens is too long for {order[0]}"
    if escalated:
        reason += f"; {escalated}"
    if use_rules and by_rules.matched:
        # The strongest rule only: the full list is in `matched` (and `route --json`).
        reason += f"; rules weighed in: {by_rules.reason.split('; also matched', 1)[0]}"
    return by_rules.revised(reason, tier=tier, confidence=round(d.confidence, 3), source="learned")


def rules_decide_alone(by_rules, rule_confidence: float) -> bool:
    """True when the rules' answer stands without the model: confident, and no route of
    another tier matched (evidence nothing in the request contradicts)."""
    return (
        by_rules.source == "rules"
        and by_rules.confidence >= rule_confidence
        and len(by_rules.scores) == 1
    )


def select_weights(rules, which: str):
    """`rules` with the learned model set to "shipped", "personal" or a weights file.

    Raises ValueError when the chosen weights do not exist.
    """
    if which == "shipped":
        path = shipped_weights_path()
    elif which == "personal":
        path = personal_weights_path()
        if not path.is_file():
            raise ValueError(f"no personal model at {path}; run `modelrouter train --from-history`")
    else:
        path = Path(which).expanduser()
        if not path.is_file():
            raise ValueError(f"{path}: no such weights file")
    return replace(rules, classifier=replace(rules.classifier, weights=str(path)))
