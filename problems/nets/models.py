"""Non-differentiable networks as pure JAX functions of a flat params dict, with smooth and STE twins.

Every model is a frozen dataclass with `init(key) -> params`, `apply(params, x, mode) -> logits` for
mode in {"hard", "smooth", "ste"}, `decisions(params, x)` (the discrete choices, for tests), and the pieces
of the structured candidate evaluation (see structured.py): `sites` (the linear maps `inp @ W + b` of the
hard forward), `cache(params, x)` (each site's input and pre-activation) and `resume(site, params, cache,
pre)` (the logits after replacing one site's pre-activation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

MODES = ("hard", "smooth", "ste")
Params = dict


class Site(NamedTuple):
    """A linear map of the hard forward: `pre = inp @ params[weight] (+ params[bias])`, int8 when `quantized`."""

    name: str
    weight: str
    bias: str | None = None
    quantized: bool = False


# ------------------------------------------------------------------------------------------- primitives
def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode: unknown {mode!r}; allowed: {', '.join(MODES)}")


def _ste(hard: jax.Array, soft: jax.Array) -> jax.Array:
    """Forward value `hard`, gradient of `soft`."""
    return soft + jax.lax.stop_gradient(hard - soft)


def heaviside(x: jax.Array, mode: str, beta: float) -> jax.Array:
    """Step x >= 0 (hard), sigmoid(beta x) (smooth), or hard forward / sigmoid gradient (ste)."""
    soft = jax.nn.sigmoid(beta * x)
    hard = (x >= 0).astype(x.dtype)
    return {"hard": hard, "smooth": soft, "ste": _ste(hard, soft) if mode == "ste" else soft}[mode]


def staircase(x: jax.Array, mode: str, levels: int = 5) -> jax.Array:
    """floor(levels * sigmoid(x)) / levels (hard), sigmoid (smooth), or hard forward / sigmoid gradient."""
    soft = jax.nn.sigmoid(x)
    if mode == "smooth":
        return soft
    hard = jnp.floor(levels * soft) / levels
    return hard if mode == "hard" else _ste(hard, soft)


def quantize(w: jax.Array, scale: float, mode: str) -> jax.Array:
    """int8 fake quantization clip(round(w / scale), -128, 127) * scale; smooth skips the rounding."""
    soft = jnp.clip(w / scale, -128.0, 127.0) * scale
    if mode == "smooth":
        return soft
    hard = jnp.clip(jnp.round(w / scale), -128.0, 127.0) * scale
    return hard if mode == "hard" else _ste(hard, soft)


def select(scores: jax.Array, mode: str, temperature: float = 1.0) -> jax.Array:
    """One-hot argmax over the last axis (hard), softmax (smooth), or one-hot forward / softmax gradient."""
    soft = jax.nn.softmax(scores / temperature, axis=-1)
    if mode == "smooth":
        return soft
    hard = jax.nn.one_hot(jnp.argmax(scores, axis=-1), scores.shape[-1], dtype=scores.dtype)
    return hard if mode == "hard" else _ste(hard, soft)


def _dense(key: jax.Array, d_in: int, d_out: int, gain: float = math.sqrt(2.0)) -> jax.Array:
    return jax.random.normal(key, (d_in, d_out), jnp.float32) * (gain / math.sqrt(d_in))


def row_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy of every row (rows,) for integer labels."""
    # logsumexp minus the labelled logit, with a one-hot of the (shared) labels: under vmap over candidates on
    # CPU, log_softmax + take_along_axis ran ~5x slower than the whole structured forward feeding it (measured)
    picked = jnp.sum(logits * jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype), axis=-1)
    return jax.nn.logsumexp(logits, axis=-1) - picked


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer labels."""
    return jnp.mean(row_cross_entropy(logits, labels))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of argmax predictions equal to the labels."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


# ------------------------------------------------------------------------------------- chain MLPs
@dataclass(frozen=True)
class ChainMLP:
    """MLP n_in-hidden...-n_classes; `activation` relu or staircase; `int8_layers` lists fake-quantized layers.

    int8 task: hidden (128, 128), int8_layers (1,) with scale 0.01; staircase task: activation 'staircase'.
    """

    n_in: int
    n_classes: int
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    int8_layers: tuple[int, ...] = ()
    int8_scale: float = 0.01
    levels: int = 5

    def __post_init__(self):
        if self.activation not in ("relu", "staircase"):
            raise ValueError(f"activation: unknown {self.activation!r}; allowed: relu, staircase")
        n_layers = len(self.hidden) + 1
        for i in self.int8_layers:
            if not 0 <= i < n_layers:
                raise ValueError(f"int8_layers: layer {i} out of range [0, {n_layers - 1}]")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_in, *self.hidden, self.n_classes)

    @property
    def sites(self) -> tuple[Site, ...]:
        n = len(self.sizes) - 1
        return tuple(Site(f"l{i}", f"w{i}", f"b{i}", i in self.int8_layers) for i in range(n))

    def init(self, key: jax.Array) -> Params:
        """Gaussian (He) weights, zero biases."""
        keys = jax.random.split(key, len(self.sizes) - 1)
        params = {}
        for i, (k, a, b) in enumerate(zip(keys, self.sizes[:-1], self.sizes[1:])):
            params[f"w{i}"] = _dense(k, a, b)
            params[f"b{i}"] = jnp.zeros((b,), jnp.float32)
        return params

    def _weight(self, params: Params, i: int, mode: str) -> jax.Array:
        w = params[f"w{i}"]
        return quantize(w, self.int8_scale, mode) if i in self.int8_layers else w

    def _act(self, x: jax.Array, mode: str) -> jax.Array:
        return jax.nn.relu(x) if self.activation == "relu" else staircase(x, mode, self.levels)

    def _run(self, params: Params, h: jax.Array, start: int, pre: jax.Array | None, mode: str, record=None):
        n = len(self.sizes) - 1
        for i in range(start, n):
            if record is not None:
                record[f"inp/l{i}"] = h
            if pre is None or i != start:
                pre_i = h @ self._weight(params, i, mode) + params[f"b{i}"]
            else:
                pre_i = pre
            if record is not None:
                record[f"pre/l{i}"] = pre_i
            h = pre_i if i == n - 1 else self._act(pre_i, mode)
        return h

    def apply(self, params: Params, x: jax.Array, mode: str = "hard") -> jax.Array:
        """Logits (batch, n_classes)."""
        _check_mode(mode)
        return self._run(params, x, 0, None, mode)

    def cache(self, params: Params, x: jax.Array) -> dict:
        """Hard forward recording every site's input and pre-activation (and 'logits')."""
        record = {}
        record["logits"] = self._run(params, x, 0, None, "hard", record)
        return record

    def resume(self, site: str, params: Params, cache: dict, pre: jax.Array) -> jax.Array:
        """Hard logits when site `site` outputs `pre` and everything before it is as cached."""
        i = int(site[1:])
        return self._run(params, cache[f"inp/l{i}"], i, pre, "hard")

    def resume_column(self, site: str, params: Params, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Hard logits when only output unit `j` of site `site` changes, to pre-activation `col` (rows,).

        The next layer's pre-activation changes by a rank-one term (one input unit moved), so it is updated
        in O(rows * d_next) instead of recomputed; the layers after it run as usual.
        """
        i, n = int(site[1:]), len(self.sizes) - 1
        if i == n - 1:
            return cache[f"pre/l{i}"].at[:, j].set(col)
        change = self._act(col, "hard") - self._act(cache[f"pre/l{i}"][:, j], "hard")
        pre_next = cache[f"pre/l{i + 1}"] + change[:, None] * self._weight(params, i + 1, "hard")[j][None, :]
        return self._run(params, None, i + 1, pre_next, "hard")

    # Row-sparse scoring (structured.py): a row whose moved unit keeps its activation keeps its logits.
    @property
    def row_sparse_sites(self) -> tuple[str, ...]:
        """Hidden sites, whose one-unit moves change only the rows where the unit's activation changes."""
        return tuple(f"l{i}" for i in range(len(self.sizes) - 2))

    def changed_rows(self, site: str, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Rows (bool, (rows,)) whose logits can change when hidden unit `j` of `site` takes pre-activation `col`."""
        return self._act(col, "hard") != self._act(cache[f"pre/{site}"][:, j], "hard")

    def take_rows(self, cache: dict, rows: jax.Array) -> dict:
        """The cache of the sub-batch `rows`."""
        return {key: value[rows] for key, value in cache.items()}

    def decisions(self, params: Params, x: jax.Array) -> dict:
        """Quantized weights (in units of the scale) and hidden activations of the hard model."""
        rec = self.cache(params, x)
        scale = self.int8_scale
        out = {f"q{i}": jnp.clip(jnp.round(params[f"w{i}"] / scale), -128, 127) for i in self.int8_layers}
        out.update({f"h{i}": rec[f"inp/l{i}"] for i in range(1, len(self.sizes) - 1)})
        return out


# ----------------------------------------------------------------------------------------- spiking
@dataclass(frozen=True)
class SpikingMLP:
    """Hard-LIF spiking MLP n_in-hidden-n_classes: constant input current, T steps, spike counts as logits.

    v <- decay * v + I_t; spike when v >= threshold; v reset to 0 after a spike. Smooth: sigmoid spikes of
    slope `beta` and a soft reset; STE: hard spikes with the sigmoid's gradient.
    """

    n_in: int
    n_classes: int
    hidden: int = 128
    steps: int = 15
    decay: float = 0.95
    threshold: float = 1.0
    beta: float = 5.0
    logit_scale: float = 0.3  # logits = 0.3 x counts: at 1.0 CE starts ~6.5 and silencing every output
    # neuron (CE = log C, a flat plateau) is the cheapest first move; 0.3 measured 34.8% vs 13.2% (docs/nets.md)
    output_init: str = "centered"  # centered: each output-weight column is shifted to mean OUTPUT_MEAN, so no
    # output neuron starts (nearly) silent; gaussian: plain Gaussian columns, where some do (MNIST seed 2: 75.6 % vs
    # 89.0 % validation after one epoch; docs/nets.md, "SNN output init")

    OUTPUT_INITS: ClassVar[tuple[str, ...]] = ("centered", "gaussian")
    OUTPUT_MEAN: ClassVar[float] = 0.02

    def __post_init__(self):
        if self.output_init not in self.OUTPUT_INITS:
            raise ValueError(f"output_init: unknown {self.output_init!r}; allowed: {', '.join(self.OUTPUT_INITS)}")

    sites = (Site("l0", "w0", "b0"), Site("l1", "w1", "b1"))

    def init(self, key: jax.Array) -> Params:
        """Gaussian weights scaled so that a fair share of neurons spike at start (output columns centered on a
        small positive mean, `output_init`); zero biases."""
        k0, k1 = jax.random.split(key)
        w1 = _dense(k1, self.hidden, self.n_classes, 2.0)
        if self.output_init == "centered":
            w1 = w1 - jnp.mean(w1, axis=0, keepdims=True) + self.OUTPUT_MEAN
        return {
            "w0": _dense(k0, self.n_in, self.hidden, 2.0), "b0": jnp.zeros((self.hidden,), jnp.float32),
            "w1": w1, "b1": jnp.zeros((self.n_classes,), jnp.float32),
        }

    def _layer1(self, params: Params, spikes0: jax.Array, mode: str):
        """Currents (T*B, C) of the output layer and its spike counts."""
        t, b, h = spikes0.shape
        flat = spikes0.reshape(t * b, h)
        pre = flat @ params["w1"] + params["b1"]
        return flat, pre

    def _counts(self, pre1: jax.Array, batch: int, mode: str) -> jax.Array:
        currents = pre1.reshape(self.steps, batch, -1)
        if mode != "hard":
            return self._lif_seq(currents, mode).sum(0)
        # hard: carry the count through the time loop instead of stacking the spike trains (same integers; 1.25x
        # faster per candidate under vmap, measured)
        v = count = jnp.zeros_like(currents[0])
        for t in range(self.steps):
            v = self.decay * v + currents[t]
            spike = (v >= self.threshold).astype(v.dtype)
            v, count = v * (1.0 - spike), count + spike
        return count

    def first_spike_currents(self) -> jax.Array:
        """c_t (T,): from rest, a constant current I makes the neuron spike at step t iff I >= c_t.

        v_t = I (1 - decay^(t+1)) / (1 - decay) before the first spike, so c_t = thr (1 - d) / (1 - d^(t+1)).
        """
        t = jnp.arange(1, self.steps + 1, dtype=jnp.float32)
        return self.threshold * (1.0 - self.decay) / (1.0 - self.decay ** t)

    def _lif_const(self, current: jax.Array, mode: str) -> jax.Array:
        """Spike trains (T, ...) under a time-invariant current.

        Hard: after a reset to 0 the neuron repeats its trajectory from rest, so it spikes periodically with
        period n = first spike step + 1: computed in closed form, no time loop. Smooth / STE: the scan.
        """
        if mode == "hard":
            c = self.first_spike_currents().astype(current.dtype)
            period = 1.0 + jnp.sum(current[..., None] < c, axis=-1).astype(current.dtype)
            steps = jnp.arange(1, self.steps + 1, dtype=current.dtype).reshape((-1,) + (1,) * current.ndim)
            ratio = steps / period[None]  # an exact integer iff the period divides the step (both <= 16)
            return (ratio == jnp.floor(ratio)).astype(current.dtype)

        def body(v, _):
            v = self.decay * v + current
            s = heaviside(v - self.threshold, mode, self.beta)
            return v * (1.0 - s), s

        return jax.lax.scan(body, jnp.zeros_like(current), None, length=self.steps, unroll=True)[1]

    def _lif_seq(self, currents: jax.Array, mode: str) -> jax.Array:
        """Spike trains (T, ...) of LIF neurons driven by time-varying currents (T, ...)."""
        def body(v, current):
            v = self.decay * v + current
            s = heaviside(v - self.threshold, mode, self.beta)
            return v * (1.0 - s), s

        # unrolled: T is small, and a rolled loop under vmap runs ~20x slower on CPU (measured, T=15)
        return jax.lax.scan(body, jnp.zeros_like(currents[0]), currents, unroll=True)[1]

    def apply(self, params: Params, x: jax.Array, mode: str = "hard") -> jax.Array:
        """Output spike counts (times logit_scale) as logits (batch, n_classes)."""
        _check_mode(mode)
        current0 = x @ params["w0"] + params["b0"]  # time-invariant: computed once
        _, pre1 = self._layer1(params, self._lif_const(current0, mode), mode)
        return self._counts(pre1, x.shape[0], mode) * self.logit_scale

    def cache(self, params: Params, x: jax.Array) -> dict:
        """Site inputs / pre-activations of the hard forward (layer 1 over time flattened to T*B rows)."""
        pre0 = x @ params["w0"] + params["b0"]
        spikes0 = self._lif_const(pre0, "hard")
        flat, pre1 = self._layer1(params, spikes0, "hard")
        return {"inp/l0": x, "pre/l0": pre0, "inp/l1": flat, "pre/l1": pre1,
                "logits": self._counts(pre1, x.shape[0], "hard") * self.logit_scale}

    def resume(self, site: str, params: Params, cache: dict, pre: jax.Array) -> jax.Array:
        """Hard spike-count logits after replacing site `site`'s pre-activation."""
        batch = cache["inp/l0"].shape[0]
        if site == "l0":
            _, pre = self._layer1(params, self._lif_const(pre, "hard"), "hard")
        return self._counts(pre, batch, "hard") * self.logit_scale

    def resume_column(self, site: str, params: Params, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Hard logits when only unit `j` of site `site` changes its current to `col`.

        A hidden unit's new spike train (closed form) changes the output currents by a rank-one term; an output
        unit's new current changes only its own spike count.
        """
        batch = cache["inp/l0"].shape[0]
        if site == "l1":
            count = self._lif_seq(col.reshape(self.steps, batch), "hard").sum(0)
            return cache["logits"].at[:, j].set(count * self.logit_scale)
        change = self._lif_const(col, "hard") - self._lif_const(cache["pre/l0"][:, j], "hard")  # (T, B)
        pre1 = cache["pre/l1"] + change.reshape(-1)[:, None] * params["w1"][j][None, :]
        return self._counts(pre1, batch, "hard") * self.logit_scale

    row_sparse_sites = ("l0",)

    def changed_rows(self, site: str, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Rows (bool, (rows,)) whose hidden unit `j` changes its spike train (its period) with input current `col`."""
        c = self.first_spike_currents().astype(col.dtype)
        return jnp.sum(col[:, None] < c, axis=-1) != jnp.sum(cache["pre/l0"][:, j][:, None] < c, axis=-1)

    def take_rows(self, cache: dict, rows: jax.Array) -> dict:
        """The cache of the sub-batch `rows` (the output layer's entries are time-major, T * rows)."""
        batch = cache["inp/l0"].shape[0]
        out = {key: cache[key][rows] for key in ("inp/l0", "pre/l0", "logits")}
        for key in ("inp/l1", "pre/l1"):
            out[key] = cache[key].reshape(self.steps, batch, -1)[:, rows].reshape(self.steps * rows.shape[0], -1)
        return out

    def decisions(self, params: Params, x: jax.Array) -> dict:
        """Hidden and output spike counts of the hard model."""
        pre0 = x @ params["w0"] + params["b0"]
        spikes0 = self._lif_const(pre0, "hard")
        _, pre1 = self._layer1(params, spikes0, "hard")
        return {"hidden_counts": spikes0.sum(0), "output_counts": self._counts(pre1, x.shape[0], "hard")}


# ------------------------------------------------------------------------------------ argmax attention
@dataclass(frozen=True)
class ArgmaxAttention:
    """n_in-hidden, argmax over `slots` learned keys picks a gate vector that gates a hidden-hidden map, -C.

    h = relu(x W0 + b0); slot = argmax(h K); out = relu(h W1 + b1) * G[slot]; logits = out W2 + b2.
    Smooth: softmax(h K / temperature) mixes the gate vectors.
    """

    n_in: int
    n_classes: int
    hidden: int = 128
    slots: int = 8
    temperature: float = 1.0

    sites = (Site("l0", "w0", "b0"), Site("keys", "keys"), Site("l1", "w1", "b1"), Site("gate", "gates"),
             Site("l2", "w2", "b2"))

    def init(self, key: jax.Array) -> Params:
        """He weights, Gaussian keys, gate vectors uniform in [0.5, 1.5]."""
        k = jax.random.split(key, 5)
        return {
            "w0": _dense(k[0], self.n_in, self.hidden), "b0": jnp.zeros((self.hidden,), jnp.float32),
            "keys": _dense(k[1], self.hidden, self.slots, 1.0),
            "w1": _dense(k[2], self.hidden, self.hidden), "b1": jnp.zeros((self.hidden,), jnp.float32),
            "gates": jax.random.uniform(k[3], (self.slots, self.hidden), jnp.float32, 0.5, 1.5),
            "w2": _dense(k[4], self.hidden, self.n_classes), "b2": jnp.zeros((self.n_classes,), jnp.float32),
        }

    def _forward(self, params: Params, x: jax.Array, mode: str, record: dict | None = None) -> jax.Array:
        rec = {} if record is None else record
        rec["inp/l0"] = x
        rec["pre/l0"] = x @ params["w0"] + params["b0"]
        h = jax.nn.relu(rec["pre/l0"])
        rec["inp/keys"] = rec["inp/l1"] = h
        rec["pre/keys"] = h @ params["keys"]
        rec["inp/gate"] = select(rec["pre/keys"], mode, self.temperature)
        rec["pre/gate"] = rec["inp/gate"] @ params["gates"]
        rec["pre/l1"] = h @ params["w1"] + params["b1"]
        rec["inp/l2"] = jax.nn.relu(rec["pre/l1"]) * rec["pre/gate"]
        rec["pre/l2"] = rec["logits"] = rec["inp/l2"] @ params["w2"] + params["b2"]
        return rec["logits"]

    def apply(self, params: Params, x: jax.Array, mode: str = "hard") -> jax.Array:
        """Logits (batch, n_classes)."""
        _check_mode(mode)
        return self._forward(params, x, mode)

    def cache(self, params: Params, x: jax.Array) -> dict:
        """Hard forward recording every site's input and pre-activation."""
        record = {}
        self._forward(params, x, "hard", record)
        return record

    def resume(self, site: str, params: Params, cache: dict, pre: jax.Array) -> jax.Array:
        """Hard logits after replacing site `site`'s pre-activation."""
        if site == "l0":
            return self._from_h(params, jax.nn.relu(pre))
        if site == "l2":
            return pre
        gate, z = cache["pre/gate"], cache["pre/l1"]
        if site == "keys":
            gate = select(pre, "hard") @ params["gates"]
        elif site == "gate":
            gate = pre
        elif site == "l1":
            z = pre
        return (jax.nn.relu(z) * gate) @ params["w2"] + params["b2"]

    def resume_column(self, site: str, params: Params, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Hard logits when only unit `j` of site `site` changes, to pre-activation `col` (rows,).

        A hidden unit of h changes the key scores and the gated map's input by rank-one terms; one column of
        the gated output changes the logits by a rank-one term.
        """
        out = lambda gate, z: (jax.nn.relu(z) * gate) @ params["w2"] + params["b2"]
        if site == "l2":
            return cache["logits"].at[:, j].set(col)
        if site in ("l1", "gate"):
            if site == "l1":
                z_j = jax.nn.relu(col) * cache["pre/gate"][:, j]
            else:
                z_j = jax.nn.relu(cache["pre/l1"][:, j]) * col
            return cache["logits"] + (z_j - cache["inp/l2"][:, j])[:, None] * params["w2"][j][None, :]
        if site == "keys":
            gate = select(cache["pre/keys"].at[:, j].set(col), "hard") @ params["gates"]
            return out(gate, cache["pre/l1"])
        change = jax.nn.relu(col) - jax.nn.relu(cache["pre/l0"][:, j])  # site l0: hidden unit j
        keys = cache["pre/keys"] + change[:, None] * params["keys"][j][None, :]
        z = cache["pre/l1"] + change[:, None] * params["w1"][j][None, :]
        return out(select(keys, "hard") @ params["gates"], z)

    def _from_h(self, params: Params, h: jax.Array) -> jax.Array:
        gate = select(h @ params["keys"], "hard") @ params["gates"]
        return (jax.nn.relu(h @ params["w1"] + params["b1"]) * gate) @ params["w2"] + params["b2"]

    def decisions(self, params: Params, x: jax.Array) -> dict:
        """The chosen slot of every input."""
        rec = self.cache(params, x)
        return {"slot": jnp.argmax(rec["pre/keys"], axis=-1)}


# ---------------------------------------------------------------------------------- hard top-1 MoE
def _live_flips(a: jax.Array, w: jax.Array, c_hi: jax.Array, c_lo: jax.Array) -> jax.Array:
    """Mask of the entries of relu(a + c w) (rows, d) whose sign flips for some per-row c in [c_lo, c_hi] (rows,)."""
    pos, grows = a > 0, w > 0
    cross = -a / jnp.where(w == 0, 1.0, w)  # the c at which entry k crosses zero
    up = (w != 0) & (pos != grows) & (cross < c_hi[:, None])  # flips for some c in (0, c_hi]
    down = (w != 0) & (pos == grows) & (cross > c_lo[:, None])  # flips for some c in [c_lo, 0)
    return (up | down).astype(a.dtype)


def _flip_part(a: jax.Array, w: jax.Array, live: jax.Array, c: jax.Array) -> jax.Array:
    """relu(a + c w) - relu(a) - c w [a > 0] on gathered entries (rows, slots): zero unless the sign flipped."""
    cw = c[:, None] * w
    return (jax.nn.relu(a + cw) - jax.nn.relu(a) - jnp.where(a > 0, cw, 0.0)) * live


@dataclass(frozen=True)
class HardMoE:
    """n_in-hidden, argmax gate over `experts` experts (hidden-hidden-hidden MLPs), -C.

    h = relu(x W0 + b0); e = argmax(h Wg + bg); y = expert_e(h); logits = y W2 + b2. Smooth: softmax mixture.
    """

    n_in: int
    n_classes: int
    hidden: int = 128
    experts: int = 4
    temperature: float = 1.0

    @property
    def sites(self) -> tuple[Site, ...]:
        out = [Site("l0", "w0", "b0"), Site("gate", "wg", "bg")]
        for e in range(self.experts):
            out += [Site(f"e{e}a", f"e{e}_wa", f"e{e}_ba"), Site(f"e{e}b", f"e{e}_wb", f"e{e}_bb")]
        return (*out, Site("l2", "w2", "b2"))

    def init(self, key: jax.Array) -> Params:
        """He weights, zero biases, Gaussian gate."""
        k = jax.random.split(key, 3 + 2 * self.experts)
        h = self.hidden
        params = {
            "w0": _dense(k[0], self.n_in, h), "b0": jnp.zeros((h,), jnp.float32),
            "wg": _dense(k[1], h, self.experts, 1.0), "bg": jnp.zeros((self.experts,), jnp.float32),
            "w2": _dense(k[2], h, self.n_classes), "b2": jnp.zeros((self.n_classes,), jnp.float32),
        }
        for e in range(self.experts):
            params[f"e{e}_wa"] = _dense(k[3 + 2 * e], h, h)
            params[f"e{e}_ba"] = jnp.zeros((h,), jnp.float32)
            params[f"e{e}_wb"] = _dense(k[4 + 2 * e], h, h)
            params[f"e{e}_bb"] = jnp.zeros((h,), jnp.float32)
        return params

    def _experts(self, params: Params, h: jax.Array, rec: dict) -> jax.Array:
        ys = []
        for e in range(self.experts):
            rec[f"inp/e{e}a"] = h
            rec[f"pre/e{e}a"] = h @ params[f"e{e}_wa"] + params[f"e{e}_ba"]
            rec[f"inp/e{e}b"] = jax.nn.relu(rec[f"pre/e{e}a"])
            rec[f"pre/e{e}b"] = rec[f"inp/e{e}b"] @ params[f"e{e}_wb"] + params[f"e{e}_bb"]
            ys.append(jax.nn.relu(rec[f"pre/e{e}b"]))
        return jnp.stack(ys, 1)  # (B, E, H)

    def _forward(self, params: Params, x: jax.Array, mode: str, rec: dict) -> jax.Array:
        rec["inp/l0"] = x
        rec["pre/l0"] = x @ params["w0"] + params["b0"]
        h = jax.nn.relu(rec["pre/l0"])
        rec["inp/gate"] = h
        rec["pre/gate"] = h @ params["wg"] + params["bg"]
        rec["route"] = select(rec["pre/gate"], mode, self.temperature)
        rec["ys"] = self._experts(params, h, rec)
        rec["inp/l2"] = jnp.einsum("be,beh->bh", rec["route"], rec["ys"])
        rec["pre/l2"] = rec["logits"] = rec["inp/l2"] @ params["w2"] + params["b2"]
        return rec["logits"]

    def apply(self, params: Params, x: jax.Array, mode: str = "hard") -> jax.Array:
        """Logits (batch, n_classes)."""
        _check_mode(mode)
        return self._forward(params, x, mode, {})

    def expert_load(self, params: Params, x: jax.Array) -> jax.Array:
        """Share of the rows of `x` the hard gate sends to each expert (experts,): a collapsed gate puts 1 on one."""
        return jnp.bincount(self.decisions(params, x)["expert"], length=self.experts) / x.shape[0]

    def cache(self, params: Params, x: jax.Array) -> dict:
        """Hard forward recording every site's input and pre-activation, routes and expert outputs."""
        rec = {}
        self._forward(params, x, "hard", rec)
        return rec

    def resume(self, site: str, params: Params, cache: dict, pre: jax.Array) -> jax.Array:
        """Hard logits after replacing site `site`'s pre-activation (experts recomputed only where needed)."""
        out = lambda y: y @ params["w2"] + params["b2"]
        if site == "l2":
            return pre
        if site == "l0":
            return self._forward_from_h(params, jax.nn.relu(pre))
        if site == "gate":
            route = select(pre, "hard")
            return out(jnp.einsum("be,beh->bh", route, cache["ys"]))
        e, part = int(site[1:-1]), site[-1]
        if part == "a":
            pre = jax.nn.relu(pre) @ params[f"e{e}_wb"] + params[f"e{e}_bb"]
        y = jax.nn.relu(pre)
        chosen = cache["route"][:, e:e + 1] > 0
        return out(jnp.where(chosen, y, cache["inp/l2"]))

    def resume_column(self, site: str, params: Params, cache: dict, j: jax.Array, col: jax.Array) -> jax.Array:
        """Hard logits when only unit `j` of site `site` changes, to pre-activation `col` (rows,).

        Inside an expert one unit changes the expert's next pre-activation (or its output) by a rank-one
        term, on the rows routed to it. A hidden unit of h changes the gate scores and every expert's first
        pre-activation by rank-one terms; each expert's second layer then runs once, and a row keeps its cached
        output unless its unit changed or its route did (per-expert masks).
        """
        out = lambda y: y @ params["w2"] + params["b2"]
        if site == "l2":
            return cache["logits"].at[:, j].set(col)
        if site == "gate":
            return out(jnp.einsum("be,beh->bh", select(cache["pre/gate"].at[:, j].set(col), "hard"), cache["ys"]))
        if site == "l0" or site.endswith("a"):  # the trunk or an expert's first layer: a block of one unit
            return self.resume_bias_block(site, params, cache, jnp.reshape(j, (1,)), col[:, None])
        chosen = cache["route"][:, int(site[1:-1])] > 0  # an expert's second layer: its output unit j
        old = cache["inp/l2"][:, j]
        new = jnp.where(chosen, jax.nn.relu(col), old)
        return cache["logits"] + (new - old)[:, None] * params["w2"][j][None, :]

    # Trunk moves scored per unit: the candidates of a step that move hidden unit j share the work that does not
    # depend on the move. Unit j's change c (rows,) enters each row's expert as relu(a + c w) - relu(a) =
    # c w [a > 0] + (the few entries whose sign flips); the first term reaches the expert's second layer as
    # c * ([a > 0] w) @ wb (precomputed for every unit at once, each row through its own expert), the flips are
    # gathered per row (up to `slots` per row), and rows whose expert changes (up to `rerouted` per candidate)
    # are recomputed. A unit picks the smallest capacity tier that holds its group's flips and re-routes, else
    # `resume_column` (a real branch): exact.
    UNIT_TIERS: ClassVar[tuple[tuple[int, int], ...]] = ((8, 4), (16, 16), (32, 48))  # (slots, rerouted)

    # An expert's first-layer unit j, changed by c on the rows routed to that expert, moves the expert's output by
    # relu(b + c wb[j]) - relu(b) = c [b > 0] wb[j] + (the few entries whose sign flips): the logits change by
    # c * ([b > 0] wb[j]) @ w2, computed once per unit, plus the gathered flips (up to `slots` per row) @ w2.
    EXPERT_TIERS: ClassVar[tuple[int, ...]] = (8, 32)  # slots

    @property
    def unit_group_sites(self) -> tuple[str, ...]:
        """Sites whose one-unit moves `resume_unit_group` scores together: the trunk and the experts' first
        layers."""
        return ("l0", *(f"e{e}a" for e in range(self.experts)))

    def unit_group_shared(self, site: str, params: Params, cache: dict) -> dict:
        """Move-independent arrays used by every unit group of `site` in one evaluation (computed once)."""
        if site != "l0":
            e = int(site[1:-1])
            return {"chosen": cache["route"][:, e] > 0, "pre_b": cache[f"pre/e{e}b"]}
        expert = jnp.argmax(cache["route"], axis=-1)
        rows = jnp.arange(expert.shape[0])
        stack = lambda key: jnp.stack([params[key.format(e)] for e in range(self.experts)])
        all_a = jnp.stack([cache[f"pre/e{e}a"] for e in range(self.experts)])  # (E, rows, H)
        all_b = jnp.stack([cache[f"pre/e{e}b"] for e in range(self.experts)])
        wa, wb, pre_a = stack("e{}_wa"), stack("e{}_wb"), all_a[expert, rows]
        # linear[r, j] = ([pre_a > 0] wa[j]) @ wb of row r's expert: pre_b per unit change of trunk unit j
        masked_wb = jnp.where(pre_a[:, :, None] > 0, wb[expert], 0.0)  # (rows, H, H)
        return {"expert": expert, "all_a": all_a, "pre_a": pre_a, "pre_b": all_b[expert, rows], "wa": wa, "wb": wb,
                "bb": stack("e{}_bb"), "linear": jnp.einsum("rjk,rkh->rjh", wa[expert], masked_wb)}

    def unit_group_batch(self, site: str) -> int:
        """Units of `site` that `resume_unit_group` takes at once (they share one capacity tier): 8 inside an
        expert (few flips, small groups), 1 in the trunk."""
        return 1 if site == "l0" else 8

    def resume_unit_group(self, site: str, params: Params, cache: dict, shared: dict, js: jax.Array,
                          cols: jax.Array) -> jax.Array:
        """Hard logits (u, g, rows, C) of u groups of g candidates, group i moving unit `js[i]` of `site` (the trunk
        or an expert's first layer) to pre-activations `cols[i]` (g, rows): `resume_column` of each, with the
        move-independent work done once per group."""
        dense = lambda: jax.vmap(lambda j, cs: jax.vmap(lambda col: self.resume_column(site, params, cache, j, col))(
            cs))(js, cols)
        if site != "l0":
            group = jax.vmap(lambda j, cs: self._expert_group(params, cache, shared, site, j, cs))(js, cols)
            branches = [lambda slots=slots: jax.vmap(lambda g: self._expert_logits(params, cache, g, slots))(group)
                        for slots in self.EXPERT_TIERS]
            flips = jnp.max(group["flips"])
            tier = jnp.argmax(jnp.array([*(flips <= slots for slots in self.EXPERT_TIERS), True]))
            return jax.lax.switch(tier, [*branches, dense])
        group = jax.vmap(lambda j, cs: self._trunk_group(params, cache, shared, j, cs))(js, cols)
        flips, rerouted = jnp.max(group["flips"]), jnp.max(group["rerouted"])
        fits = [(flips <= slots) & (rerouted <= n) for slots, n in self.UNIT_TIERS]
        branches = [lambda caps=caps: jax.vmap(lambda j, g: self._trunk_logits(params, shared, j, g, *caps))(js, group)
                    for caps in self.UNIT_TIERS]
        return jax.lax.switch(jnp.argmax(jnp.array([*fits, True])), [*branches, dense])

    def _expert_group(self, params: Params, cache: dict, shared: dict, site: str, j: jax.Array,
                      cols: jax.Array) -> dict:
        """What the candidates moving unit j of an expert's first layer share: their changes c (g, rows), zero off
        the expert's rows, the unit's outgoing weights, the logits per unit of c, and the live flip entries."""
        e = int(site[1:-1])
        c = jnp.where(shared["chosen"], jax.nn.relu(cols) - jax.nn.relu(cache[f"pre/{site}"][:, j]), 0.0)
        b, w = shared["pre_b"], params[f"e{e}_wb"][j]  # (rows, H), (H,)
        live = _live_flips(b, jnp.broadcast_to(w, b.shape), jnp.max(c, 0), jnp.min(c, 0))
        return {"c": c, "b": b, "w": w, "live": live, "flips": jnp.max(jnp.sum(live, axis=-1)),
                "linear": jnp.where(b > 0, w, 0.0) @ params["w2"]}  # (rows, C): logits per unit of c

    def _expert_logits(self, params: Params, cache: dict, group: dict, slots: int) -> jax.Array:
        """Logits (g, rows, C) of an expert unit group from its shared work, gathering `slots` flip entries per
        row (exact when every row's live entries fit)."""
        b = group["b"]
        index = jax.lax.top_k(group["live"], min(slots, b.shape[1]))[1]  # every live entry of a row, if <= slots
        live = jnp.take_along_axis(group["live"], index, -1)
        b_s, w_s, w2_s = jnp.take_along_axis(b, index, -1), group["w"][index], params["w2"][index]  # w2_s (r, s, C)

        def one(ci):
            flips = _flip_part(b_s, w_s, live, ci)
            return cache["logits"] + ci[:, None] * group["linear"] + jnp.einsum("rs,rsc->rc", flips, w2_s)

        return jax.vmap(one)(group["c"])

    def _trunk_group(self, params: Params, cache: dict, shared: dict, j: jax.Array, cols: jax.Array) -> dict:
        """Everything the candidates moving trunk unit j share: their changes c (g, rows), new experts, the
        move-independent linear term, live flip entries, and the group's flips per row / re-routed rows."""
        expert, a = shared["expert"], shared["pre_a"]
        c = jax.nn.relu(cols) - jax.nn.relu(cache["pre/l0"][:, j])  # (g, rows)
        w = shared["wa"][expert, j]  # (rows, H): each row's expert's outgoing weights of unit j
        live = _live_flips(a, w, jnp.max(c, 0), jnp.min(c, 0))
        new_expert = jnp.argmax(cache["pre/gate"][None] + c[:, :, None] * params["wg"][j], axis=-1)  # (g, rows)
        return {"c": c, "w": w, "live": live, "new_expert": new_expert, "linear": shared["linear"][:, j],
                "flips": jnp.max(jnp.sum(live, axis=-1)), "rerouted": jnp.max(jnp.sum(new_expert != expert, -1))}

    def _trunk_logits(self, params: Params, shared: dict, j: jax.Array, group: dict, slots: int,
                      rerouted: int) -> jax.Array:
        """Logits (g, rows, C) of a trunk unit group from its shared work, gathering `slots` flip entries per row
        and recomputing `rerouted` rows per candidate (exact when the group fits those capacities)."""
        expert, a = shared["expert"], shared["pre_a"]
        n_rows, width = a.shape
        index = jax.lax.top_k(group["live"], min(slots, width))[1]  # every live entry of a row, if <= slots
        live = jnp.take_along_axis(group["live"], index, -1)
        a_s, w_s = jnp.take_along_axis(a, index, -1), jnp.take_along_axis(group["w"], index, -1)
        wb_s = shared["wb"].reshape(-1, width)[expert[:, None] * width + index]  # (rows, slots, H)

        def one(ci, new_i):
            flips = _flip_part(a_s, w_s, live, ci)
            y = jax.nn.relu(shared["pre_b"] + ci[:, None] * group["linear"] + jnp.einsum("rs,rsh->rh", flips, wb_s))
            rows = jnp.nonzero(new_i != expert, size=rerouted, fill_value=n_rows)[0]
            y = y.at[rows].set(self._rerouted_rows(shared, j, rows, ci, new_i), mode="drop")
            return y @ params["w2"] + params["b2"]

        return jax.vmap(one)(group["c"], group["new_expert"])

    def _rerouted_rows(self, shared: dict, j: jax.Array, rows: jax.Array, c: jax.Array,
                       new_expert: jax.Array) -> jax.Array:
        """Expert outputs (K, H) of rows `rows` (indices past the end are padding) after trunk unit j changes by
        c, through their new experts `new_expert` (computed for every expert, then selected)."""
        r = jnp.minimum(rows, c.shape[0] - 1)
        pre_a = shared["all_a"][:, r] + c[r][None, :, None] * shared["wa"][:, j][:, None, :]  # (E, K, H)
        y = jax.nn.relu(jnp.einsum("ekh,ehg->ekg", jax.nn.relu(pre_a), shared["wb"]) + shared["bb"][:, None])
        return jnp.einsum("ke,ekh->kh", jax.nn.one_hot(new_expert[r], self.experts, dtype=y.dtype), y)

    @property
    def routed_sites(self) -> tuple[str, ...]:
        """Sites whose moves change only the rows routed to them: every layer of every expert."""
        return tuple(f"e{e}{part}" for e in range(self.experts) for part in "ab")

    def routed_rows(self, site: str, cache: dict) -> jax.Array:
        """Rows (bool, (rows,)) routed to the expert of `site`: the only rows a move of that site can change."""
        return cache["route"][:, int(site[1:-1])] > 0

    def take_rows(self, cache: dict, rows: jax.Array) -> dict:
        """The cache of the sub-batch `rows` (every entry is row-major)."""
        return {key: value[rows] for key, value in cache.items()}

    # A bias block moves a few units of one layer at once (all rows by the same amounts). Of an expert's first
    # layer: a rank-m update of the expert's second-layer pre-activation on its rows. Of the trunk: rank-m updates
    # of the gate scores and of every expert's first pre-activation (each expert's second layer then runs on every
    # row: trunk bias blocks flip and re-route too much for more shared work to pay).
    @property
    def bias_block_sites(self) -> tuple[str, ...]:
        """Sites whose bias-block moves `resume_bias_block` scores: the trunk and the experts' first layers."""
        return ("l0", *(f"e{e}a" for e in range(self.experts)))

    def resume_bias_block(self, site: str, params: Params, cache: dict, units: jax.Array, cols: jax.Array) -> jax.Array:
        """Hard logits when units `units` (m,) of site `site` (the trunk or an expert's first layer) change to
        pre-activation columns `cols` (rows, m) (a unit may repeat only where its column keeps its cached value)."""
        if site == "l0":
            c = jax.nn.relu(cols) - jax.nn.relu(cache["pre/l0"][:, units])  # (rows, m)
            route = select(cache["pre/gate"] + c @ params["wg"][units], "hard")
            y = jnp.zeros_like(cache["inp/l2"])
            for e in range(self.experts):
                pre_a = cache[f"pre/e{e}a"] + c @ params[f"e{e}_wa"][units]
                y = y + route[:, e:e + 1] * jax.nn.relu(jax.nn.relu(pre_a) @ params[f"e{e}_wb"] + params[f"e{e}_bb"])
            moved = jnp.any(c != 0, axis=-1) | jnp.any(route != cache["route"], axis=-1)
            return jnp.where(moved[:, None], y, cache["inp/l2"]) @ params["w2"] + params["b2"]
        e = int(site[1:-1])
        chosen = cache["route"][:, e:e + 1] > 0
        c = jnp.where(chosen, jax.nn.relu(cols) - jax.nn.relu(cache[f"pre/{site}"][:, units]), 0.0)
        pre_b = cache[f"pre/e{e}b"] + c @ params[f"e{e}_wb"][units]  # (rows, H)
        return jnp.where(chosen, jax.nn.relu(pre_b), cache["inp/l2"]) @ params["w2"] + params["b2"]

    def _forward_from_h(self, params: Params, h: jax.Array) -> jax.Array:
        route = select(h @ params["wg"] + params["bg"], "hard")
        ys = self._experts(params, h, {})
        return jnp.einsum("be,beh->bh", route, ys) @ params["w2"] + params["b2"]

    def decisions(self, params: Params, x: jax.Array) -> dict:
        """The chosen expert of every input."""
        return {"expert": jnp.argmax(self.cache(params, x)["pre/gate"], axis=-1)}


# --------------------------------------------------------------------------- hard oblique decision tree
@dataclass(frozen=True)
class ObliqueTree:
    """Oblique decision tree of `depth`: node n sends x right when x . w_n + b_n > 0; leaves hold logits.

    Smooth: soft tree (sigmoid(z / temperature) routing probabilities mix the leaf logits).
    """

    n_in: int
    n_classes: int
    depth: int = 6
    temperature: float = 1.0

    sites = (Site("nodes", "wn", "bn"), Site("leaves", "leaf_logits"))

    @property
    def n_nodes(self) -> int:
        return 2 ** self.depth - 1

    def init(self, key: jax.Array) -> Params:
        """Gaussian hyperplanes through the data mean region, small random leaf logits."""
        k0, k1 = jax.random.split(key)
        return {
            "wn": _dense(k0, self.n_in, self.n_nodes, 1.0), "bn": jnp.zeros((self.n_nodes,), jnp.float32),
            "leaf_logits": 0.1 * jax.random.normal(k1, (2 ** self.depth, self.n_classes), jnp.float32),
        }

    def path_tables(self):
        """(node index, direction +1 right / -1 left) of every leaf at every depth, shapes (leaves, depth)."""
        import numpy as np

        n_leaves = 2 ** self.depth
        nodes = np.zeros((n_leaves, self.depth), np.int32)
        dirs = np.zeros((n_leaves, self.depth), np.float32)
        for leaf in range(n_leaves):
            node = 0
            for d in range(self.depth):
                right = (leaf >> (self.depth - 1 - d)) & 1
                nodes[leaf, d], dirs[leaf, d] = node, 1.0 if right else -1.0
                node = 2 * node + 1 + right
        return nodes, dirs

    def route(self, z: jax.Array, mode: str) -> jax.Array:
        """Leaf membership (B, leaves): one-hot reached leaf (hard) or soft-tree probabilities."""
        nodes, dirs = self.path_tables()
        soft_r = jax.nn.sigmoid(z / self.temperature)
        hard_r = (z > 0).astype(z.dtype)
        r = {"hard": hard_r, "smooth": soft_r, "ste": _ste(hard_r, soft_r) if mode == "ste" else soft_r}[mode]
        g = r[:, nodes]  # (B, leaves, depth)
        prob = jnp.where(jnp.asarray(dirs) > 0, g, 1.0 - g)
        return jnp.prod(prob, axis=-1)

    def apply(self, params: Params, x: jax.Array, mode: str = "hard") -> jax.Array:
        """Logits (batch, n_classes) of the reached leaf (hard) or the leaf mixture (smooth)."""
        _check_mode(mode)
        return self.route(x @ params["wn"] + params["bn"], mode) @ params["leaf_logits"]

    def cache(self, params: Params, x: jax.Array) -> dict:
        """Node pre-activations and leaf memberships of the hard forward."""
        z = x @ params["wn"] + params["bn"]
        member = self.route(z, "hard")
        return {"inp/nodes": x, "pre/nodes": z, "inp/leaves": member,
                "pre/leaves": member @ params["leaf_logits"], "logits": member @ params["leaf_logits"]}

    def resume(self, site: str, params: Params, cache: dict, pre: jax.Array) -> jax.Array:
        """Hard logits after replacing site `site`'s pre-activation."""
        if site == "nodes":
            return self.route(pre, "hard") @ params["leaf_logits"]
        return pre

    def decisions(self, params: Params, x: jax.Array) -> dict:
        """The reached leaf of every input."""
        return {"leaf": jnp.argmax(self.cache(params, x)["inp/leaves"], axis=-1)}


TASKS = ("snn", "int8", "argmax", "staircase", "moe", "tree", "mlp")


def make_model(task: str, n_in: int, n_classes: int, **options):
    """The model of `task` at the published size (784-128-... on MNIST); `options` override its fields."""
    if task == "snn":
        return SpikingMLP(n_in, n_classes, **options)
    if task == "int8":
        return ChainMLP(n_in, n_classes, **{"hidden": (128, 128), "int8_layers": (1,), **options})
    if task == "staircase":
        return ChainMLP(n_in, n_classes, **{"hidden": (128, 128), "activation": "staircase", **options})
    if task == "mlp":
        return ChainMLP(n_in, n_classes, **{"hidden": (128,), **options})
    if task == "argmax":
        return ArgmaxAttention(n_in, n_classes, **options)
    if task == "moe":
        return HardMoE(n_in, n_classes, **options)
    if task == "tree":
        return ObliqueTree(n_in, n_classes, **options)
    raise ValueError(f"task: unknown {task!r}; allowed: {', '.join(TASKS)}")


def loss_fn(model, params: Params, x: jax.Array, y: jax.Array, mode: str = "hard") -> jax.Array:
    """Mean cross-entropy of `model` in `mode` on the batch (x, y)."""
    return cross_entropy(model.apply(params, x, mode), y)
