"""Classic-control environments in pure JAX with Gymnasium's dynamics, termination, time limit and reward.

Each environment is a frozen (hashable, jit-static) dataclass with pure methods
`reset(key) -> (state, obs)` and `step(state, action) -> (state, obs, reward, terminated, truncated)`;
batch them with `jax.vmap`. States carry the physics in the default float dtype (float32, or float64 under
`jax.enable_x64`) and the step counter; observations are float32, as Gymnasium returns them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import jax
import jax.numpy as jnp

from polystep.validate import check_int, check_real, check_str

Array = jax.Array


class EnvState(NamedTuple):
    """Physical state `physics` (float vector) and the number of steps taken so far `time` (int32)."""

    physics: Array
    time: Array


def _float_dtype():
    return jnp.zeros(()).dtype  # float32, or float64 when x64 is enabled


def _truncated(env, time: Array) -> Array:
    return time >= env.max_steps


def _check_fields(env, positive: tuple[str, ...]) -> None:
    """Validate an environment's fields: an integer `max_steps` >= 1, finite floats, `positive` ones > 0."""
    check_int(env.max_steps, "max_steps", lo=1)
    for f in fields(env):
        if f.type in ("float", float):
            lo = 0 if f.name in positive else None
            check_real(getattr(env, f.name), f.name, lo=lo, lo_open=True)


@dataclass(frozen=True)
class CartPole:
    """CartPole-v1: Euler-integrated cart-pole, +1 per step (termination step included), 500-step limit."""

    max_steps: int = 500
    name: str = "CartPole-v1"
    obs_size: int = 4
    n_actions: int = 2

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02
    x_threshold: float = 2.4
    theta_threshold: float = 12 * 2 * math.pi / 360
    reset_bound: float = 0.05

    def __post_init__(self):
        _check_fields(self, positive=("gravity", "masscart", "masspole", "length", "force_mag", "tau", "x_threshold",
                                      "theta_threshold", "reset_bound"))

    def reset(self, key: Array) -> tuple[EnvState, Array]:
        """Uniform(-0.05, 0.05) initial state."""
        physics = jax.random.uniform(key, (4,), _float_dtype(), -self.reset_bound, self.reset_bound)
        state = EnvState(physics, jnp.zeros((), jnp.int32))
        return state, self.observe(state)

    def observe(self, state: EnvState) -> Array:
        """The float32 observation (x, x_dot, theta, theta_dot)."""
        return state.physics.astype(jnp.float32)

    def step(self, state: EnvState, action: Array) -> tuple[EnvState, Array, Array, Array, Array]:
        """One Euler step of 0.02 s with force +-10 N (action 1 pushes right)."""
        x, x_dot, theta, theta_dot = state.physics
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        force = jnp.where(action == 1, self.force_mag, -self.force_mag).astype(x.dtype)
        costheta = jnp.cos(theta)
        sintheta = jnp.sin(theta)
        temp = (force + polemass_length * jnp.square(theta_dot) * sintheta) / total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * jnp.square(costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        new = EnvState(jnp.stack([x, x_dot, theta, theta_dot]), state.time + 1)
        terminated = (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold)
            | (theta > self.theta_threshold)
        )
        reward = jnp.ones((), jnp.float32)
        return new, self.observe(new), reward, terminated, _truncated(self, new.time)


