"""Gradient baselines on the same policies: PPO (clipped, GAE, separate float critic) and REINFORCE, with optax.

The int8 and binary policies are trained straight-through (forward values of the hard model, surrogate
gradients: tanh for round, hard-tanh for sign); the deterministic argmax policy is what gets evaluated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from polystep.validate import check_bool, check_int, check_real, fail
from problems.rl.checkpointing import CHECKPOINT_SECONDS, LoopCheckpoint, run_fingerprint
from problems.rl.rollout import evaluate

Array = jax.Array


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters; `env_steps` is the training budget in environment steps."""

    env_steps: int = 200_000
    num_envs: int = 8
    num_steps: int = 128
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    critic_hidden: int = 64

    def __post_init__(self):
        for name in ("env_steps", "num_envs", "num_steps", "epochs", "minibatches", "critic_hidden"):
            check_int(getattr(self, name), name, lo=1)
        for name in ("lr", "clip", "max_grad_norm"):
            check_real(getattr(self, name), name, lo=0, lo_open=True)
        check_bool(self.anneal_lr, "anneal_lr")
        check_real(self.gamma, "gamma", lo=0, hi=1)
        check_real(self.gae_lambda, "gae_lambda", lo=0, hi=1)
        check_real(self.ent_coef, "ent_coef", lo=0)
        check_real(self.vf_coef, "vf_coef", lo=0)
        if (self.num_envs * self.num_steps) % self.minibatches:
            fail("minibatches", f"must divide num_envs * num_steps = {self.num_envs * self.num_steps}, "
                 f"got {self.minibatches}")
        if self.env_steps < self.num_envs * self.num_steps:
            fail("env_steps", f"must be >= num_envs * num_steps = {self.num_envs * self.num_steps}, "
                 f"got {self.env_steps}")

    @property
    def updates(self) -> int:
        """Number of rollout + optimisation rounds within the budget."""
        return self.env_steps // (self.num_envs * self.num_steps)


@dataclass(frozen=True)
class ReinforceConfig:
    """REINFORCE with a per-time-step mean baseline; `env_steps` is the budget in (padded) environment steps."""

    env_steps: int = 200_000
    num_envs: int = 16
    lr: float = 1e-2
    gamma: float = 0.99
    ent_coef: float = 0.0
    max_grad_norm: float = 1.0

    def __post_init__(self):
        for name in ("env_steps", "num_envs"):
            check_int(getattr(self, name), name, lo=1)
        for name in ("lr", "max_grad_norm"):
            check_real(getattr(self, name), name, lo=0, lo_open=True)
        check_real(self.gamma, "gamma", lo=0, hi=1)
        check_real(self.ent_coef, "ent_coef", lo=0)


class GradientResult(NamedTuple):
    """Selected params (best validation return), the curve (env steps, validation return), totals."""

    params: dict
    curve_env_steps: list
    curve_return: list
    env_steps: int
    episodes: int
    wall_s: float


# ----------------------------------------------------------------------------------------------- PPO


def _critic_init(key, obs_size, hidden):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": jax.random.normal(k1, (obs_size, hidden)) / jnp.sqrt(obs_size),
        "b1": jnp.zeros((hidden,)),
        "w2": jax.random.normal(k2, (hidden, hidden)) / jnp.sqrt(hidden),
        "b2": jnp.zeros((hidden,)),
        "w3": jax.random.normal(k3, (hidden, 1)) * 0.01,
        "b3": jnp.zeros((1,)),
    }


def _critic(params, obs):
    h = jnp.tanh(obs @ params["w1"] + params["b1"])
    h = jnp.tanh(h @ params["w2"] + params["b2"])
    return (h @ params["w3"] + params["b3"])[..., 0]


def _ppo_optimizer(cfg: PPOConfig):
    n = cfg.updates * cfg.epochs * cfg.minibatches
    lr = optax.linear_schedule(cfg.lr, 0.0, n) if cfg.anneal_lr else cfg.lr
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr, eps=1e-5))


