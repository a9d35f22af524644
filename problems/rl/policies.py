"""MLP policies obs -> hidden -> action logits with a tanh, int8 fake-quantized, or binary (sign) hidden layer.

Parameters are a dict pytree {'w1', 'b1', 'w2', 'b2'}. The forward pass of the int8 and binary policies is
genuinely piecewise constant; `straight_through=True` keeps the same forward values but lets gradients through
(d round / dz := 1 inside the tanh, d sign / dz := 1 on |z| <= 1) for gradient baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from polystep.validate import check_choice, check_int

Array = jax.Array
Params = dict

KINDS = ("float", "int8", "binary")
INT8_LEVELS = 127  # int8 code c in [-127, 127] stands for the activation c / 127


def int8_activation(z: Array, straight_through: bool = False) -> Array:
    """tanh(z) fake-quantized to the symmetric int8 grid {c / 127 : c = -127..127} (round to nearest)."""
    t = jnp.tanh(z)
    q = jnp.round(t * INT8_LEVELS) / INT8_LEVELS
    return t + jax.lax.stop_gradient(q - t) if straight_through else q


def sign_activation(z: Array, straight_through: bool = False) -> Array:
    """Binary activation: +1 where z >= 0, -1 elsewhere (straight-through: hard-tanh gradient)."""
    s = jnp.where(z >= 0, 1.0, -1.0).astype(z.dtype)
    if not straight_through:
        return s
    h = jnp.clip(z, -1.0, 1.0)
    return h + jax.lax.stop_gradient(s - h)


@dataclass(frozen=True)
class Policy:
    """A one-hidden-layer MLP policy; `kind` is 'float' (tanh), 'int8' (fake-quantized tanh) or 'binary'."""

    obs_size: int
    n_actions: int
    kind: str = "float"
    hidden: int = 16

    def __post_init__(self):
        check_choice(self.kind, "kind", KINDS)
        for name in ("obs_size", "n_actions", "hidden"):
            check_int(getattr(self, name), name, lo=1)

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return (self.obs_size + 1) * self.hidden + (self.hidden + 1) * self.n_actions

    def init(self, key: Array) -> Params:
        """Gaussian weights with std 1/sqrt(fan_in), zero biases."""
        k1, k2 = jax.random.split(key)
        return {
            "w1": jax.random.normal(k1, (self.obs_size, self.hidden)) / jnp.sqrt(self.obs_size),
            "b1": jnp.zeros((self.hidden,)),
            "w2": jax.random.normal(k2, (self.hidden, self.n_actions)) / jnp.sqrt(self.hidden),
            "b2": jnp.zeros((self.n_actions,)),
        }

    def hidden_activation(self, z: Array, straight_through: bool = False) -> Array:
        """The hidden nonlinearity of this policy kind."""
        if self.kind == "float":
            return jnp.tanh(z)
        if self.kind == "int8":
            return int8_activation(z, straight_through)
        return sign_activation(z, straight_through)

    def logits(self, params: Params, obs: Array, straight_through: bool = False) -> Array:
        """Action logits for one observation (or a batch, leading axes broadcast)."""
        h = self.hidden_activation(obs @ params["w1"] + params["b1"], straight_through)
        return h @ params["w2"] + params["b2"]

    def act(self, params: Params, obs: Array) -> Array:
        """Deterministic action: argmax of the logits (int32)."""
        return jnp.argmax(self.logits(params, obs), axis=-1).astype(jnp.int32)


def policy_for(env, kind: str = "float", hidden: int = 16) -> Policy:
    """The policy of `kind` sized for `env` (reads env.obs_size and env.n_actions)."""
    return Policy(obs_size=env.obs_size, n_actions=env.n_actions, kind=kind, hidden=hidden)
