"""Structured candidate evaluation equals the naive full forward pass (float64, so hard decisions agree)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import polystep
from polystep.subspace import to_params
from problems.nets.models import make_model
from problems.nets.structured import StructuredLoss, leaf_names, naive_losses

SMALL = {"snn": {"hidden": 16}, "int8": {"hidden": (16, 16)}, "staircase": {"hidden": (16, 16)},
         "argmax": {"hidden": 16, "slots": 4}, "moe": {"hidden": 16, "experts": 3}, "tree": {"depth": 3},
         "mlp": {"hidden": (16,)}}


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def _setup(task, subspace, particle_size=4, seed=0):
    model = make_model(task, 12, 5, **SMALL[task])
    params = model.init(jax.random.PRNGKey(seed))
    if task == "snn":
        params["b0"] = params["b0"] + 0.2
    opt = polystep.PolyStep(particle_size=particle_size, subspace=subspace, epsilon=0.1)
    state = opt.init(jax.random.PRNGKey(seed + 1), params)
    coords = 0.3 * jax.random.normal(jax.random.PRNGKey(seed + 2), state.coords.shape)
    if subspace is None:
        coords = state.coords + 0.1 * coords
    state = state._replace(coords=coords)
    blocks, state = opt.ask_blocks(jax.random.PRNGKey(seed + 3), state)
    f64 = lambda t: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64)
                                           if jnp.issubdtype(a.dtype, jnp.floating) else a, t)
    x = jax.random.uniform(jax.random.PRNGKey(seed + 4), (16, 12), jnp.float64)
    y = jnp.arange(16) % 5
    blocks = polystep.Blocks(blocks.index, f64(blocks.delta) * 3.0)
    return model, opt.layout(state), f64(state.space), f64(state.coords), blocks, x, y


_SLOW = pytest.mark.slow
# rank-one update paths (low rank is not the default subspace; the step test below keeps int8's in the default suite)
CASES = [pytest.param(t, "lowrank", marks=_SLOW) for t in ("int8", "snn")]
CASES += [(t, "column") for t in ("snn", "int8", "staircase")]  # one-unit moves through resume_column
CASES += [pytest.param(t, "column", marks=pytest.mark.slow) for t in ("argmax", "moe", "tree", "mlp")]
CASES += [pytest.param(t, k, marks=_SLOW) for t, k in [("tree", "lowrank"), ("int8", "dense"), ("tree", "none"),
                                                        ("argmax", "lowrank"), ("moe", "lowrank"),
                                                        ("staircase", "lowrank"), ("mlp", "lowrank"),
                                                        ("snn", "dense"), ("tree", "dense"), ("argmax", "none")]]


@pytest.mark.parametrize("task,kind", CASES)
def test_structured_equals_naive(x64, task, kind):
    sub = {"lowrank": polystep.LowRankSubspace(2), "dense": polystep.DenseSubspace(1), "none": None,
           "column": polystep.ColumnSubspace(4)}[kind]
    model, layout, space, coords, blocks, x, y = _setup(task, sub)
    ev = StructuredLoss(model, layout, x, y, chunk_floats=1 << 12)  # several chunks per leaf
    fast = np.asarray(ev.block_losses(space, coords, blocks))
    assert fast.shape == blocks.index.shape
    # the naive reference on a sample that covers every leaf (first and last block of each)
    first = {}
    for n, leaf in enumerate(np.asarray(layout.block_leaf)[np.asarray(blocks.index)]):
        first.setdefault(int(leaf), []).append(n)
    pick = np.unique(np.concatenate([[v[0], v[-1]] for v in first.values()] +
                                    [np.random.default_rng(0).choice(len(fast), 24, replace=False)]))
    sample = polystep.Blocks(blocks.index[pick], blocks.delta[pick])
    slow = np.asarray(naive_losses(model, layout, space, coords, sample, x, y))
    assert np.ptp(slow) > 1e-3  # the moves do change the loss, so the comparison means something
    np.testing.assert_allclose(fast[pick], slow, rtol=1e-6, atol=1e-6)


def test_partial_candidate_sets_take_the_per_candidate_path(x64):
    model, layout, space, coords, blocks, x, y = _setup("int8", polystep.LowRankSubspace(2))
    ev = StructuredLoss(model, layout, x, y)
    pick = np.random.default_rng(0).choice(blocks.index.shape[0], 37, replace=False)
    part = polystep.Blocks(blocks.index[pick], blocks.delta[pick])
    full = np.asarray(ev.block_losses(space, coords, blocks))
    np.testing.assert_allclose(np.asarray(ev.block_losses(space, coords, part)), full[pick], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(float(ev(model.init(jax.random.PRNGKey(0)))) > 0, True)


def test_polystep_step_with_structured_loss_matches_plain_loss():
    model = make_model("int8", 12, 5, **SMALL["int8"])
    params = model.init(jax.random.PRNGKey(0))
    opt = polystep.PolyStep(particle_size=4, subspace=polystep.LowRankSubspace(2), epsilon=0.05)
    state = opt.init(jax.random.PRNGKey(1), params)
    x = jax.random.uniform(jax.random.PRNGKey(2), (32, 12))
    y = jnp.arange(32) % 5
    layout = opt.layout(state)
    fast = jax.jit(lambda k, s: opt.step(k, s, StructuredLoss(model, layout, x, y)))
    plain = jax.jit(lambda k, s: opt.step(k, s, StructuredLoss(model, layout, x, y).__call__))
    a, b = fast(jax.random.PRNGKey(3), state), plain(jax.random.PRNGKey(3), state)
    np.testing.assert_allclose(np.asarray(a.coords), np.asarray(b.coords), atol=1e-4)
    assert float(jnp.abs(a.coords).sum()) > 0


@pytest.mark.parametrize("subspace,particle_size,message", [
    (polystep.LowRankSubspace(1), 8, "particle_size"),  # int8 low-rank: blocks wider than the matrix
    (polystep.ColumnSubspace(3), 4, "particle_size: 4 must divide the column rank 3"),
])
def test_structured_loss_rejects_blocks_it_cannot_score(subspace, particle_size, message):
    model = make_model("int8", 12, 3, hidden=(6, 6))
    params = model.init(jax.random.PRNGKey(0))
    opt = polystep.PolyStep(particle_size=particle_size, subspace=subspace)
    state = opt.init(jax.random.PRNGKey(1), params)
    with pytest.raises(ValueError, match=message):
        StructuredLoss(model, opt.layout(state), jnp.ones((2, 12)), jnp.zeros((2,), jnp.int32))


@pytest.mark.parametrize("task", ["int8", "snn"])
def test_activity_basis_spans_the_layer_inputs_and_keeps_the_parameters(task):
    from problems.nets.basis import align_to_activity

    model = make_model(task, 12, 5, **SMALL[task])
    params = model.init(jax.random.PRNGKey(0))
    opt = polystep.PolyStep(particle_size=2, subspace=polystep.ColumnSubspace(4))
    state = opt.init(jax.random.PRNGKey(1), params)
    layout = opt.layout(state)
    coords = 0.1 * jax.random.normal(jax.random.PRNGKey(2), state.coords.shape)
    before = polystep.to_params(layout, state.space, coords)
    # inputs confined to a 3-dim subspace of the 12 features: P must lie (almost) inside it
    basis = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(3), (12, 3)))[0]
    x = jax.random.uniform(jax.random.PRNGKey(4), (32, 3)) @ basis.T
    space, zero = align_to_activity(model, layout, state.space, coords, x, jax.random.PRNGKey(5))
    after = polystep.to_params(layout, space, zero)
    for k in before:
        np.testing.assert_allclose(np.asarray(after[k]), np.asarray(before[k]), atol=1e-5)
    first = [i for i, s in enumerate(layout.leaves) if s.kind == "column" and s.d_in == 12][0]
    p = np.asarray(space.proj[first])
    np.testing.assert_allclose(p.T @ p, np.eye(4), atol=1e-4)
    inside = np.linalg.norm(np.asarray(basis).T @ p[:, :3]) ** 2  # energy of 3 columns inside span(inputs)
    assert inside > 3 * 0.99


@pytest.mark.slow
def test_moe_trunk_unit_moves_equal_the_full_forward(x64):
    """A hidden unit of the MoE trunk: rank-one gate / first-expert-layer updates with per-expert row masks
    equal the naive forward on every candidate of that leaf, including candidates that re-route rows."""
    model, layout, space, coords, blocks, x, y = _setup("moe", polystep.ColumnSubspace(4))
    leaves = np.asarray(layout.block_leaf)[np.asarray(blocks.index)]
    pick = np.flatnonzero(leaves == leaf_names(layout).index("w0"))[:24]
    assert len(pick) == 24
    sample = polystep.Blocks(blocks.index[pick], blocks.delta[pick])
    fast = np.asarray(StructuredLoss(model, layout, x, y).block_losses(space, coords, blocks))[pick]
    slow = np.asarray(naive_losses(model, layout, space, coords, sample, x, y))
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-6)
    # some of these moves change which expert a row goes to, so the re-routing path is checked too
    route = jax.jit(lambda c: model.decisions(to_params(layout, space, c), x)["expert"])
    base = np.asarray(route(coords))
    rerouted = 0
    for n in pick:
        start = int(layout.block_start[int(blocks.index[n])])
        moved = coords.at[start:start + blocks.delta.shape[-1]].add(blocks.delta[n])
        rerouted += int(np.any(np.asarray(route(moved)) != base))
    assert rerouted > 0


def test_part_of_a_step_that_skews_the_leaves_is_refused_not_misscored():
    """A candidate slice whose size is a multiple of the block count but that holds one leaf's blocks too often
    (a contiguous chunk of a step) must raise a ValueError naming chunk_size instead of scoring wrong blocks."""
    model, layout, space, coords, blocks, x, y = _setup("int8", polystep.LowRankSubspace(2))
    ev = StructuredLoss(model, layout, x, y, chunk_floats=1 << 12)
    n = layout.n_blocks
    first = polystep.Blocks(blocks.index[:n], blocks.delta[:n])  # block-major order: the first leaves only
    assert len(set(np.asarray(layout.block_leaf)[np.asarray(first.index)])) < len(set(layout.block_leaf))
    with pytest.raises(ValueError, match="chunk_size"):
        ev.block_losses(space, coords, first)
    assert ev.block_losses(space, coords, blocks).shape == blocks.index.shape  # a whole step is fine


def _moe_trunk_groups(leaf="w0"):
    """The small MoE's trunk leaf (or another column leaf), its candidates in the order of a step, and the
    evaluator's prepared state."""
    model, layout, space, coords, blocks, x, y = _setup("moe", polystep.ColumnSubspace(4))
    ev = StructuredLoss(model, layout, x, y)
    plan = ev.plans[ev.names.index(leaf)]
    sel = np.flatnonzero(np.asarray(layout.block_leaf)[np.asarray(blocks.index)] == plan.leaf)
    local = jnp.asarray(np.asarray(blocks.index)[sel] - plan.first_block)
    return model, ev, plan, ev.prepare(space, coords), local, blocks.delta[sel]


