"""The synthetic demo domain: card transactions with a known fraud ground truth, injectable drift and late labels.

Features are drawn from realistic, correlated distributions (per-card spending levels, log-normal amounts by
merchant category, a day/night pattern, impossible travel, velocities, merchant risk). A small "compromised"
mixture component puts mass where fraud lives, but the truth itself is a known non-linear function of the 16
features alone (:func:`ground_truth_probability`), so a model can be judged against the best possible score.

Generation happens in fixed blocks whose random streams derive from ``(seed, block index)``: a generator gives
the same events however its ``generate`` calls are chunked, and it is vectorised (100k events in ~0.3 s).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from schemas.features import load_feature_spec

SPEC = load_feature_spec("transactions")
_COL = {name: j for j, name in enumerate(SPEC.names)}
CATEGORIES = SPEC.features[_COL["merchant_category"]].categories
CHANNELS = SPEC.features[_COL["channel"]].categories
_CAT = {c: i for i, c in enumerate(CATEGORIES)}
_CHAN = {c: i for i, c in enumerate(CHANNELS)}
_BLOCK = 4096
_MS_PER_DAY = 86_400_000

# Log-normal amount (median, sigma) per merchant category, in account currency.
_AMOUNT = {
    "grocery": (45.0, 0.6), "restaurant": (30.0, 0.5), "travel": (350.0, 0.9), "electronics": (220.0, 0.9),
    "fuel": (55.0, 0.35), "online_retail": (60.0, 0.9), "entertainment": (40.0, 0.7), "health": (70.0, 0.8),
    "other": (80.0, 1.0),
}  # fmt: skip
# Merchant category mix per channel (rows follow CHANNELS, columns CATEGORIES).
_CATEGORY_MIX = {
    "pos": [0.30, 0.22, 0.03, 0.04, 0.15, 0.00, 0.10, 0.08, 0.08],
    "online": [0.04, 0.05, 0.14, 0.16, 0.00, 0.43, 0.12, 0.03, 0.03],
    "atm": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    "mobile": [0.12, 0.20, 0.06, 0.08, 0.02, 0.30, 0.14, 0.04, 0.04],
}
_CHANNEL_P = {"pos": 0.55, "online": 0.25, "atm": 0.06, "mobile": 0.14}
_INT_FEATURES = {f.name for f in SPEC.features if f.avro_type in ("int", "long")}
_BOOL_FEATURES = {f.name for f in SPEC.features if f.avro_type == "boolean"}
_BOUNDS = {"hour_of_day": (0, 23), "day_of_week": (0, 6), "merchant_risk_score": (0.0, 1.0), "customer_age": (18, 100)}
# Intercepts calibrated so that the fraud base rate is about 2.5% before and about 2% after the concept drift.
_INTERCEPT = -5.7
_INTERCEPT_DRIFT = -5.0


DEFAULT_SHIFT_FEATURE, DEFAULT_SHIFT_SD = "amount", 1.0


@dataclass(frozen=True)
class DriftConfig:
    """Drift to inject. Indexes count events from the generator's first event (0-based)."""

    data_drift_at: int | None = None  # event index from which feature shift applies
    # Feature name -> shift in that feature's standard deviations. Numeric features move by value (ints are
    # rounded, bounded features clipped); booleans move their rate by shift x std. Enums cannot be shifted.
    shift: Mapping[str, float] = field(default_factory=dict)
    concept_drift_at: int | None = None  # event index from which the ground-truth function changes

    def __post_init__(self) -> None:
        for name in self.shift:
            if name not in _COL or SPEC.features[_COL[name]].kind != "numeric":
                raise ValueError(f"cannot shift {name!r}: not a numeric or boolean feature of transactions")
        if self.data_drift_at is not None and not self.shift:
            raise ValueError("data drift needs a shift: which feature moves, by how many standard deviations")

    @classmethod
    def of(
        cls, drift_at: int | None = None, shifts: Sequence[str] = (), concept_drift_at: int | None = None
    ) -> DriftConfig:
        """From command-line words: ``shifts`` are ``feature=sd`` (e.g. ``amount=1.5``); with ``drift_at``
        and no shift, ``amount`` moves by DEFAULT_SHIFT_SD."""
        shift: dict[str, float] = {}
        for word in shifts:
            name, _, size = word.partition("=")
            try:
                shift[name.strip()] = float(size)
            except ValueError:
                raise ValueError(f"--shift {word!r}: expected feature=standard deviations, e.g. amount=1.5") from None
        if drift_at is not None and not shift:
            shift = {DEFAULT_SHIFT_FEATURE: DEFAULT_SHIFT_SD}
        return cls(drift_at, shift if drift_at is not None else {}, concept_drift_at)


