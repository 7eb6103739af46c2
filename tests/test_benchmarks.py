"""The benchmark runs end to end, reports every number it promises, and its statistics are right.

One run of ``manualgrad bench`` on the "tiny" sweep (the code path of
``--quick`` and of the default sweep, on two small networks, with one fresh
process repeating the headline network), with a dense budget that admits
the single sample and refuses the batch, is shared by the smoke tests. No
timing is asserted: only that every algorithm, mode and peer is there, that
the numbers are positive and finite and the intervals hold their ratios,
that the refusals and the skipped peers are recorded, and that JSON,
Markdown and plots are written.

The pure pieces (bootstrap intervals, verdicts, loop calibration, the HLO
breakdown, the peers' gradients) are tested on inputs whose answers are
worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math
import sys

import jax
import numpy as np
import pytest

import manualgrad
import reference
from benchmarks import peers, run, stats, workload
from benchmarks.measure import Timing, hlo_breakdown, merge_copies
from benchmarks.report import BEGIN, END, fit_exponent, write_markdown
from benchmarks.workload import (
    COST,
    PEERS,
    Config,
    backprop_flops,
    make_inputs,
    products_alone,
    sweep,
)

# N = 1, n = 16, L = 2: 2 KiB of dense Jacobians; N = 8: 16 KiB.
DENSE_BUDGET = 4096
POSITIVE_FIELDS = ("median_s", "ratio", "ratio_vjp", "gflops", "ceiling_fraction")
VERDICTS = (*stats.VERDICTS, stats.BASELINE, stats.FLOOR)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    markdown = out / "RESULTS.md"
    markdown.write_text(f"# Results\n\nProse kept.\n\n{BEGIN}\nold\n{END}\n\nTail kept.\n")
    argv = ["--sweep", "tiny", "--out", str(out), "--markdown", str(markdown)]
    code = run.main([*argv, "--max-dense-bytes", str(DENSE_BUDGET)])
    results = json.loads((out / "results.json").read_text())
    return code, results, out


def _ok(results):
    return [r for r in results["rows"] if r["status"] == "ok"]


def test_bench_exits_zero_and_names_the_machine(bench):
    code, results, _ = bench
    assert code == 0
    machine = results["machine"]
    for field in ("cpu_model", "cpu_cores", "device_kind", "jax_version", "platform", "os"):
        assert machine[field], field
    assert math.isfinite(results["ceiling"]["gflops"]) and results["ceiling"]["gflops"] > 0
    assert results["threads"]["xla"] >= 1


def test_every_algorithm_and_mode_appears_in_its_forms(bench):
    _, results, _ = bench
    seen = {(r["algorithm"], r["mode"], r["form"], r["N"]) for r in results["rows"]}
    for number, algorithm in manualgrad.ALGORITHMS.items():
        for mode in manualgrad.JACOBIAN_MODES:
            if algorithm.batch:
                assert (number, mode, "batch", 1) in seen
                assert (number, mode, "batch", 8) in seen
            else:
                assert (number, mode, "sample", 1) in seen
                assert (number, mode, "vmap", 8) in seen
    names = {(r["name"], r["form"]) for r in results["rows"]}
    for baseline in ("jax.grad", "jax.vjp", "jax.grad, second copy"):
        assert (baseline, "batch") in names
        assert (baseline, "sample") in names
    assert ("jax.grad, a @ W.T", "sample") in names
    assert ("jax.grad, log(softmax)", "batch") in names
    assert ("jax.vmap(jax.grad)", "vmap") in names
    assert ("numpy", "batch") in names


def test_every_timed_entry_names_its_peer_and_skipped_peers_say_how_to_install(bench):
    _, results, _ = bench
    for row in results["rows"]:
        assert row["peer"] in PEERS, row["name"]
        assert (row["peer"] == "manualgrad") == (row["algorithm"] is not None)
    skipped = results["peers"]["skipped"]
    assert skipped == [item.as_dict() for item in peers.skipped_peers()]
    timed = set(results["peers"]["timed"])
    for item in skipped:
        assert item["reason"].endswith("is not installed") and "pip install" in item["install"]
        assert item["peer"] not in timed
    assert set(peers.NAMES) <= timed | {item["peer"] for item in skipped}


def test_numbers_are_positive_and_finite_and_intervals_hold_their_ratios(bench):
    _, results, _ = bench
    ok = _ok(results)
    assert ok
    for row in ok:
        for field in POSITIVE_FIELDS:
            assert math.isfinite(row[field]) and row[field] > 0, (row["name"], field)
        assert row["temp_bytes"] is None or row["temp_bytes"] >= 0
        assert row["flops"] == backprop_flops(
            Config(row["N"], row["width"], row["depth"], row["hidden"]).dims,
            1 if row["form"] == "sample" else row["N"],
        )
        low, high = row["ratio_ci"]
        assert 0 < low <= row["ratio_paired"] <= high, row["name"]
        assert row["verdict_ci"][0] <= low and high <= row["verdict_ci"][1]
        low, high = row["limit_multiple_ci"]
        assert 0 < low <= row["limit_multiple"] <= high
        assert row["verdict"] in VERDICTS
        if row["verdict"] not in (stats.BASELINE, stats.FLOOR):
            assert (row["verdict"] == stats.NOISY) == (not row["settled"])
        assert row["inner"] >= 1 and row["reps"] == len(row["samples_s"]) >= 1
        if row["peer"] not in peers.NAMES:
            assert set(row["hlo"]) == {"products", "elementwise", "reductions", "data movement"}
    for row in ok:
        if row["form"] == "vmap" and row["algorithm"] is not None:
            assert math.isfinite(row["ratio_per_example"]) and row["ratio_per_example"] > 0
    grads = [r for r in ok if r["name"] == "jax.grad" and r["mode"] is None]
    assert grads and all(r["verdict"] == stats.BASELINE for r in grads)
    floors = [r for r in ok if r["name"] == "jax.grad, second copy"]
    assert floors and all(r["verdict"] == stats.FLOOR for r in floors)


def test_what_was_timed_computes_the_reference_gradient(bench):
    _, results, _ = bench
    for row in results["rows"]:
        assert row["status"] != "wrong", row
        if row["status"] == "ok":
            assert row["max_rel_error"] <= reference.tolerance("float32"), row


def test_dense_rows_over_budget_are_recorded_as_refused(bench):
    _, results, _ = bench
    dense = {(r["algorithm"], r["N"]): r for r in results["rows"] if r["mode"] == "dense"}
    for number in manualgrad.ALGORITHMS:
        assert dense[(number, 1)]["status"] == "ok"
        refused = dense[(number, 8)]
        assert refused["status"] == "refused"
        assert "dense mode would materialize" in refused["refusal"]
        assert "16.00 KiB" in refused["refusal"]


def test_limits_comparisons_and_repeats_are_reported(bench):
    _, results, _ = bench
    forms = {(limit["N"], limit["form"]) for limit in results["limits"]}
    assert forms == {(1, "batch"), (1, "sample"), (8, "batch")}
    for limit in results["limits"]:
        assert limit["median_s"] > 0 and limit["hlo"]["products"]["count"] >= 1
    whats = {item["what"] for item in results["comparisons"]}
    assert len(whats) == 3  # fused output, cached outputs, v @ W
    repeats = results["repeats"]
    assert repeats["networks"] == [{"N": 8, "width": 16, "depth": 2, "hidden": "tanh"}]
    assert len(repeats["runs"]) == 1 and repeats["summary"]
    for item in repeats["summary"]:
        assert len(item["ratios"]) == 2 and item["spread"] >= 1


def test_sharded_section_is_added(bench):
    _, results, out = bench
    rows = results["sharded"]
    assert {row["name"] for row in rows} >= {"Algorithm 2 sharded", "Algorithm 5 sharded"}
    for row in rows:
        for field in ("devices", "N", "width", "depth"):
            assert row[field] >= 1
        for field in ("median_s", "grad_median_s", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0
        assert row["max_rel_error"] <= reference.tolerance("float32")
    assert "### Sharded (data-parallel)" in (out / "RESULTS.md").read_text()


def test_oracles_section_times_a_directional_check_in_a_fixed_number_of_forward_passes(bench):
    _, results, _ = bench
    rows = results["oracles"]["rows"]
    assert len(rows) >= 2
    assert [r["parameters"] for r in rows] == sorted(r["parameters"] for r in rows)
    assert len({r["directional_forward_passes"] for r in rows}) == 1  # flat in the parameters
    assert all(r["directional_passed"] for r in rows)  # jax.grad's gradient passes
    assert all(r["directional_s"] > 0 and r["forward_s"] > 0 for r in rows)


def test_scaling_exponents_are_fitted_along_the_batch(bench):
    _, results, _ = bench
    fits = [fit for fit in results["scaling"] if fit["axis"] == "N"]
    series = {fit["series"] for fit in fits}
    assert {f"Algorithm {number}" for number in manualgrad.ALGORITHMS} <= series
    assert "jax.grad" in series
    assert all(math.isfinite(fit["exponent"]) for fit in fits)
    assert results["headline"]


def test_plots_and_markdown_are_written(bench):
    _, results, out = bench
    assert any(path.endswith("time_per_network_peers.png") for path in results["plots"])
    for path in results["plots"]:
        with open(path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Results\n\nProse kept.")
    assert text.rstrip().endswith("Tail kept.")
    assert "\nold\n" not in text
    assert results["machine"]["cpu_model"] in text
    for heading in ("Noise floor", "Peers: time / jax.grad", "Beyond the products"):
        assert heading in text
    assert "Algorithm 5 (batch)" in text and "x grad [95% CI]" in text


def test_render_rewrites_the_same_markdown_from_the_json(bench, tmp_path):
    _, _, out = bench
    path = tmp_path / "rendered.md"
    argv = ["--render", str(out / "results.json"), "--markdown", str(path), "--no-plots"]
    assert run.main(argv) == 0

    def generated(text):
        return text.split(BEGIN)[1].split(END)[0]

    assert generated(path.read_text()) == generated((out / "RESULTS.md").read_text())


def test_markdown_without_markers_gets_a_title(tmp_path, bench):
    _, results, _ = bench
    path = tmp_path / "new.md"
    write_markdown(path, results)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert BEGIN in text and END in text


# The statistics.


def test_ratio_ci_of_an_exact_ratio_is_that_ratio():
    baseline = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert stats.ratio_ci(1.5 * baseline, baseline) == pytest.approx((1.5, 1.5))
    assert stats.paired_ratio(1.5 * baseline, baseline) == pytest.approx(1.5)


def test_ratio_ci_matches_the_bootstrap_distribution_enumerated_by_hand():
    # Round ratios 1, 2, 4, 8. Of the 4^4 = 256 equally likely resamples, the
    # median is 1 when at least three draws are 1: 4 * 3 + 1 = 13 of them
    # (5.1%); likewise 8. So the 2.5% and 97.5% points are 1 and 8. The
    # median is 1.5 (one 1, one 2 in the middle pair) or less in 43 of 256
    # (16.8%) and 6 or less in 243 (94.9%), so the 10% and 90% points are
    # 1.5 and 6. The baseline's samples differ round by round; only the
    # ratios matter.
    baseline = np.array([0.5, 3.0, 1.0, 2.0])
    samples = baseline * np.array([1.0, 2.0, 4.0, 8.0])
    assert stats.ratio_ci(samples, baseline) == (1.0, 8.0)
    assert stats.ratio_ci(samples, baseline, confidence=0.8, resamples=20000) == (1.5, 6.0)


def test_ratio_ci_pairs_only_the_rounds_both_were_timed_in():
    # An entry that settled early has fewer samples than jax.grad: the extra
    # rounds of the baseline (ratio 100 if they were paired) are left out.
    baseline = [1.0, 2.0, 4.0, 1.0, 1.0]
    samples = [2.0, 4.0, 8.0]
    assert stats.paired_ratio(samples, [*baseline[:3], 0.02, 0.02]) == 2.0
    assert stats.ratio_ci(samples, baseline) == (2.0, 2.0)


def test_ratio_ci_is_reproducible_and_narrows_with_more_rounds():
    rng = np.random.default_rng(7)
    baseline = rng.lognormal(0.0, 0.2, 400)
    samples = 1.2 * baseline * rng.lognormal(0.0, 0.05, 400)
    assert stats.ratio_ci(samples, baseline) == stats.ratio_ci(samples, baseline)
    few, many = stats.ratio_ci(samples[:25], baseline[:25]), stats.ratio_ci(samples, baseline)
    assert many[1] - many[0] < few[1] - few[0]
    assert 1.2 * 0.98 < many[0] < many[1] < 1.2 * 1.02


@pytest.mark.parametrize(
    "ci, settled, expected",
    [
        ((0.97, 1.01), True, "no measurable difference"),
        ((1.0, 1.04), True, "no measurable difference"),
        ((0.95, 0.99), True, "faster"),
        ((1.02, 1.06), True, "slower"),
        ((0.5, 0.7), False, "noisy"),
        ((0.9, 1.3), False, "noisy"),
    ],
)
def test_verdict(ci, settled, expected):
    assert stats.verdict(ci, settled=settled) == expected


def test_is_settled_asks_for_both_ends_within_the_tolerance_and_enough_rounds():
    # 1.00 * (1 +- 0.03) = [0.97, 1.03].
    assert stats.is_settled(1.0, (0.97, 1.03), 20)
    assert not stats.is_settled(1.0, (0.969, 1.0), 20)
    assert not stats.is_settled(1.0, (1.0, 1.031), 20)
    assert stats.is_settled(2.0, (1.95, 2.05), 100)  # +-2.5% of 2
    assert not stats.is_settled(1.0, (1.0, 1.0), 19)  # too few rounds to trust
    assert stats.is_settled(1.0, (1.0, 1.0), 5, min_rounds=5)


def test_widen_moves_both_ends_out_by_the_noise_floor():
    # Identical programs measured [0.98, 1.03]: the farther end is 1.03, so an
    # interval [1.01, 1.05] becomes [1.01 / 1.03, 1.05 * 1.03] = [0.9806, 1.0815],
    # which contains 1: no difference this run could tell from its own noise.
    assert stats.floor_margin((0.98, 1.03)) == pytest.approx(np.log(1.03))
    assert stats.floor_margin((0.95, 1.01)) == pytest.approx(np.log(1 / 0.95))
    low, high = stats.widen((1.01, 1.05), (0.98, 1.03))
    assert (low, high) == pytest.approx((1.01 / 1.03, 1.05 * 1.03))
    assert stats.verdict((low, high), settled=True) == "no measurable difference"
    assert stats.widen((0.5, 0.6), (1.0, 1.0)) == (0.5, 0.6)


def test_calibrate_loops_doubles_until_a_sample_is_long_enough():
    # 0.1 ms a call: 8 calls are 0.8 ms, 16 calls 1.6 ms >= 1 ms.
    assert stats.calibrate_loops(lambda loops: loops * 1e-4, min_sample_s=1e-3) == 16
    assert stats.calibrate_loops(lambda loops: loops * 1e-4, min_sample_s=1e-3, start=4) == 16
    # A call slower than the sample needs no repeats; a cap is a cap.
    assert stats.calibrate_loops(lambda loops: loops * 0.01, min_sample_s=1e-3) == 1
    assert stats.calibrate_loops(lambda loops: loops * 1e-9, min_sample_s=1.0, max_loops=64) == 64


def test_calibrate_loops_is_not_fooled_by_one_slow_try():
    # Every third try is a 100x slow spell; the fastest of three tries decides.
    tries = []

    def time_loops(loops):
        tries.append(loops)
        return loops * 1e-4 * (100 if len(tries) % 3 == 1 else 1)

    assert stats.calibrate_loops(time_loops, min_sample_s=1e-3) == 16


def test_first_loops_starts_at_most_a_quarter_of_the_way():
    # 1 ms wanted, 10 us a call: 100 calls; a quarter is 25, the power of two below is 16.
    assert stats.first_loops(1e-5, 1e-3) == 16
    assert stats.first_loops(1e-3, 1e-3) == 1


def test_busy_warning_only_when_others_hold_half_the_cores_or_more():
    assert run.busy_warning([0.4, 0.2, 0.1], 2) == ""
    assert run.busy_warning(None, 2) == ""
    assert "load 1.5 on 2 cores" in run.busy_warning([1.5, 1.0, 1.0], 2)


def test_spread():
    assert stats.spread([1.0, 1.1, 0.5]) == pytest.approx(2.2)


# The HLO breakdown and the products alone.

HLO = """HloModule jit_f, is_scheduled=true

