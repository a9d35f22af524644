"""The quick preset of rl_policy_search, seed 0: the threshold stated in docs/rl.md.

At the quick budget PolyStep (with CartPole's tuned line search along its step) solves CartPole-v1 (>= 475 on
the held-out episodes) with the float, int8 and binary policies.
"""

from __future__ import annotations

import dataclasses

import pytest

from experiments import rl_policy_search as exp

SOLVED = 475.0  # mean return on the 100 held-out test episodes (CartPole-v1's "solved" level)
QUICK = exp.EXPERIMENT.make_config(quick=True)


def quick_polystep(policy: str) -> exp.RLSearchConfig:
    return dataclasses.replace(QUICK, policy=policy, optimizer="polystep")


def test_the_quick_preset_only_scales_budgets_and_picks_points():
    assert set(exp.EXPERIMENT.quick) <= {"env", "policy", "optimizer", "evaluations", "gradient_env_steps"}
    assert all(getattr(QUICK, name) is None for name in exp.SEARCH_FIELDS)  # the tuned settings stay in charge
    quick = exp.search_config(quick_polystep("binary"))
    full = exp.search_config(dataclasses.replace(quick_polystep("binary"), evaluations=exp.FULL.evaluations))
    assert dataclasses.replace(full, evaluations=quick.evaluations) == quick
    assert quick.line_search > 0


# the float policy in the default suite; the others (about 10 s each) with the slow tests
@pytest.mark.parametrize("policy", [p if p == "float" else pytest.param(p, marks=pytest.mark.slow)
                                    for p in exp.POLICIES])
def test_quick_polystep_solves_cartpole_with_every_policy(policy):
    record = exp.run(quick_polystep(policy), 0)
    assert record["final_return"] >= SOLVED, record["final_return"]
    assert record["evaluations"] <= QUICK.evaluations