def _auto_reset_step(env, state, action, key):
    state, obs, reward, terminated, truncated = env.step(state, action)
    done = terminated | truncated
    reset_state, reset_obs = env.reset(key)
    state = jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), reset_state, state)
    obs = jnp.where(done, reset_obs, obs)
    return state, obs, reward, done


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _ppo_updates(env, policy, cfg: PPOConfig, n_updates: int, carry):
    """`n_updates` PPO rounds (rollout, GAE, epochs of minibatch clipped updates) in one scan."""
    tx = _ppo_optimizer(cfg)

    def env_step(c, _):
        params, state, obs, key = c
        key, k_act, k_reset = jax.random.split(key, 3)
        logits = policy.logits(params["actor"], obs, straight_through=True)
        action = jax.random.categorical(k_act, logits).astype(jnp.int32)
        logp = jax.nn.log_softmax(logits)[jnp.arange(cfg.num_envs), action]
        value = _critic(params["critic"], obs)
        state, new_obs, reward, done = jax.vmap(partial(_auto_reset_step, env))(
            state, action, jax.random.split(k_reset, cfg.num_envs)
        )
        return (params, state, new_obs, key), (obs, action, logp, value, reward, done)

    def loss_fn(params, batch):
        obs, action, old_logp, adv, target = batch
        logits = policy.logits(params["actor"], obs, straight_through=True)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, action[:, None], axis=1)[:, 0]
        ratio = jnp.exp(logp - old_logp)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv).mean()
        v_loss = 0.5 * jnp.square(_critic(params["critic"], obs) - target).mean()
        entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
        return pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy

    def update(c, _):
        params, opt_state, state, obs, key = c
        (params, state, obs, key), traj = jax.lax.scan(
            env_step, (params, state, obs, key), None, length=cfg.num_steps
        )
        t_obs, t_action, t_logp, t_value, t_reward, t_done = traj
        last_value = _critic(params["critic"], obs)

        def gae(acc, x):
            gae_next, value_next = acc
            reward, done, value = x
            delta = reward + cfg.gamma * value_next * (1 - done) - value
            g = delta + cfg.gamma * cfg.gae_lambda * (1 - done) * gae_next
            return (g, value), g

        _, adv = jax.lax.scan(
            gae, (jnp.zeros_like(last_value), last_value), (t_reward, t_done.astype(jnp.float32), t_value),
            reverse=True,
        )
        target = adv + t_value
        flat = jax.tree_util.tree_map(
            lambda x: x.reshape((cfg.num_steps * cfg.num_envs,) + x.shape[2:]),
            (t_obs, t_action, t_logp, adv, target),
        )

        def epoch(c2, _):
            params, opt_state, key = c2
            key, k = jax.random.split(key)
            perm = jax.random.permutation(k, cfg.num_steps * cfg.num_envs)
            mbs = jax.tree_util.tree_map(lambda x: x[perm].reshape((cfg.minibatches, -1) + x.shape[1:]), flat)

            def minibatch(c3, mb):
                params, opt_state = c3
                grads = jax.grad(loss_fn)(params, mb)
                upd, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, upd), opt_state), None

            (params, opt_state), _ = jax.lax.scan(minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), None

        (params, opt_state, key), _ = jax.lax.scan(epoch, (params, opt_state, key), None, length=cfg.epochs)
        return (params, opt_state, state, obs, key), t_done.sum()

    carry, dones = jax.lax.scan(update, carry, None, length=n_updates)
    return carry, dones.sum()


