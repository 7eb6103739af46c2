"""benchmarks/RESULTS.md: the measured tables as Markdown.

The generated part sits between two marker lines; :func:`write_markdown`
replaces only that part of an existing file, so prose written around it
survives a fresh run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks._report import (
    HEADERS,
    SHARDED_KEYS,
    grad_large_fractions,
    headline_cells,
    is_large,
    row_cells,
)

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --markdown benchmarks/RESULTS.md -->"
END = "<!-- END GENERATED -->"


def _table(headers: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in line) + " |" for line in lines]
    return out


def generated_markdown(results: dict) -> str:
    """The tables of one run: machine, ceiling, headline, scaling, every row."""
    machine, ceiling = results["machine"], results["ceiling"]
    md = [BEGIN, "", f"Command: `{results['command']}` ({results['sweep']} sweep, "]
    md[-1] += f"{results['wall_s'] / 60:.1f} minutes, {results['date_utc']} UTC)."
    md += ["", "### Machine", ""]
    md += _table(
        ("", ""),
        [
            ("CPU", f"{machine['cpu_model']}, {machine['cpu_cores']} cores"),
            ("device", f"{machine['device_kind']} ({machine['platform']})"),
            ("jax / jaxlib", f"{machine['jax_version']} / {machine['jaxlib_version']}"),
            ("Python / NumPy", f"{machine['python_version']} / {machine['numpy_version']}"),
            ("load average at start / end", f"{machine['load_start']} / {machine['load_end']}"),
            ("dtype", results["dtype"]),
        ],
    )
    by_size = ", ".join(f"{n}: {g:.1f}" for n, g in ceiling["by_size"].items())
    md += [
        "",
        f"Matmul ceiling: **{ceiling['gflops']:.1f} GFLOP/s** ({ceiling['dtype']} square "
        f"matmul of size {ceiling['size']} under jit; GFLOP/s by size: {by_size}).",
        "",
        "### Structured mode against jax.grad",
        "",
    ]
    lines = [headline_cells(item) for item in results["headline"]]
    md += _table(
        (
            "algorithm",
            "form",
            "worst time / jax.grad",
            "worst at",
            "worst paired ratio",
            "best time / jax.grad",
            "least of ceiling (N>=512, n>=256)",
            "temp memory > jax.grad",
        ),
        lines,
    )
    grad_fractions = grad_large_fractions(results["rows"])
    if grad_fractions:
        md += [
            "",
            f"jax.grad on the same large configurations: {100 * min(grad_fractions):.1f}% "
            f"to {100 * max(grad_fractions):.1f}% of the ceiling.",
        ]
    md += ["", "### Scaling exponents", ""]
    md += _table(
        ("series", "axis", "fixed", "points", "fitted exponent", "last step", "Exercise 4"),
        [
            (
                f"{fit['series']} ({fit['family']})",
                fit["axis"],
                " ".join(f"{k}={v}" for k, v in fit["fixed"].items()),
                ", ".join(str(x) for x, _ in fit["points"]),
                f"{fit['exponent']:.2f}",
                f"{fit['last_step_exponent']:.2f}",
                f"{fit['predicted']:.0f}",
            )
            for fit in results["scaling"]
        ],
    )
    md += ["", "### Every configuration", ""]
    configs = []
    for row in results["rows"]:
        key = (row["N"], row["width"], row["depth"], row["hidden"])
        if key not in configs:
            configs.append(key)
    for N, width, depth, hidden in configs:
        rows = [
            r
            for r in results["rows"]
            if (r["N"], r["width"], r["depth"], r["hidden"]) == (N, width, depth, hidden)
        ]
        large = " (large)" if any(is_large(r) for r in rows) else ""
        ceiling = next(r["ceiling_gflops"] for r in rows if r["status"] == "ok")
        md += ["", f"#### N={N}, width={width}, depth={depth}, hidden {hidden}{large}", ""]
        md += [f"Matmul ceiling timed beside these rows: {ceiling:.1f} GFLOP/s.", ""]
        md += _table(HEADERS, [row_cells(r) for r in rows])
    if results.get("sharded") is not None:
        md += ["", "### Sharded (data-parallel)", ""]
        md += _table(
            SHARDED_KEYS,
            [[_format(row.get(k)) for k in SHARDED_KEYS] for row in results["sharded"]],
        )
    md += ["", END]
    return "\n".join(md) + "\n"


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_markdown(path: Path, results: dict) -> None:
    """Writes the generated part into ``path``, keeping any text around the markers."""
    generated = generated_markdown(results)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head = text[: text.index(BEGIN)]
            tail = text[text.index(END) + len(END) :].lstrip("\n")
            path.write_text(head + generated + tail, encoding="utf-8")
            return
    path.write_text("# Benchmark results\n\n" + generated, encoding="utf-8")