@dataclass(frozen=True)
class GeneratedBatch:
    records: list[dict[str, Any]]  # Avro-ready event dicts; event_time is int epoch milliseconds (UTC)
    labels: np.ndarray  # int8 0/1 ground truth drawn from fraud_probability
    fraud_probability: np.ndarray  # float64 true probability per event
    label_delays_ms: np.ndarray  # int64 delay after event_time at which the label becomes known

    def __len__(self) -> int:
        return len(self.records)

    def features(self) -> np.ndarray:
        """The records as the model sees them (float32, feature-spec order)."""
        from schemas.features import encode

        return encode(SPEC, self.records)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(expit(x))


def ground_truth_probability(features: np.ndarray, concept_drift: bool = False) -> np.ndarray:
    """True fraud probability of each row of ``features`` (float32 (n, 16), feature-spec order).

    Before the drift fraud is large card-not-present amounts, impossible travel, fresh accounts with bursts,
    risky merchants and foreign night-time use, with interactions between them. After it, fraudsters move to
    cloned cards at ATMs and small "card testing" payments; big online amounts matter less.
    """
    x = np.asarray(features, dtype=np.float64)
    c = {name: x[:, j] for name, j in _COL.items()}
    card_not_present = 1.0 - c["card_present"]
    log_ratio = np.log(np.maximum(c["amount_to_avg_ratio"], 1e-3))
    speed_kmh = c["distance_from_last_txn_km"] / np.maximum(c["seconds_since_last_txn"], 1.0) * 3600.0
    impossible_travel = _sigmoid((speed_kmh - 600.0) / 120.0)
    night = (c["hour_of_day"] <= 5).astype(np.float64)
    young_account = _sigmoid((45.0 - c["account_age_days"]) / 10.0)
    burst = np.minimum(c["velocity_1h"], 8.0) / 4.0
    risky_merchant = _sigmoid((c["merchant_risk_score"] - 0.12) * 35.0)
    goods = np.isin(c["merchant_category"], [_CAT["electronics"], _CAT["online_retail"]]).astype(np.float64)
    remote = np.isin(c["channel"], [_CHAN["online"], _CHAN["mobile"]]).astype(np.float64)
    age_u = ((c["customer_age"] - 45.0) / 20.0) ** 2
    far_from_home = np.log1p(c["distance_from_home_km"]) / 4.0
    z = 3.4 * impossible_travel + 2.8 * risky_merchant + 0.25 * age_u + 0.3 * far_from_home
    z += 2.2 * young_account * burst
    if not concept_drift:
        z += _INTERCEPT + 3.2 * _sigmoid((log_ratio - 1.1) * 3.0) * card_not_present
        z += 2.4 * c["foreign"] * night + 1.0 * goods * remote
    else:
        atm = (c["channel"] == _CHAN["atm"]).astype(np.float64)
        cloned = atm * c["card_present"] * _sigmoid((c["velocity_24h"] - 6.0) / 1.5)
        card_testing = remote * _sigmoid((-1.6 - log_ratio) * 3.0) * _sigmoid(c["velocity_1h"] - 2.5)
        z += _INTERCEPT_DRIFT + 0.6 * _sigmoid((log_ratio - 1.1) * 3.0) * card_not_present
        z += 4.0 * cloned + 4.0 * card_testing + 0.6 * c["foreign"] * night
    return _sigmoid(z)


