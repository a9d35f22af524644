"""Structured candidate evaluation: score PolyStep's compact block moves without a full forward per candidate.

Per minibatch the hard forward runs once at the current parameters and caches every linear site's input
and pre-activation. A candidate moves one block of coordinates of one parameter leaf; its effect on that
leaf's site is computed as a small update of the cached pre-activation, and only the layers after the site
are recomputed (`model.resume`):
- low-rank leaf (W = base + A B, both factors live): `inp @ A` is cached, a block move changes it by a
  rank-k term and B by a few entries, so the new pre-activation costs O(rows * rank * d_out) instead of
  O(rows * d_in * d_out);
- int8 leaf: only the rows / columns of W touched by the block are re-quantized (O(rows * p * d));
- direct / full leaf (biases, small matrices): a scatter of p columns;
- dense leaf (per-layer Gaussian projection): the moved leaf's change `Q_block delta` and one matmul;
- column leaf (W = base + P Z, a block inside one output unit's coordinates): `inp @ P` is cached, the move
  changes one column of the pre-activation (O(rows * p)), and `model.resume_column` carries that single
  changed unit into the next layer as a rank-one update (int8: the unit's column is re-quantized); for the
  sites a model lists in `unit_group_sites` (the MoE trunk and experts' first layers) the candidates that move
  the same unit are scored together by `model.resume_unit_group`, which shares the work that does not depend
  on the move; for the sites a model lists in `row_sparse_sites` (hidden layers of the chain MLPs, the SNN's
  hidden layer) only the rows whose moved unit changes its output (`model.changed_rows`) are rescored, gathered
  with `model.take_rows`, and the others keep their cached cross-entropy terms;
- bias leaf of a site a model lists in `bias_block_sites` (the MoE experts' first layers): the block's few units
  change together, carried into the next layer by `model.resume_bias_block` as a rank-p update;
- any leaf of a site a model lists in `routed_sites` (the MoE experts' layers): its moves change only the rows
  routed through the site (`model.routed_rows`), so its candidates are scored on those rows alone.
The spiking model's time-invariant input current is part of the cached pre-activation of its first site.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from polystep import Blocks
from polystep.base import map_local_batches, raise_if
from polystep.subspace import Layout, SpaceState, lowrank_factors, to_params
from problems.nets.models import cross_entropy, quantize, row_cross_entropy

# Versions of the candidate-scoring arithmetic. A change that moves candidate losses at rounding level (summation
# order, which rows are rescored) gets a new version for the tasks it touches: records carry their task's, and a
# run replays bit for bit only under the same one.
# 2: row-sparse scoring of hidden-unit moves (int8, staircase, MLP, SNN); every task's version since.
# 3: the MoE's expert moves scored on the rows routed to their expert (the MoE only).
_LAST_CHANGED = {"moe": 3}  # tasks whose scoring changed after version 2


def scoring_version(task: str) -> int:
    """The scoring version that `task`'s candidate losses last changed in (what its records carry)."""
    return _LAST_CHANGED.get(task, 2)


@dataclass(frozen=True)
class _LeafPlan:
    """Static description of how block moves of one leaf change its site."""

    leaf: int
    name: str
    site: str
    role: str  # weight | bias
    kind: str  # full | direct | dense | lowrank
    quantized: bool
    first_block: int
    n_blocks: int
    tables: dict  # numpy arrays (n_blocks, p): kA, iA, validA, kB, jB, validB / i, j, valid / offset, valid


def leaf_names(layout: Layout) -> list[str]:
    """The params-dict key of every leaf of `layout`, in leaf order."""
    dummy = jax.tree_util.tree_unflatten(layout.treedef, list(range(len(layout.leaves))))
    names = [""] * len(layout.leaves)
    for key, index in dummy.items():
        names[index] = key
    return names