@dataclass(frozen=True)
class Acrobot:
    """Acrobot-v1: two-link swing-up, 'book' dynamics, one RK4 step of 0.2 s, -1 per step until the tip
    is one link above the base (reward 0 on that step), angles wrapped to [-pi, pi], velocities bounded."""

    max_steps: int = 500
    name: str = "Acrobot-v1"
    obs_size: int = 6
    n_actions: int = 3

    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    max_vel_1: float = 4 * math.pi
    max_vel_2: float = 9 * math.pi
    reset_bound: float = 0.1

    def __post_init__(self):
        _check_fields(self, positive=("dt", "link_length_1", "link_mass_1", "link_mass_2", "link_moi", "max_vel_1",
                                      "max_vel_2", "reset_bound"))

    def reset(self, key: Array) -> tuple[EnvState, Array]:
        """Uniform(-0.1, 0.1) angles and velocities (drawn in float32, as Gymnasium does)."""
        physics = jax.random.uniform(key, (4,), jnp.float32, -self.reset_bound, self.reset_bound)
        state = EnvState(physics.astype(_float_dtype()), jnp.zeros((), jnp.int32))
        return state, self.observe(state)

    def observe(self, state: EnvState) -> Array:
        """(cos t1, sin t1, cos t2, sin t2, dt1, dt2) as float32."""
        t1, t2, d1, d2 = state.physics
        return jnp.stack([jnp.cos(t1), jnp.sin(t1), jnp.cos(t2), jnp.sin(t2), d1, d2]).astype(jnp.float32)

    def _derivatives(self, s: Array, torque: Array) -> Array:
        m1, m2 = self.link_mass_1, self.link_mass_2
        l1, lc1, lc2 = self.link_length_1, self.link_com_pos_1, self.link_com_pos_2
        i1 = i2 = self.link_moi
        g = 9.8
        theta1, theta2, dtheta1, dtheta2 = s
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
        phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - math.pi / 2)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])

    def step(self, state: EnvState, action: Array) -> tuple[EnvState, Array, Array, Array, Array]:
        """Torque action - 1 in {-1, 0, +1}; one classical RK4 step over dt."""
        y0 = state.physics
        torque = (jnp.asarray(action) - 1).astype(y0.dtype)
        dt = self.dt
        dt2 = dt / 2.0
        k1 = self._derivatives(y0, torque)
        k2 = self._derivatives(y0 + dt2 * k1, torque)
        k3 = self._derivatives(y0 + dt2 * k2, torque)
        k4 = self._derivatives(y0 + dt * k3, torque)
        ns = y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        t1 = _wrap(ns[0], -math.pi, math.pi)
        t2 = _wrap(ns[1], -math.pi, math.pi)
        v1 = jnp.clip(ns[2], -self.max_vel_1, self.max_vel_1)
        v2 = jnp.clip(ns[3], -self.max_vel_2, self.max_vel_2)
        new = EnvState(jnp.stack([t1, t2, v1, v2]), state.time + 1)
        terminated = -jnp.cos(t1) - jnp.cos(t2 + t1) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        return new, self.observe(new), reward, terminated, _truncated(self, new.time)


def _wrap(x: Array, low: float, high: float) -> Array:
    """Gymnasium's `wrap`: subtract / add the period until `low <= x <= high` (x == high is kept)."""
    period = high - low
    above = jnp.ceil((x - high) / period)
    below = jnp.ceil((low - x) / period)
    x = jnp.where(x > high, x - above * period, x)
    return jnp.where(x < low, x + below * period, x)


@dataclass(frozen=True)
class MountainCar:
    """MountainCar-v0: -1 per step until position >= 0.5, 200-step limit."""

    max_steps: int = 200
    name: str = "MountainCar-v0"
    obs_size: int = 2
    n_actions: int = 3

    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    force: float = 0.001
    gravity: float = 0.0025

    def __post_init__(self):
        _check_fields(self, positive=("max_speed", "force", "gravity"))

    def reset(self, key: Array) -> tuple[EnvState, Array]:
        """Position uniform in [-0.6, -0.4], velocity 0."""
        position = jax.random.uniform(key, (), _float_dtype(), -0.6, -0.4)
        state = EnvState(jnp.stack([position, jnp.zeros_like(position)]), jnp.zeros((), jnp.int32))
        return state, self.observe(state)

    def observe(self, state: EnvState) -> Array:
        """(position, velocity) as float32."""
        return state.physics.astype(jnp.float32)

    def step(self, state: EnvState, action: Array) -> tuple[EnvState, Array, Array, Array, Array]:
        """Push left / none / right (actions 0, 1, 2) against gravity on a cos(3x) track."""
        position, velocity = state.physics
        velocity = velocity + (jnp.asarray(action) - 1).astype(velocity.dtype) * self.force + jnp.cos(3 * position) * (
            -self.gravity
        )
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        position = jnp.clip(position + velocity, self.min_position, self.max_position)
        velocity = jnp.where((position == self.min_position) & (velocity < 0), 0.0, velocity).astype(
            position.dtype
        )
        terminated = position >= self.goal_position  # goal_velocity = 0 and velocity >= 0 here
        terminated = terminated & (velocity >= 0)
        new = EnvState(jnp.stack([position, velocity]), state.time + 1)
        reward = -jnp.ones((), jnp.float32)
        return new, self.observe(new), reward, terminated, _truncated(self, new.time)


ENVS = {"cartpole": CartPole, "acrobot": Acrobot, "mountaincar": MountainCar}
GYM_IDS = {"cartpole": "CartPole-v1", "acrobot": "Acrobot-v1", "mountaincar": "MountainCar-v0"}


def make(name: str, max_steps: int | None = None):
    """Environment by short name ('cartpole', 'acrobot', 'mountaincar') or Gymnasium id ('CartPole-v1', ...)."""
    check_str(name, "env")
    key = {v.lower(): k for k, v in GYM_IDS.items()}.get(name.lower(), name.lower())
    if key not in ENVS:
        allowed = ", ".join(list(ENVS) + list(GYM_IDS.values()))
        raise ValueError(f"env: unknown environment {name!r}; allowed: {allowed}")
    if max_steps is None:
        return ENVS[key]()
    return ENVS[key](max_steps=max_steps)