@dataclass(frozen=True)
class _Cards:
    activity: np.ndarray  # sampling weight of each card (some cards are far busier)
    spend_level: np.ndarray  # multiplier of category amounts
    avg_amount: np.ndarray  # the card's 30-day average amount
    account_age_days: np.ndarray
    customer_age: np.ndarray

    @classmethod
    def draw(cls, seed: int, n: int) -> _Cards:
        rng = np.random.default_rng([seed, 0xCA4D])
        activity = rng.pareto(2.5, n) + 0.05
        spend = rng.lognormal(0.0, 0.45, n)
        return cls(
            activity=activity / activity.sum(),
            spend_level=spend,
            avg_amount=spend * 70.0 * rng.lognormal(0.0, 0.15, n),
            account_age_days=np.minimum(rng.gamma(1.3, 900.0, n) + 1, 15_000).astype(np.int64),
            customer_age=np.clip(rng.normal(44.0, 15.0, n), 18, 95).astype(np.int64),
        )


class TransactionGenerator:
    """A deterministic, resumable stream of synthetic transactions (see the module docstring)."""

    def __init__(
        self,
        seed: int,
        n_cards: int = 5_000,
        start_ms: int = 1_767_225_600_000,
        events_per_s: float = 200.0,
        drift: DriftConfig | None = None,
    ) -> None:
        if n_cards < 1 or events_per_s <= 0:
            raise ValueError("n_cards must be >= 1 and events_per_s > 0")
        self.seed = seed
        self.drift = drift or DriftConfig()
        self._cards = _Cards.draw(seed, n_cards)
        self._card_ids = np.array([f"card-{i:06d}" for i in range(n_cards)], dtype=object)
        self._mean_gap_ms = 1000.0 / events_per_s
        self._next_time = float(start_ms)
        self._blocks = 0
        self._buffer: dict[str, np.ndarray] = {}
        self.position = 0  # events handed out so far

    def generate(self, n: int) -> GeneratedBatch:
        """The next ``n`` events, continuing where the previous call stopped."""
        have = len(self._buffer.get("p", ()))
        if have < n:
            blocks = [self._buffer] if have else []
            blocks += [self._block() for _ in range(-(-(n - have) // _BLOCK))]
            self._buffer = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        out = {k: v[:n] for k, v in self._buffer.items()}
        self._buffer = {k: v[n:] for k, v in self._buffer.items()}
        self.position += n
        return GeneratedBatch(
            records=self._records(out),
            labels=out["label"].astype(np.int8),
            fraud_probability=out["p"].astype(np.float64),
            label_delays_ms=out["delay"].astype(np.int64),
        )

    def _block(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1 + self._blocks])
        first = self._blocks * _BLOCK
        self._blocks += 1
        index = first + np.arange(_BLOCK)
        cols = _draw_features(rng, self._cards, _BLOCK)
        if self.drift.data_drift_at is not None and self.drift.shift:
            # Its own random stream, so that drift changes nothing but the shifted features and their effects.
            drift_rng = np.random.default_rng([self.seed, self._blocks, 0xD81F7])
            _shift(drift_rng, cols, index >= self.drift.data_drift_at, self.drift.shift)
        x = np.column_stack([cols[name] for name in SPEC.names]).astype(np.float32)
        p = ground_truth_probability(x)
        if self.drift.concept_drift_at is not None:
            after = index >= self.drift.concept_drift_at
            if after.any():
                p[after] = ground_truth_probability(x[after], concept_drift=True)
        label = (rng.random(_BLOCK) < p).astype(np.int8)
        gaps = rng.exponential(self._mean_gap_ms, _BLOCK)
        times = self._next_time + np.cumsum(gaps)
        self._next_time = float(times[-1])
        cols["event_time"] = times.astype(np.int64)
        cols["event_id"] = _uuid4s(rng, _BLOCK)
        cols["entity_id"] = self._card_ids[cols.pop("_card")]
        cols["p"], cols["label"], cols["delay"] = p, label, _label_delays(rng, label)
        return cols

    @staticmethod
    def _records(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        keys = ["event_id", "entity_id", "event_time", *SPEC.names]
        columns: list[list[Any]] = [cols[k].tolist() for k in keys]
        cat = _COL["merchant_category"] + 3
        chan = _COL["channel"] + 3
        columns[cat] = [CATEGORIES[i] for i in columns[cat]]
        columns[chan] = [CHANNELS[i] for i in columns[chan]]
        keys.insert(3, "stream")
        columns.insert(3, ["transactions"] * len(columns[0]))
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _draw_features(rng: np.random.Generator, cards: _Cards, n: int) -> dict[str, np.ndarray]:
    """Every feature column of ``n`` events (numbers, bools as bool, enums as symbol index)."""
    card = rng.choice(len(cards.activity), size=n, p=cards.activity)
    # A few percent of events come from compromised cards or fraud-prone situations; the truth is still
    # a function of the features only, this only puts mass where that function is high.
    odd_rate = 0.05

    def odd() -> np.ndarray:  # each anomaly on its own: fraud shows some of them, rarely all at once
        return rng.random(n) < odd_rate

    channel = rng.choice(len(CHANNELS), size=n, p=[_CHANNEL_P[c] for c in CHANNELS])
    mix = np.array([_CATEGORY_MIX[c] for c in CHANNELS])
    category = (rng.random(n)[:, None] > np.cumsum(mix[channel], axis=1)).sum(axis=1)
    category = np.minimum(category, len(CATEGORIES) - 1)
    medians = np.array([_AMOUNT[c][0] for c in CATEGORIES])[category]
    sigmas = np.array([_AMOUNT[c][1] for c in CATEGORIES])[category]
    spree = np.where(odd(), rng.lognormal(1.2, 0.8, n), 1.0)
    amount = medians * cards.spend_level[card] * rng.lognormal(0.0, sigmas) * spree
    is_atm = channel == _CHAN["atm"]
    amount = np.where(is_atm, np.maximum(20.0, np.round(amount / 20.0) * 20.0), np.round(amount, 2))
    remote = (channel == _CHAN["online"]) | (channel == _CHAN["mobile"])
    card_present = np.where(remote, rng.random(n) < 0.12, rng.random(n) < 0.98)
    foreign = rng.random(n) < np.where(category == _CAT["travel"], 0.30, np.where(odd(), 0.5, 0.04))
    # Day/night pattern of the cardholder's local hour: busy afternoons, a quiet night tail.
    day_hour = np.mod(np.round(rng.normal(14.0, 4.0, n)), 24)
    hour = np.where(rng.random(n) < np.where(odd(), 0.5, 0.07), rng.integers(0, 6, n), day_hour).astype(np.int64)
    day = rng.choice(7, size=n, p=[0.13, 0.13, 0.14, 0.14, 0.17, 0.17, 0.12])
    home_km = rng.lognormal(1.6, 1.0, n) + np.where(foreign, rng.lognormal(7.2, 0.6, n), 0.0)
    gap_s = rng.lognormal(np.log(20_000.0), 1.6, n) * np.where(odd(), 0.02, 1.0)
    travel = rng.random(n) < np.where(odd(), 0.6, 0.02)
    last_km = rng.lognormal(1.0, 1.0, n) + np.where(travel, rng.lognormal(6.5, 0.8, n), 0.0)
    velocity_1h = rng.poisson(np.where(odd(), 3.0, 0.2)) + (gap_s < 3600)
    velocity_24h = velocity_1h + rng.poisson(np.where(odd(), 8.0, 2.5))
    account_age = np.where(odd(), rng.integers(1, 60, n), cards.account_age_days[card])
    risk = rng.beta(1.1, 70.0, n) + np.where(odd(), rng.beta(2.0, 8.0, n), 0.0)
    return {
        "_card": card,
        "amount": amount,
        "hour_of_day": hour,
        "day_of_week": day.astype(np.int64),
        "distance_from_home_km": np.round(home_km, 3),
        "distance_from_last_txn_km": np.round(last_km, 3),
        "seconds_since_last_txn": np.round(gap_s, 1),
        "velocity_1h": velocity_1h.astype(np.int64),
        "velocity_24h": velocity_24h.astype(np.int64),
        "amount_to_avg_ratio": np.round(amount / cards.avg_amount[card], 4),
        "account_age_days": account_age.astype(np.int64),
        "customer_age": cards.customer_age[card],
        "card_present": card_present,
        "foreign": foreign,
        "merchant_risk_score": np.round(np.minimum(risk, 1.0), 5),
        "merchant_category": category.astype(np.int64),
        "channel": channel.astype(np.int64),
    }


@functools.cache
def reference_std() -> dict[str, float]:
    """Standard deviation of each numeric/boolean feature in undrifted data (the unit of DriftConfig.shift)."""
    cols = _draw_features(np.random.default_rng(12345), _Cards.draw(12345, 5_000), 50_000)
    return {f.name: float(np.std(cols[f.name].astype(np.float64))) for f in SPEC.features if f.kind == "numeric"}


def _shift(rng: np.random.Generator, cols: dict[str, np.ndarray], rows: np.ndarray, shift: Mapping[str, float]) -> None:
    if not rows.any():
        return
    std = reference_std()
    for name, k in shift.items():
        values = cols[name]
        if name in _BOOL_FEATURES:
            # Move the rate by k x std: flip just enough values, picked at random, towards the new rate.
            delta = k * std[name]
            flippable = rows & (values if delta < 0 else ~values)
            share = flippable.sum() / rows.sum()
            flip = flippable & (rng.random(len(values)) < abs(delta) / max(share, 1e-9))
            cols[name] = values ^ flip
            continue
        moved = values.astype(np.float64) + np.where(rows, k * std[name], 0.0)
        low, high = _BOUNDS.get(name, (0, np.inf))
        moved = np.clip(moved, low, high)
        cols[name] = np.round(moved).astype(np.int64) if name in _INT_FEATURES else moved


def _uuid4s(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    flat = raw.tobytes().hex()
    hexes = [flat[i : i + 32] for i in range(0, 32 * n, 32)]
    return np.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes], dtype=object)


def _label_delays(rng: np.random.Generator, label: np.ndarray) -> np.ndarray:
    """Fraud is reported by the cardholder within hours to days; good transactions are confirmed once the
    dispute window has quietly passed (here ~2 days, compressed from weeks so that demos see labels)."""
    n = len(label)
    fraud = rng.lognormal(np.log(6 * 3_600_000), 1.0, n)
    legit = rng.lognormal(np.log(2 * _MS_PER_DAY), 0.3, n)
    return np.clip(np.where(label == 1, fraud, legit), 60_000, 60 * _MS_PER_DAY).astype(np.int64)


def label_record(event_id: str, label: int, label_time_ms: int, entity_id: str | None = None) -> dict[str, Any]:
    """One record of the labels topic (schemas/avro/labels.avsc); label_time is int epoch milliseconds."""
    return {"event_id": event_id, "entity_id": entity_id, "label": int(label), "label_time": int(label_time_ms)}


def label_records(batch: GeneratedBatch) -> list[dict[str, Any]]:
    """The labels of a generated batch, each known at event_time + its delay."""
    delays = batch.label_delays_ms.tolist()
    labels = batch.labels.tolist()
    return [
        label_record(r["event_id"], labels[i], r["event_time"] + delays[i], r["entity_id"])
        for i, r in enumerate(batch.records)
    ]
