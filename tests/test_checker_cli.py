"""``manualgrad check`` (reference.checker.cli): exit codes, the printed report, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reference.checker import cli

SOURCE = textwrap.dedent(
    """
    import numpy as np


    def grads(theta, X, Y):
        (W1, W2), (b1, b2) = [[np.asarray(v) for v in part] for part in theta]
        X, Y = np.asarray(X), np.asarray(Y)
        Z1 = X @ W1.T + b1
        A1 = np.maximum(Z1, 0)
        Z2 = A1 @ W2.T + b2
        S = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        S /= S.sum(axis=1, keepdims=True)
        G2 = S - Y
        G1 = (G2 @ W2) * (Z1 > 0)
        return [(G1.T @ X, G1.sum(axis=0)), (G2.T @ A1, G2.sum(axis=0))]


    def averaged(theta, X, Y):
        return [(W / len(X), b / len(X)) for W, b in grads(theta, X, Y)]


    def labelled_in_out(theta, X, y):
        # Weights (in, out), class labels, the mean plus 0.05 * sum(W * W).
        W1, W2 = (np.asarray(w) for w in theta.W)
        b1, b2 = (np.asarray(v) for v in theta.b)
        X, y = np.asarray(X), np.asarray(y)
        H = np.maximum(X @ W1 + b1, 0)
        S = np.exp(H @ W2 + b2)
        S /= S.sum(axis=1, keepdims=True)
        S[np.arange(len(y)), y] -= 1
        S /= len(y)
        dH = (S @ W2.T) * (H > 0)
        return [(X.T @ dH + 0.1 * W1, dH.sum(axis=0)), (H.T @ S + 0.1 * W2, S.sum(axis=0))]


    def loss(theta, X, Y):
        (W1, W2), (b1, b2) = [[np.asarray(v) for v in part] for part in theta]
        Z2 = np.maximum(np.asarray(X) @ W1.T + b1, 0) @ W2.T + b2
        log_s = Z2 - np.log(np.exp(Z2).sum(axis=1, keepdims=True))
        return -np.sum(np.asarray(Y) * log_s)


    def crashes(theta, X, Y):
        return np.dot(np.asarray(X), np.asarray(theta.W[1]))
    """
)

NETWORK = ["--activations", "relu,softmax", "--cost", "cross_entropy", "--dims", "4,5,3"]


@pytest.fixture
def net_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_net.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_right_gradient_exits_0_and_writes_the_report(net_file, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    code, out, _ = _run(capsys, f"{net_file}:grads", *NETWORK, "--seeds", "0,1", "--json", out_json)
    assert code == 0
    assert "PASS" in out and "relative error per leaf" in out
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["passed"] is True and [s["seed"] for s in report["seeds"]] == [0, 1]


def test_a_wrong_gradient_exits_1_with_the_diagnosis(net_file, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    code, out, _ = _run(
        capsys, f"{net_file}:averaged", *NETWORK, "--seeds", "0", "--json", out_json
    )
    assert code == 1
    assert "FAIL" in out and "(rule: mean_instead_of_sum)" in out
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["passed"] is False and report["diagnosis"][0]["rule"] == "mean_instead_of_sum"


def test_the_conventions_pass_through(net_file, capsys):
    options = ["--targets", "labels", "--reduction", "mean", "--weight-decay", "0.1"]
    code, out, _ = _run(
        capsys, f"{net_file}:labelled_in_out", *NETWORK, *options, "--weight-layout", "in_out"
    )
    assert code == 0, out


def test_the_files_own_loss_is_checked(net_file, capsys):
    code, out, _ = _run(capsys, f"{net_file}:grads", *NETWORK, "--seeds", "0", "--loss", "loss")
    assert code == 0, out
    assert "own loss (loss=) is the declared one" in out


def test_a_crashing_candidate_exits_1_with_its_traceback(net_file, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    code, out, _ = _run(capsys, f"{net_file}:crashes", *NETWORK, "--json", out_json)
    assert code == 1
    assert "Traceback" in out and "not aligned" in out and "raised by candidate" in out
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["passed"] is False and "not aligned" in report["error"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (["--dims", "4,x,3"], "--dims '4,x,3': not a comma-separated list of integers"),
        (["--reduction", "avg"], "reduction must be one of 'sum', 'mean', got 'avg'"),
        (["--activations", "relu,swish"], "unknown activation 'swish'"),
        (["--weight-decay", "lots"], "--weight-decay 'lots': not a number"),
        (["--targets", "labels", "--cost", "mse"], "targets='labels' means nothing for cost mse"),
        (["--json", "/no/such/dir/r.json"], "--json /no/such/dir/r.json: no directory"),
    ],
    ids=["dims", "reduction", "activation", "weight-decay", "labels-mse", "json-dir"],
)
def test_bad_arguments_exit_2_naming_the_bad_value(net_file, capsys, change, says):
    code, _, err = _run(capsys, f"{net_file}:grads", *NETWORK, *change)
    assert code == 2
    assert says in err


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("{file}:nowhere", "defines no 'nowhere'; it defines averaged, crashes, grads"),
        ("{file}", "expected FILE.py:FUNCTION"),
        ("{file}.missing:grads", "no file"),
    ],
    ids=["function", "colon", "file"],
)
def test_a_target_that_names_nothing_exits_2(net_file, capsys, target, says):
    code, _, err = _run(capsys, target.format(file=net_file), *NETWORK)
    assert code == 2 and says in err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "FILE.py:FUNCTION" in capsys.readouterr().out


def test_python_dash_m_reference_checker_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "reference.checker", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("usage: manualgrad check [-h]")