def _plans(model, layout: Layout, names: list[str]) -> list[_LeafPlan]:
    role_of = {}
    for site in model.sites:
        role_of[site.weight] = (site.name, "weight", site.quantized)
        if site.bias is not None:
            role_of[site.bias] = (site.name, "bias", False)
    p = layout.particle_size
    plans = []
    for index, (name, spec) in enumerate(zip(names, layout.leaves)):
        if name not in role_of:
            raise ValueError(f"params: leaf {name!r} is not used by any site of {type(model).__name__}")
        site, role, quantized = role_of[name]
        blocks = np.nonzero(layout.block_leaf == index)[0]
        starts = layout.block_start[blocks]
        off = (starts[:, None] + np.arange(p)[None, :]) - spec.offset  # (n_blocks, p) offsets in the segment
        valid = off < spec.coords
        tables: dict = {"offset": np.minimum(off, max(spec.coords - 1, 0)).astype(np.int32)}
        d_out = spec.shape[-1]
        if spec.kind == "lowrank":
            r, d_in, d_out = spec.rank, spec.d_in, spec.d_out
            is_a = off < r * d_in
            ob = np.maximum(off - r * d_in, 0)
            tables.update(
                kA=np.where(is_a, off // d_in, 0), iA=np.where(is_a, off % d_in, 0), validA=valid & is_a,
                kB=np.where(is_a, 0, ob // d_out), jB=np.where(is_a, 0, ob % d_out), validB=valid & ~is_a,
            )
            if quantized and p > min(d_in, d_out):
                raise ValueError(f"particle_size: {p} exceeds the smallest side of int8 leaf {name!r} "
                                 f"({d_in} x {d_out}); use particle_size <= {min(d_in, d_out)}")
        elif spec.kind == "column":
            if spec.rank % p:
                raise ValueError(f"particle_size: {p} must divide the column rank {spec.rank} of leaf {name!r}, "
                                 "so that every block moves one output unit")
            tables.update(col=np.where(valid, off // spec.rank, 0), kk=np.where(valid, off % spec.rank, 0))
        elif spec.kind in ("full", "direct"):
            if len(spec.shape) == 1:
                tables.update(i=np.zeros_like(off), j=np.where(valid, off, 0))
            else:
                tables.update(i=np.where(valid, off // d_out, 0), j=np.where(valid, off % d_out, 0))
        if len(spec.shape) > 2:
            raise ValueError(f"params: leaf {name!r} has {len(spec.shape)} axes; sites use 1-D or 2-D leaves")
        tables["valid"] = valid
        tables = {k: np.asarray(v, np.float32 if v.dtype == bool else np.int32) for k, v in tables.items()}
        first = int(blocks[0]) if len(blocks) else 0
        plans.append(_LeafPlan(index, name, site, role, spec.kind, quantized, first, len(blocks), tables))
    return plans


class StructuredLoss:
    """polystep BlockEvaluator for one minibatch: `block_losses` scores block moves from cached activations.

    Build it inside your jitted step (x, y may be tracers): `opt.step(key, state, StructuredLoss(model, layout,
    x, y))`. `__call__(params)` is the plain hard cross-entropy. `chunk_floats` bounds the memory of one chunk
    of candidates evaluated together (in floats); `row_sparse=False` rescores every row of hidden-unit moves (the
    same losses up to rounding; for benchmarks).
    """

    def __init__(self, model, layout: Layout, x: jax.Array, y: jax.Array, chunk_floats: int = 1 << 21,
                 row_sparse: bool = True):
        self.model, self.layout, self.x, self.y = model, layout, x, y
        self.chunk_floats = int(chunk_floats)
        self.row_sparse = bool(row_sparse)
        self.names = leaf_names(layout)
        self.plans = _plans(model, layout, self.names)

    def __call__(self, params) -> jax.Array:
        """Hard cross-entropy of `params` on the minibatch."""
        return cross_entropy(self.model.apply(params, self.x, "hard"), self.y)

    # ----------------------------------------------------------------------------------- evaluation
    def prepare(self, space: SpaceState, coords: jax.Array) -> dict:
        """Everything shared by the candidates of one step: parameters, cached activations, `inp @ A`."""
        params = to_params(self.layout, space, coords)
        cache = self.model.cache(params, self.x)
        extra = {}
        for plan in self.plans:
            spec = self.layout.leaves[plan.leaf]
            seg = jax.lax.dynamic_slice_in_dim(coords, spec.offset, spec.coords)
            if plan.kind == "lowrank":
                a_t, b = lowrank_factors(spec, space.proj[plan.leaf], seg)  # (r, d_in), (r, d_out)
                a = a_t.T
                extra[plan.name] = {"A": a, "B": b, "u": cache[f"inp/{plan.site}"] @ a}
                if plan.quantized:
                    extra[plan.name]["base"] = jax.tree_util.tree_leaves(space.base)[plan.leaf]
            elif plan.kind == "dense":
                extra[plan.name] = {"Q": space.proj[plan.leaf]}
            elif plan.kind == "column":
                proj = space.proj[plan.leaf]
                extra[plan.name] = {"P": proj, "U": cache[f"inp/{plan.site}"] @ proj}
            if plan.quantized:
                scale = self.model.int8_scale
                extra.setdefault(plan.name, {})["Wq"] = quantize(params[plan.name], scale, "hard")
        return {"params": params, "cache": cache, "extra": extra}

    def _delta(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Change of the site's pre-activation when block `local` of the leaf moves by `delta` (p,)."""
        t = {k: jnp.asarray(v)[local] for k, v in plan.tables.items()}
        spec = self.layout.leaves[plan.leaf]
        params, cache, ex = prep["params"], prep["cache"], prep["extra"].get(plan.name, {})
        inp = cache[f"inp/{plan.site}"]
        d_out = spec.shape[-1]
        dv = delta * t["valid"]
        if plan.role == "bias":
            return (dv @ jax.nn.one_hot(t["j"], d_out, dtype=delta.dtype))[None, :]
        if plan.kind in ("full", "direct"):
            w = params[plan.name]
            if plan.quantized:
                scale = self.model.int8_scale
                old = w[t["i"], t["j"]]
                dv = (quantize(old + dv, scale, "hard") - quantize(old, scale, "hard")) * t["valid"]
            return (inp[:, t["i"]] * dv) @ jax.nn.one_hot(t["j"], d_out, dtype=delta.dtype)
        if plan.kind == "dense":
            dw = (ex["Q"][:, t["offset"]] @ dv).reshape(spec.shape)
            if plan.quantized:
                scale = self.model.int8_scale
                dw = quantize(params[plan.name] + dw, scale, "hard") - ex["Wq"]
            return inp @ dw
        # low-rank: W = base + A B with A -> A + eA, B -> B + eB (both sparse, from this block only)
        r = spec.rank
        da, db = delta * t["validA"], delta * t["validB"]
        onehot_k_a = jax.nn.one_hot(t["kA"], r, dtype=delta.dtype)  # (p, r)
        onehot_k_b = jax.nn.one_hot(t["kB"], r, dtype=delta.dtype)
        onehot_j = jax.nn.one_hot(t["jB"], d_out, dtype=delta.dtype)  # (p, d_out)
        b_new = ex["B"] + onehot_k_b.T @ (db[:, None] * onehot_j)  # (r, d_out)
        if not plan.quantized:
            eu = (inp[:, t["iA"]] * da) @ onehot_k_a  # (rows, r): change of inp @ A
            return eu @ b_new + (ex["u"][:, t["kB"]] * db) @ onehot_j
        # int8: re-quantize only the rows hit through A and the columns hit through B
        scale = self.model.int8_scale
        a_new_rows = ex["A"][t["iA"]] + da[:, None] * onehot_k_a  # (p, r) rows iA of A + eA
        rows_new = ex["base"][t["iA"]] + a_new_rows @ b_new  # (p, d_out)
        dq_rows = (quantize(rows_new, scale, "hard") - ex["Wq"][t["iA"]]) * t["validA"][:, None]
        a_new = ex["A"] + jax.nn.one_hot(t["iA"], ex["A"].shape[0], dtype=delta.dtype).T @ (
            da[:, None] * onehot_k_a)  # (d_in, r)
        cols_new = ex["base"][:, t["jB"]] + a_new @ b_new[:, t["jB"]]  # (d_in, p)
        hit_rows = jnp.minimum(jax.nn.one_hot(t["iA"], ex["A"].shape[0], dtype=delta.dtype).T @ t["validA"], 1.0)
        dq_cols = (quantize(cols_new, scale, "hard") - ex["Wq"][:, t["jB"]]) * t["validB"][None, :]
        dq_cols = dq_cols * (1.0 - hit_rows)[:, None]
        return inp[:, t["iA"]] @ dq_rows + (inp @ dq_cols) @ onehot_j

    def _column_pre(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array):
        """(unit j, its new pre-activation (rows,)) when block `local` of a column leaf moves by `delta`."""
        t = {k: jnp.asarray(v)[local] for k, v in plan.tables.items()}
        params, cache, ex = prep["params"], prep["cache"], prep["extra"][plan.name]
        j, dv = t["col"][0], delta * t["valid"]
        pre = cache[f"pre/{plan.site}"]
        if plan.quantized:
            scale = self.model.int8_scale
            moved = params[plan.name][:, j] + ex["P"][:, t["kk"]] @ dv
            return j, pre[:, j] + cache[f"inp/{plan.site}"] @ (quantize(moved, scale, "hard") - ex["Wq"][:, j])
        return j, pre[:, j] + ex["U"][:, t["kk"]] @ dv

    def _column_logits(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Logits when block `local` of a column leaf moves by `delta`: one output unit of the site changes."""
        params, cache = prep["params"], prep["cache"]
        pre = cache[f"pre/{plan.site}"]
        j, col = self._column_pre(plan, prep, local, delta)
        if hasattr(self.model, "resume_column"):
            return self.model.resume_column(plan.site, params, cache, j, col)
        return self.model.resume(plan.site, params, cache, pre.at[:, j].set(col))

    def _bias_block(self, plan: _LeafPlan) -> bool:
        """Whether `plan`'s block moves go through `model.resume_bias_block` (a few units of one site at once)."""
        return (plan.role == "bias" and plan.kind in ("full", "direct")
                and plan.site in getattr(self.model, "bias_block_sites", ()))

    def _bias_block_logits(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Logits when block `local` of a bias leaf moves by `delta`: its units' new pre-activation columns."""
        t = {k: jnp.asarray(v)[local] for k, v in plan.tables.items()}
        pre = prep["cache"][f"pre/{plan.site}"]
        cols = pre[:, t["j"]] + delta * t["valid"]  # (rows, p); padding repeats a unit with its cached column
        return self.model.resume_bias_block(plan.site, prep["params"], prep["cache"], t["j"], cols)

    def _loss_one(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        if plan.kind == "column" and plan.role == "weight":
            return cross_entropy(self._column_logits(plan, prep, local, delta), self.y)
        if self._bias_block(plan):
            return cross_entropy(self._bias_block_logits(plan, prep, local, delta), self.y)
        pre = prep["cache"][f"pre/{plan.site}"] + self._delta(plan, prep, local, delta)
        logits = self.model.resume(plan.site, prep["params"], prep["cache"], pre)
        return cross_entropy(logits, self.y)

    def _chunk(self, plan: _LeafPlan, prep: dict) -> int:
        """Candidates per vectorized chunk: a column or bias-block move carries about one layer's output per
        candidate, the other kinds up to the whole cache."""
        if plan.kind == "column" or self._bias_block(plan):
            floats = max(int(np.prod(v.shape)) for k, v in prep["cache"].items() if k.startswith("pre/"))
        else:
            floats = sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(prep["cache"]))
        return max(1, self.chunk_floats // max(floats, 1))

    def leaf_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Losses of candidates that all move blocks of `plan`'s leaf (local block indices), chunked, or grouped
        by output unit where the model scores a unit's moves together (`unit_group_sites`), on the rows routed
        through the site where the model says only those can change (`routed_sites`)."""
        if self.row_sparse and plan.site in getattr(self.model, "routed_sites", ()):
            return self._routed_losses(plan, prep, local, delta)
        return self._all_rows_losses(plan, prep, local, delta)

    # Row capacities of the routed path, as fractions of the batch (each is a compiled copy of the leaf's path).
    ROUTED_TIERS = (1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4)

    def _routed_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Losses of a leaf whose moves change only the rows routed through its site (`model.routed_rows`: an
        MoE expert's rows): the leaf's candidates are scored on those rows alone, gathered into the smallest
        capacity that holds them (padded with rows routed elsewhere, whose logits the moves leave alone), and the
        other rows keep their cached cross-entropy terms; more rows than every capacity: all rows (a real
        branch). Exact up to rounding."""
        cache, rows = prep["cache"], self.y.shape[0]
        routed = self.model.routed_rows(plan.site, cache)
        ce_rows = row_cross_entropy(cache["logits"], self.y)
        base = jnp.mean(ce_rows)
        pad = jnp.argmin(routed)  # a row routed elsewhere (one exists whenever a capacity below `rows` fits)
        tiers = sorted({max(1, int(rows * f)) for f in self.ROUTED_TIERS if int(rows * f) < rows})

        def restricted(capacity):
            index = jnp.nonzero(routed, size=capacity, fill_value=rows)[0]
            index = jnp.where(index < rows, index, pad)
            sub = copy.copy(self)
            sub.y = self.y[index]
            losses = sub._all_rows_losses(plan, self._take_prep(prep, index), local, delta)
            return base + (capacity * losses - jnp.sum(ce_rows[index])) / rows

        branches = [lambda c=c: restricted(c) for c in tiers]
        branches.append(lambda: self._all_rows_losses(plan, prep, local, delta))
        count = jnp.sum(routed)
        return jax.lax.switch(jnp.argmax(jnp.array([*(count <= c for c in tiers), True])), branches)

    def _take_prep(self, prep: dict, index: jax.Array) -> dict:
        """`prepare`'s output for the sub-batch `index`: the model's cache and the row-indexed `inp @ A` / `inp @ P`
        of each leaf gathered, parameters and projections shared."""
        extra = {name: {k: (v[index] if k in ("u", "U") else v) for k, v in ex.items()}
                 for name, ex in prep["extra"].items()}
        return {"params": prep["params"], "cache": self.model.take_rows(prep["cache"], index), "extra": extra}

    def _all_rows_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """`leaf_losses` scoring every row of the minibatch."""
        units = self.layout.leaves[plan.leaf].shape[-1]
        column_weight = plan.kind == "column" and plan.role == "weight"
        if column_weight and self.row_sparse and plan.site in getattr(self.model, "row_sparse_sites", ()):
            return self._row_sparse_losses(plan, prep, local, delta)
        if (column_weight and not plan.quantized and local.shape[0] % units == 0
                and plan.site in getattr(self.model, "unit_group_sites", ())):
            return self._unit_group_losses(plan, prep, local, delta)
        return self._chunked_losses(plan, prep, local, delta)

    # Row capacities of the row-sparse path, as fractions of the batch; a chunk needing more takes the dense path.
    ROW_TIERS = (1 / 16, 1 / 8, 3 / 16, 1 / 4, 5 / 16, 3 / 8, 1 / 2, 5 / 8, 3 / 4)

    def _row_sparse_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Losses of a column leaf's candidates from the rows each one changes: a row whose moved unit keeps its
        output (`model.changed_rows` false) keeps its logits and its cross-entropy term. Candidates are sorted by
        how many rows they change and taken in chunks; a chunk gathers the smallest row capacity that holds each
        of its candidates' changed rows (`model.take_rows`), else scores all rows (a real branch): exact."""
        params, cache, model = prep["params"], prep["cache"], self.model
        n, rows = local.shape[0], self.y.shape[0]
        unit, cols = jax.vmap(lambda i, d: self._column_pre(plan, prep, i, d))(local, delta)  # (n,), (n, rows)
        changed = jax.vmap(lambda j, col: model.changed_rows(plan.site, cache, j, col))(unit, cols)
        order = jnp.argsort(jnp.sum(changed, axis=-1))
        ce_rows = row_cross_entropy(cache["logits"], self.y)
        base = jnp.mean(ce_rows)
        tiers = sorted({max(1, int(rows * f)) for f in self.ROW_TIERS if int(rows * f) < rows})

        def sparse(capacity, j, col, moved):
            index = jnp.nonzero(moved, size=capacity, fill_value=rows)[0]
            valid, index = index < rows, jnp.minimum(index, rows - 1)
            logits = model.resume_column(plan.site, params, model.take_rows(cache, index), j, col[index])
            change = jnp.where(valid, row_cross_entropy(logits, self.y[index]) - ce_rows[index], 0.0)
            return base + jnp.sum(change) / rows

        def dense(j, col, moved):
            return cross_entropy(model.resume_column(plan.site, params, cache, j, col), self.y)

        def one_chunk(item):
            need = jnp.max(jnp.sum(item[2], axis=-1))
            branches = [lambda c=c: jax.vmap(lambda *a: sparse(c, *a))(*item) for c in tiers]
            branches.append(lambda: jax.vmap(dense)(*item))
            return jax.lax.switch(jnp.argmax(jnp.array([*(need <= c for c in tiers), True])), branches)

        losses = map_local_batches(one_chunk, (unit[order], cols[order], changed[order]), self._chunk(plan, prep))
        return jnp.zeros((n,), losses.dtype).at[order].set(losses)

    def _unit_group_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Losses of a column leaf's candidates, a few output units at a time (`model.unit_group_batch`):
        `model.resume_unit_group` scores the candidates that move the same unit together. Needs every unit moved
        equally often (a whole step); otherwise (a real branch) the candidates are scored one by one."""
        units, n = self.layout.leaves[plan.leaf].shape[-1], local.shape[0]
        unit = jnp.asarray(plan.tables["col"])[local, 0]
        order = jnp.argsort(unit, stable=True)
        even = jnp.all(unit[order].reshape(units, -1) == jnp.arange(units)[:, None])
        params, cache = prep["params"], prep["cache"]
        shared = self.model.unit_group_shared(plan.site, params, cache)

        batch = self.model.unit_group_batch(plan.site) if hasattr(self.model, "unit_group_batch") else 1
        batch = batch if units % batch == 0 else 1

        def some_units(item):
            js, loc, d = item  # (u,), (u, g), (u, g, p)
            cols = jax.vmap(jax.vmap(lambda i, dv: self._column_pre(plan, prep, i, dv)[1]))(loc, d)
            logits = self.model.resume_unit_group(plan.site, params, cache, shared, js, cols)
            return jax.vmap(jax.vmap(lambda lg: cross_entropy(lg, self.y)))(logits)

        def grouped(_):
            p = delta.shape[-1]
            items = (jnp.arange(units).reshape(-1, batch), local[order].reshape(units // batch, batch, -1),
                     delta[order].reshape(units // batch, batch, -1, p))
            losses = jax.lax.map(some_units, items).reshape(-1)
            return jnp.zeros((n,), losses.dtype).at[order].set(losses)

        return jax.lax.cond(even, grouped, lambda _: self._chunked_losses(plan, prep, local, delta), None)

    def _chunked_losses(self, plan: _LeafPlan, prep: dict, local: jax.Array, delta: jax.Array) -> jax.Array:
        """Losses of candidates that all move blocks of `plan`'s leaf, one by one in vmapped chunks."""
        fn = jax.vmap(lambda i, d: self._loss_one(plan, prep, i, d))
        return map_local_batches(lambda a: fn(*a), (local, delta), self._chunk(plan, prep))

    def block_losses(self, space: SpaceState, coords: jax.Array, blocks: Blocks) -> jax.Array:
        """(N,) hard losses of the candidates `coords` with block `blocks.index[n]` moved by `blocks.delta[n]`.

        When every block appears equally often (a whole PolyStep step), candidates are grouped by leaf and
        each group is evaluated in vmapped chunks; otherwise each candidate takes its leaf's branch in turn.
        """
        prep = self.prepare(space, coords)
        n = blocks.index.shape[0]
        block_leaf = jnp.asarray(self.layout.block_leaf)
        leaf_of = block_leaf[blocks.index]
        n_blocks = self.layout.n_blocks
        if n % n_blocks == 0:
            reps = n // n_blocks
            # The grouped path needs every leaf to hold exactly its share of the candidates; a contiguous slice of a
            # step (PolyStep's chunk_size below a whole step) can break that, and would silently score wrong blocks.
            counts = jnp.zeros((int(np.max(self.layout.block_leaf)) + 1,), jnp.int32).at[leaf_of].add(1)
            expected = np.zeros(counts.shape, np.int32)
            for plan in self.plans:
                expected[plan.leaf] = reps * plan.n_blocks
            raise_if(jnp.any(counts != jnp.asarray(expected)), "chunk_size",
                     "a structured evaluation got part of a step whose blocks are not all present equally often; "
                     "leave PolyStep's chunk_size unset (None) with StructuredLoss, which chunks by itself")
            out = jnp.zeros((n,), jnp.float32)
            for plan in self.plans:
                if plan.n_blocks == 0:
                    continue
                sel = jnp.nonzero(leaf_of == plan.leaf, size=reps * plan.n_blocks, fill_value=0)[0]
                losses = self.leaf_losses(plan, prep, blocks.index[sel] - plan.first_block, blocks.delta[sel])
                out = out.at[sel].set(losses.astype(jnp.float32))
            return out
        branches = [
            (lambda item, plan=plan: self._loss_one(plan, prep, item[0] - plan.first_block, item[1]))
            for plan in self.plans
        ]
        return jax.lax.map(
            lambda item: jax.lax.switch(leaf_of[item[2]], branches, item).astype(jnp.float32),
            (blocks.index, blocks.delta, jnp.arange(n)),
        )


def naive_losses(model, layout: Layout, space: SpaceState, coords: jax.Array, blocks: Blocks, x: jax.Array,
                 y: jax.Array, chunk: int = 64) -> jax.Array:
    """Reference: every candidate's full parameter reconstruction and full hard forward pass (chunked)."""
    starts = jnp.asarray(layout.block_start)
    p = layout.particle_size

    def one(index, delta):
        moved = jax.lax.dynamic_update_slice_in_dim(
            coords, jax.lax.dynamic_slice_in_dim(coords, starts[index], p) + delta, starts[index], 0)
        return cross_entropy(model.apply(to_params(layout, space, moved), x, "hard"), y)

    from polystep import map_chunked

    return map_chunked(lambda item: one(*item), (blocks.index, blocks.delta), chunk)
