"""Control environments in JAX (Gymnasium-equivalent classic control) and discrete / quantized MLP policies.

Public API: `make`, `CartPole`, `Acrobot`, `MountainCar`, `EnvState`; `Policy`, `policy_for`; rollouts
`episode`, `evaluate`, `population_fitness`, `trajectory`; forward-only `SearchConfig`,
`tuned_config` (per-env tuned settings, `ENV_DEFAULTS`), `search`; gradient baselines `PPOConfig`, `train_ppo`,
`ReinforceConfig`, `train_reinforce`.
"""

from problems.rl.envs import Acrobot, CartPole, EnvState, MountainCar, make
from problems.rl.gradient import GradientResult, PPOConfig, ReinforceConfig, train_ppo, train_reinforce
from problems.rl.policies import KINDS, Policy, policy_for
from problems.rl.rollout import Episode, episode, evaluate, population_fitness, trajectory
from problems.rl.search import ENV_DEFAULTS, OPTIMIZERS, SearchConfig, SearchResult, search, tuned_config

__all__ = [
    "ENV_DEFAULTS", "KINDS", "OPTIMIZERS", "Acrobot", "CartPole", "EnvState", "Episode", "GradientResult",
    "MountainCar", "PPOConfig", "Policy", "ReinforceConfig", "SearchConfig", "SearchResult", "episode", "evaluate",
    "make", "policy_for", "population_fitness", "search", "train_ppo", "train_reinforce", "trajectory",
    "tuned_config",
]