# capacity tiers (flip slots per row, re-routed rows per candidate) that split the small model's trunk units
# three ways: some fit the first, some only the second, some neither (the dense branch)
TRUNK_TEST_TIERS = ((1, 1), (2, 1))


@pytest.mark.slow  # the default suite keeps the grouped-vs-ungrouped check below
def test_moe_trunk_unit_groups_equal_one_by_one(x64):
    """Every trunk unit's shared-work logits (live flip entries gathered per row, re-routed rows recomputed)
    equal `resume_column` candidate by candidate, on units whose moves do flip entries and re-route rows; the
    units spread over every tier of TRUNK_TEST_TIERS and past them."""
    model, ev, plan, prep, local, delta = _moe_trunk_groups()
    params, cache = prep["params"], prep["cache"]
    shared = model.unit_group_shared("l0", params, cache)
    unit = np.asarray(plan.tables["col"])[np.asarray(local), 0]
    sizes = []
    for j in range(model.hidden):
        cols = jax.vmap(lambda i, d: ev._column_pre(plan, prep, i, d)[1])(local[unit == j], delta[unit == j])
        group = model._trunk_group(params, cache, shared, j, cols)
        fast = model._trunk_logits(params, shared, j, group, model.hidden, cols.shape[1])  # no capacity limit
        dense = jax.vmap(lambda col, j=j: model.resume_column("l0", params, cache, j, col))(cols)
        np.testing.assert_allclose(np.asarray(fast), np.asarray(dense), rtol=1e-12, atol=1e-12)
        sizes.append((int(group["flips"]), int(group["rerouted"])))
    assert any(f > 0 for f, _ in sizes) and any(r > 0 for _, r in sizes)  # both corrections are exercised
    tier = [next((t for t, (e, k) in enumerate(TRUNK_TEST_TIERS) if f <= e and r <= k), len(TRUNK_TEST_TIERS))
            for f, r in sizes]
    assert set(tier) == set(range(len(TRUNK_TEST_TIERS) + 1))  # units in each tier and in the dense branch
    assert any(t < len(TRUNK_TEST_TIERS) and f > 0 and r > 0 for t, (f, r) in zip(tier, sizes))  # a tier uses both