%fused_dot (p0: f32[4,3], p1: f32[2,3]) -> f32[4,2] {
  %p0 = f32[4,3]{1,0} parameter(0)
  %p1 = f32[2,3]{1,0} parameter(1)
  ROOT %d = f32[4,2]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={1}
}

%add_region (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %s = f32[] add(%a, %b)
}

%fused_sum (p0: f32[4,2], p1: f32[]) -> f32[2] {
  %p0 = f32[4,2]{1,0} parameter(0)
  %p1 = f32[] parameter(1)
  ROOT %r = f32[2]{0} reduce(%p0, %p1), dimensions={0}, to_apply=%add_region
}

%fused_relu (p0: f32[4,2]) -> f32[4,2] {
  %p0 = f32[4,2]{1,0} parameter(0)
  %z = f32[] constant(0)
  %zb = f32[4,2]{1,0} broadcast(%z), dimensions={}
  ROOT %m = f32[4,2]{1,0} maximum(%p0, %zb)
}

ENTRY %main (x: f32[4,3], w: f32[2,3]) -> (f32[4,2], f32[2], f32[2,4]) {
  %x = f32[4,3]{1,0} parameter(0)
  %w = f32[2,3]{1,0} parameter(1)
  %zero = f32[] constant(0)
  %prod = f32[4,2]{1,0} fusion(%x, %w), kind=kCustom, calls=%fused_dot
  %act = f32[4,2]{1,0} fusion(%prod), kind=kLoop, calls=%fused_relu
  %bias = f32[2]{0} fusion(%act, %zero), kind=kInput, calls=%fused_sum
  %t = f32[2,4]{0,1} transpose(%act), dimensions={1,0}
  ROOT %out = (f32[4,2]{1,0}, f32[2]{0}, f32[2,4]{0,1}) tuple(%act, %bias, %t)
}
"""


def test_hlo_breakdown_sorts_the_entry_instructions_by_kind():
    # One product fusion (a 4x2 float32 output: 32 bytes), one relu fusion
    # (32 bytes), one bias reduction (2 floats: 8 bytes), one transpose (32
    # bytes); parameters, the constant and the tuple are free.
    assert hlo_breakdown(HLO) == {
        "products": {"count": 1, "bytes": 32},
        "elementwise": {"count": 1, "bytes": 32},
        "reductions": {"count": 1, "bytes": 8},
        "data movement": {"count": 1, "bytes": 32},
    }
    assert hlo_breakdown("not HLO") == {
        kind: {"count": 0, "bytes": 0}
        for kind in ("products", "elementwise", "reductions", "data movement")
    }


def test_products_alone_compile_to_products_only():
    config = Config(32, 16, 3, "relu")
    theta, X, _ = make_inputs(config, "float32")
    compiled = jax.jit(products_alone).lower(theta, X).compile()
    found = hlo_breakdown(compiled.as_text())
    assert found["products"]["count"] >= 1
    assert found["elementwise"]["count"] == found["reductions"]["count"] == 0
    assert len(products_alone(theta, X)) == config.depth


# The peers.


@pytest.mark.parametrize("hidden", workload.HIDDEN)
def test_numpy_backprop_computes_the_reference_gradient(hidden):
    config = Config(6, 5, 3, hidden)
    theta, X, Y = make_inputs(config, "float32")
    (peer,), _ = peers.make_peers(hidden, theta, X, Y, names=(peers.NUMPY,))
    got = peer.call()
    assert all(leaf.dtype == np.float32 for leaf in (*got[0], *got[1]))
    expected = reference.grad(theta, X, Y, config.activations, COST)
    assert reference.relative_error(peer.to_params(got), expected) <= 1e-5


def test_a_peer_that_is_not_installed_is_skipped_with_how_to_install(monkeypatch):
    # A None entry in sys.modules makes ``import torch`` fail as if torch were absent.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "autograd", None)
    skipped = peers.skipped_peers()
    assert [item.peer for item in skipped] == ["autograd", "torch.autograd", "torch manual"]
    assert skipped[1].reason == "torch is not installed"
    assert all("[peers]" in item.install for item in skipped)
    config = Config(4, 3, 2, "tanh")
    theta, X, Y = make_inputs(config, "float32")
    made, also_skipped = peers.make_peers("tanh", theta, X, Y)
    assert [peer.name for peer in made] == ["numpy"]
    assert also_skipped == skipped


# Earlier pieces.


def test_backprop_flops_counts_forward_and_both_backward_products():
    # dims (3, 4, 5), N = 2: layer 1 forward + weight grad 2 * (2*2*4*3);
    # layer 2 forward + weight grad + input grad 3 * (2*2*5*4).
    assert backprop_flops((3, 4, 5), 2) == 2 * 48 + 3 * 80


def test_fit_exponent_recovers_a_power_law():
    xs = np.array([64.0, 256.0, 1024.0])
    assert fit_exponent(xs, 3e-9 * xs**2) == pytest.approx(2.0)


def _timing(samples):
    return Timing(float(np.median(samples)), min(samples), 0.0, 0.0, len(samples), 1, samples)


def test_merge_copies_outvotes_a_copy_that_runs_slow_throughout():
    fast = _timing((1.0, 2.0, 1.0, 3.0))
    twin = _timing((1.2, 1.8, 1.0, 2.6))
    slow = _timing((1.5, 3.0, 1.5, 4.5))
    merged = merge_copies([slow, fast, twin])
    assert merged.samples_s == (1.2, 2.0, 1.0, 3.0)  # per round, the middle copy
    assert merged.median_s == pytest.approx(1.6)
    assert merged.min_s == 1.0
    assert merge_copies([slow]) is slow


def test_sweeps_stay_inside_the_grid():
    for name in ("quick", "default"):
        configs = sweep(name)
        assert len(configs) == len(set(configs))
    assert len(sweep("full")) == 4 * 3 * 3 * 5  # batch sizes x widths x depths x hidden
    with pytest.raises(ValueError, match="unknown sweep"):
        sweep("huge")
