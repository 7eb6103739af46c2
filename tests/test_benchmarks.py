"""The benchmark runs end to end and reports every number it promises.

One run of ``manualgrad bench`` on the "tiny" sweep (the code path of
``--quick`` and of the default sweep, on two small networks), with a dense
budget that admits the single sample and refuses the batch, is shared by the
tests below. No timing is asserted: only that every algorithm and mode is
there, that the numbers are positive and finite, that the refusals are
recorded, and that JSON, Markdown and plots are written.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import manualgrad
import reference
from benchmarks import run
from benchmarks.measure import Timing, merge_copies
from benchmarks.report import BEGIN, END, fit_exponent, write_markdown
from benchmarks.workload import Config, backprop_flops, sweep

# N = 1, n = 16, L = 2: 2 KiB of dense Jacobians; N = 8: 16 KiB.
DENSE_BUDGET = 4096
POSITIVE_FIELDS = ("median_s", "ratio", "ratio_vjp", "gflops", "ceiling_fraction", "compile_s")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    markdown = out / "RESULTS.md"
    markdown.write_text(f"# Results\n\nProse kept.\n\n{BEGIN}\nold\n{END}\n\nTail kept.\n")
    argv = ["--sweep", "tiny", "--out", str(out), "--markdown", str(markdown)]
    code = run.main([*argv, "--max-dense-bytes", str(DENSE_BUDGET)])
    results = json.loads((out / "results.json").read_text())
    return code, results, out


def test_bench_exits_zero_and_names_the_machine(bench):
    code, results, _ = bench
    assert code == 0
    machine = results["machine"]
    for field in ("cpu_model", "cpu_cores", "device_kind", "jax_version", "platform"):
        assert machine[field], field
    assert math.isfinite(results["ceiling"]["gflops"]) and results["ceiling"]["gflops"] > 0


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
    for baseline in ("jax.grad", "jax.vjp"):
        assert (baseline, "batch") in names
        assert (baseline, "sample") in names
    assert ("jax.vmap(jax.grad)", "vmap") in names


def test_numbers_are_positive_and_finite(bench):
    _, results, _ = bench
    ok = [r for r in results["rows"] if r["status"] == "ok"]
    assert ok
    for row in ok:
        for field in POSITIVE_FIELDS:
            assert math.isfinite(row[field]) and row[field] > 0, (row["name"], field)
        assert row["temp_bytes"] is None or row["temp_bytes"] >= 0
        assert row["flops"] == backprop_flops(
            Config(row["N"], row["width"], row["depth"], row["hidden"]).dims,
            1 if row["form"] == "sample" else row["N"],
        )
    for row in ok:
        if row["form"] == "vmap" and row["algorithm"] is not None:
            assert math.isfinite(row["ratio_per_example"]) and row["ratio_per_example"] > 0


def test_what_was_timed_computes_jax_grads_gradient(bench):
    _, results, _ = bench
    for row in results["rows"]:
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
    assert results["plots"]
    for path in results["plots"]:
        with open(path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Results\n\nProse kept.")
    assert text.rstrip().endswith("Tail kept.")
    assert "old" not in text
    assert results["machine"]["cpu_model"] in text
    assert "Algorithm 5 (batch)" in text


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
    assert len(sweep("full")) == 4 * 3 * 3 * 4
    with pytest.raises(ValueError, match="unknown sweep"):
        sweep("huge")


def test_markdown_without_markers_gets_a_title(tmp_path, bench):
    _, results, _ = bench
    path = tmp_path / "new.md"
    write_markdown(path, results)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert BEGIN in text and END in text