@pytest.mark.parametrize("tiers", [TRUNK_TEST_TIERS,  # units in both tiers and the dense branch
                                   pytest.param(((1, 1),), marks=pytest.mark.slow)])
def test_moe_trunk_grouped_losses_equal_ungrouped_at_any_capacity(x64, monkeypatch, tiers):
    """Grouped trunk losses equal the one-by-one path whichever capacity tier (or the dense branch) a unit takes,
    and a candidate set that does not move every unit equally often is scored one by one, correctly."""
    from problems.nets.models import HardMoE

    monkeypatch.setattr(HardMoE, "UNIT_TIERS", tiers)
    model, ev, plan, prep, local, delta = _moe_trunk_groups()
    grouped = np.asarray(ev.leaf_losses(plan, prep, local, delta))
    np.testing.assert_allclose(grouped, np.asarray(ev._chunked_losses(plan, prep, local, delta)), rtol=1e-12,
                               atol=1e-12)
    skewed = local.at[: local.shape[0] // 4].set(local[0])  # unit 0 over-represented, others missing
    np.testing.assert_allclose(np.asarray(ev.leaf_losses(plan, prep, skewed, delta)),
                               np.asarray(ev._chunked_losses(plan, prep, skewed, delta)), rtol=1e-12, atol=1e-12)


def _expert_unit_flips(model, ev, plan, prep, local, delta):
    """Per unit of an expert's first-layer leaf: (cols of its candidates, the group's live flips per row)."""
    shared = model.unit_group_shared(plan.site, prep["params"], prep["cache"])
    unit = np.asarray(plan.tables["col"])[np.asarray(local), 0]
    out = []
    for j in range(model.hidden):
        cols = jax.vmap(lambda i, d: ev._column_pre(plan, prep, i, d)[1])(local[unit == j], delta[unit == j])
        group = model._expert_group(prep["params"], prep["cache"], shared, plan.site, j, cols)
        out.append((cols, group))
    return out


def test_moe_expert_unit_groups_equal_one_by_one(x64):
    """Every first-layer unit of an expert: the shared-work logits (the linear term once per unit, flip entries
    gathered per row) equal `resume_column` candidate by candidate, on units whose moves do flip entries; rows
    routed elsewhere keep their logits."""
    model, ev, plan, prep, local, delta = _moe_trunk_groups("e0_wa")
    params, cache = prep["params"], prep["cache"]
    groups = _expert_unit_flips(model, ev, plan, prep, local, delta)
    for j, (cols, group) in enumerate(groups):
        fast = model._expert_logits(params, cache, group, model.hidden)  # no capacity limit
        dense = jax.vmap(lambda col, j=j: model.resume_column(plan.site, params, cache, j, col))(cols)
        np.testing.assert_allclose(np.asarray(fast), np.asarray(dense), rtol=1e-12, atol=1e-12)
    assert sum(int(g["flips"]) for _, g in groups) > 0  # the flip correction is exercised
    chosen = np.asarray(cache["route"][:, 0]) > 0
    assert 0 < chosen.sum() < len(chosen)  # some rows go to other experts (their logits must not move)


@pytest.mark.parametrize("batch,tiers", [(1, (0, 1)),  # per unit: units under, between and over both tiers
                                         pytest.param(8, None, marks=pytest.mark.slow)])  # default tiers, 8 at once
def test_moe_expert_grouped_losses_equal_ungrouped_at_any_capacity(x64, monkeypatch, batch, tiers):
    """Grouped expert first-layer losses equal the one-by-one path whichever flip tier (or the dense branch) a
    group of units takes; units of the small model have 0, 1 and 2 live flips per row, so with one unit at a
    time and tiers (0, 1) every branch is taken."""
    from problems.nets.models import HardMoE

    monkeypatch.setattr(HardMoE, "unit_group_batch", lambda self, site: 1 if site == "l0" else batch)
    if tiers is not None:
        monkeypatch.setattr(HardMoE, "EXPERT_TIERS", tiers)
    model, ev, plan, prep, local, delta = _moe_trunk_groups("e0_wa")
    flips = {int(g["flips"]) for _, g in _expert_unit_flips(model, ev, plan, prep, local, delta)}
    assert {0, 1, 2} <= flips
    grouped = np.asarray(ev.leaf_losses(plan, prep, local, delta))
    np.testing.assert_allclose(grouped, np.asarray(ev._chunked_losses(plan, prep, local, delta)), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("leaf", ["e0_ba", "b0"])
def test_moe_bias_blocks_equal_the_plain_resume(x64, leaf):
    """A bias block of an expert's first layer (or of the trunk) moves several of its units at once: the rank-m
    update of the expert's second layer, rows routed elsewhere untouched (of the gate and every expert's first
    layer), equals the plain resume of the whole site."""
    model, ev, plan, prep, local, delta = _moe_trunk_groups(leaf)
    assert ev._bias_block(plan) and not ev._bias_block(ev.plans[ev.names.index("bg")])
    params, cache = prep["params"], prep["cache"]
    pre = cache[f"pre/{plan.site}"]
    fast = jax.vmap(lambda i, d: ev._bias_block_logits(plan, prep, i, d))(local, delta)
    plain = jax.vmap(lambda i, d: model.resume(plan.site, params, cache, pre + ev._delta(plan, prep, i, d)))
    plain = plain(local, delta)
    np.testing.assert_allclose(np.asarray(fast), np.asarray(plain), rtol=1e-12, atol=1e-12)
    assert float(np.ptp(np.asarray(fast)[:, np.asarray(cache["route"][:, 0]) > 0])) > 1e-3  # the moves matter
    if leaf == "b0":  # some moves re-route rows
        routes = jax.vmap(lambda i, d: jnp.argmax(cache["pre/gate"] + (jax.nn.relu(pre + ev._delta(plan, prep, i, d))
                                                                      - jax.nn.relu(pre)) @ params["wg"], -1))
        assert bool(jnp.any(routes(local, delta) != jnp.argmax(cache["route"], -1)))


@pytest.mark.parametrize("leaf", ["e1_ba", "e1_wb", pytest.param("e0_wa", marks=pytest.mark.slow),
                                  pytest.param("e0_bb", marks=pytest.mark.slow)])
def test_moe_expert_moves_scored_on_their_rows_equal_every_row(x64, monkeypatch, leaf):
    """An expert's moves scored on the rows routed to it (gathered into a capacity, padded with rows routed
    elsewhere) equal scoring every row, whether the rows fit a capacity or take the all-rows branch; the moves do
    change the loss."""
    model, ev, plan, prep, local, delta = _moe_trunk_groups(leaf)
    assert plan.site in model.routed_sites
    routed = int(np.asarray(model.routed_rows(plan.site, prep["cache"])).sum())
    assert 0 < routed < len(ev.y) - 1
    every_row = np.asarray(ev._all_rows_losses(plan, prep, local, delta))
    assert np.ptp(every_row) > 1e-4
    for tiers in [((routed + 1) / len(ev.y),), ((routed - 1) / len(ev.y),)]:  # (the default tiers: tests above)
        monkeypatch.setattr(StructuredLoss, "ROUTED_TIERS", tiers)  # the rows fit the capacity tightly / do not
        np.testing.assert_allclose(np.asarray(ev.leaf_losses(plan, prep, local, delta)), every_row, rtol=1e-12,
                                   atol=1e-12)
    ev.row_sparse = False  # the switch that benchmarks use scores every row
    np.testing.assert_array_equal(np.asarray(ev.leaf_losses(plan, prep, local, delta)), every_row)


@pytest.mark.slow
def test_moe_expert_without_rows_leaves_the_loss_unchanged(x64):
    """An expert no row is routed to: its moves score the current loss (a plateau), without touching any row."""
    model, ev, plan, prep, local, delta = _moe_trunk_groups("e2_wa")
    assert not np.asarray(model.routed_rows(plan.site, prep["cache"])).any()
    current = float(ev(prep["params"]))
    np.testing.assert_allclose(np.asarray(ev.leaf_losses(plan, prep, local, delta)), current, rtol=1e-12)

@pytest.mark.parametrize("task", ["snn", "int8", "staircase"])
def test_row_sparse_losses_equal_the_dense_path_at_every_capacity(x64, monkeypatch, task):
    """Row-sparse scoring of hidden-unit moves (only the rows whose unit changes its output are rescored, in
    chunks sorted by that count) equals scoring every row, whichever row capacity or the dense branch a chunk
    takes: with chunks of two candidates and capacities between the candidates' counts of changed rows, chunks
    fall into every branch."""
    model, layout, space, coords, blocks, x, y = _setup(task, polystep.ColumnSubspace(4))
    ev = StructuredLoss(model, layout, x, y, chunk_floats=1 << 9)
    plan = ev.plans[ev.names.index("w0")]
    assert plan.site in model.row_sparse_sites
    sel = np.flatnonzero(np.asarray(layout.block_leaf)[np.asarray(blocks.index)] == plan.leaf)
    local, delta = jnp.asarray(np.asarray(blocks.index)[sel] - plan.first_block), blocks.delta[sel]
    prep = ev.prepare(space, coords)
    unit, cols = jax.vmap(lambda i, d: ev._column_pre(plan, prep, i, d))(local, delta)
    changed = jax.vmap(lambda j, col: model.changed_rows(plan.site, prep["cache"], j, col))(unit, cols)
    counts = np.asarray(changed.sum(-1))
    sizes = np.unique(counts[counts > 0])
    assert len(sizes) >= 3, np.bincount(counts)
    capacities = (sizes[0], sizes[len(sizes) // 2])  # some chunks fit the first, some the second, some neither
    monkeypatch.setattr(StructuredLoss, "ROW_TIERS", tuple(c / len(y) for c in capacities))
    sparse = np.asarray(ev.leaf_losses(plan, prep, local, delta))
    np.testing.assert_allclose(sparse, np.asarray(ev._chunked_losses(plan, prep, local, delta)), rtol=1e-12,
                               atol=1e-12)
    # a row whose unit keeps its output keeps its logits: the mask is never too small
    for n in np.flatnonzero(counts < len(y))[:8]:
        full = model.resume_column(plan.site, prep["params"], prep["cache"], unit[n], cols[n])
        same = ~np.asarray(changed[n])
        np.testing.assert_array_equal(np.asarray(full)[same], np.asarray(prep["cache"]["logits"])[same])


@pytest.mark.slow  # a benchmark smoke run; the scorings' equality is checked above
def test_bench_tuned_times_both_scorings_on_real_minibatches():
    """`bench_nets --tuned` (digits, quick-size defaults) reports positive step times for row-sparse and all-row
    scoring of a trained state."""
    from experiments.bench_nets import bench_tuned

    r = bench_tuned("staircase", "digits", None, warm=1, repeat=1)
    assert r["rank"] == 32 and r["candidates"] > 0 and r["sparse_s"] > 0 and r["dense_s"] > 0