def train_ppo(env, policy, cfg: PPOConfig, key: Array, val_keys: Array, eval_every: int = 5,
              checkpoint_dir: Path | None = None, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> GradientResult:
    """Train `policy` on `env` with PPO; every `eval_every` updates score the argmax policy on `val_keys`.

    Returns the parameters with the best validation return (ties: the later one). With `checkpoint_dir`, the
    training state is saved there every `checkpoint_seconds` and a rerun with the same arguments resumes from it.
    """
    check_int(eval_every, "eval_every", lo=1)
    t0 = time.perf_counter()
    fingerprint = run_fingerprint("ppo", env, policy, cfg, eval_every, keys=(key, val_keys))
    k_actor, k_critic, k_reset, key = jax.random.split(key, 4)
    params = {"actor": policy.init(k_actor), "critic": _critic_init(k_critic, env.obs_size, cfg.critic_hidden)}
    state, obs = jax.vmap(env.reset)(jax.random.split(k_reset, cfg.num_envs))
    carry = (params, _ppo_optimizer(cfg).init(params), state, obs, key)
    per_update = cfg.num_envs * cfg.num_steps
    saver = LoopCheckpoint(checkpoint_dir, fingerprint, checkpoint_seconds)
    restored = saver.restore({"carry": carry, "best": params["actor"]})
    if restored is None:
        done_updates, episodes, spent_s = 0, 0, 0.0
        curve_x, curve_y = [0], [float(evaluate(env, policy, params["actor"], val_keys).ret.mean())]
        best = (curve_y[0], params["actor"])
    else:
        tree, meta = restored
        carry, best = tree["carry"], (meta["best_score"], tree["best"])
        done_updates, episodes, spent_s = meta["done"], meta["episodes"], meta["wall_s"]
        curve_x, curve_y = meta["curve_x"], meta["curve_y"]
        t0 = time.perf_counter()
    while done_updates < cfg.updates:
        n = min(eval_every, cfg.updates - done_updates)
        carry, n_done = _ppo_updates(env, policy, cfg, n, carry)
        done_updates += n
        episodes += int(n_done)
        actor = carry[0]["actor"]
        val = float(evaluate(env, policy, actor, val_keys).ret.mean())
        curve_x.append(done_updates * per_update)
        curve_y.append(val)
        if val >= best[0]:
            best = (val, actor)
        saver.maybe_save({"carry": carry, "best": best[1]}, {
            "done": done_updates, "episodes": episodes, "best_score": best[0], "curve_x": curve_x,
            "curve_y": curve_y, "wall_s": spent_s + time.perf_counter() - t0,
        }, final=done_updates >= cfg.updates)
    return GradientResult(best[1], curve_x, curve_y, done_updates * per_update, episodes,
                          spent_s + time.perf_counter() - t0)


# ----------------------------------------------------------------------------------------- REINFORCE


def _reinforce_optimizer(cfg: ReinforceConfig):
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _reinforce_updates(env, policy, cfg: ReinforceConfig, n_updates: int, carry):
    """`n_updates` REINFORCE steps, each on `num_envs` full episodes (padded to max_steps, masked)."""
    tx = _reinforce_optimizer(cfg)

    def sample_episode(params, key):
        k_reset, key = jax.random.split(key)
        state, obs = env.reset(k_reset)

        def body(c, k):
            state, obs, done = c
            logits = policy.logits(params, obs, straight_through=True)
            action = jax.random.categorical(k, logits).astype(jnp.int32)
            new, new_obs, reward, terminated, truncated = env.step(state, action)
            out = (obs, action, reward * (~done), ~done)
            return (new, new_obs, done | terminated | truncated), out

        _, traj = jax.lax.scan(body, (state, obs, jnp.array(False)), jax.random.split(key, env.max_steps))
        return traj

    def loss_fn(params, obs, action, adv, mask):
        logits = policy.logits(params, obs, straight_through=True)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, action[..., None], axis=-1)[..., 0]
        entropy = -(jnp.exp(logp_all) * logp_all).sum(-1)
        return -((logp * adv + cfg.ent_coef * entropy) * mask).sum() / mask.sum()

    def update(c, _):
        params, opt_state, key = c
        key, k = jax.random.split(key)
        obs, action, reward, mask = jax.vmap(lambda kk: sample_episode(params, kk))(
            jax.random.split(k, cfg.num_envs)
        )

        def discount(acc, r):
            acc = r + cfg.gamma * acc
            return acc, acc

        _, rtg = jax.lax.scan(discount, jnp.zeros(cfg.num_envs), reward.T, reverse=True)
        rtg = rtg.T
        maskf = mask.astype(jnp.float32)
        baseline = (rtg * maskf).sum(0) / jnp.maximum(maskf.sum(0), 1.0)
        adv = (rtg - baseline) * maskf
        adv = adv / (jnp.sqrt((adv**2).sum() / maskf.sum()) + 1e-8)
        grads = jax.grad(loss_fn)(params, obs, action, adv, maskf)
        upd, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state, key), mask.sum()

    carry, steps = jax.lax.scan(update, carry, None, length=n_updates)
    return carry, steps.sum()


def train_reinforce(
    env, policy, cfg: ReinforceConfig, key: Array, val_keys: Array, eval_every: int = 5,
    checkpoint_dir: Path | None = None, checkpoint_seconds: float = CHECKPOINT_SECONDS,
) -> GradientResult:
    """Train `policy` with REINFORCE until `cfg.env_steps` real env steps; best-on-validation params.

    Checkpoints as in `train_ppo`.
    """
    check_int(eval_every, "eval_every", lo=1)
    t0 = time.perf_counter()
    fingerprint = run_fingerprint("reinforce", env, policy, cfg, eval_every, keys=(key, val_keys))
    k_init, key = jax.random.split(key)
    params = policy.init(k_init)
    carry = (params, _reinforce_optimizer(cfg).init(params), key)
    saver = LoopCheckpoint(checkpoint_dir, fingerprint, checkpoint_seconds)
    restored = saver.restore({"carry": carry, "best": params})
    if restored is None:
        steps, updates, spent_s = 0, 0, 0.0
        curve_x, curve_y = [0], [float(evaluate(env, policy, params, val_keys).ret.mean())]
        best = (curve_y[0], params)
    else:
        tree, meta = restored
        carry, best = tree["carry"], (meta["best_score"], tree["best"])
        steps, updates, spent_s = meta["steps"], meta["updates"], meta["wall_s"]
        curve_x, curve_y = meta["curve_x"], meta["curve_y"]
        t0 = time.perf_counter()
    while steps < cfg.env_steps:
        carry, n_steps = _reinforce_updates(env, policy, cfg, eval_every, carry)
        steps += int(n_steps)
        updates += eval_every
        val = float(evaluate(env, policy, carry[0], val_keys).ret.mean())
        curve_x.append(steps)
        curve_y.append(val)
        if val >= best[0]:
            best = (val, carry[0])
        saver.maybe_save({"carry": carry, "best": best[1]}, {
            "steps": steps, "updates": updates, "best_score": best[0], "curve_x": curve_x, "curve_y": curve_y,
            "wall_s": spent_s + time.perf_counter() - t0,
        }, final=steps >= cfg.env_steps)
    return GradientResult(best[1], curve_x, curve_y, steps, updates * cfg.num_envs, spent_s + time.perf_counter() - t0)

