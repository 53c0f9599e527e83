"""``joyrl report``: per-seed rows and the IQM with its bootstrap CI, as scipy computes them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from scipy import stats

from joyrl_core.errors import JoyRLError
from joyrl_core.experiments.report import N_RESAMPLES, build_report

FINALS = [100.0, 480.0, 500.0, 20.0, 300.0, 490.0]


def make_seed_task(root, seed, evals, lr=0.001):
    task = root / f"Train_CartPole-v1_DQN_2026010{seed}"
    (task / "results").mkdir(parents=True)
    config = {"general_cfg": {"algo_name": "DQN", "seed": seed, "task_dir": str(root)},
              "algo_cfg": {"lr": lr}, "env_cfg": {"id": "CartPole-v1"}}
    (task / "config.yaml").write_text(yaml.safe_dump(config))
    with open(task / "results" / "evals.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["env_steps", "mean_reward", "std_reward", "train_time"])
        for i, reward in enumerate(evals):
            writer.writerow([1000 * (i + 1), reward, 1.0, 2.0 * (i + 1)])
    return task


def expected_iqm_ci(values):
    x = np.asarray(values, dtype=float)
    def iqm(v, axis=-1):
        return stats.trim_mean(v, 0.25, axis=axis)
    ci = stats.bootstrap((x,), iqm, n_resamples=N_RESAMPLES, confidence_level=0.95, method="percentile",
                         vectorized=True, axis=-1, rng=np.random.default_rng(0)).confidence_interval
    return float(iqm(x)), float(ci.low), float(ci.high)


def test_report_gives_scipys_iqm_and_ci(cli, tmp_path):
    exp = tmp_path / "Exp_a"
    for seed, final in enumerate(FINALS, start=1):
        # The best evaluation is the middle one; the threshold 450 is first reached at 2000 env steps or never.
        make_seed_task(exp, seed, [final / 2, max(final, 460.0) if final > 400 else final + 1, final])
    result = cli("report", str(exp), "--threshold", "450", "--json", "-o", str(tmp_path / "r.png"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["estimator"]["iqm"] == "scipy.stats.trim_mean(x, 0.25)"
    [config] = report["configs"]
    assert config["label"] == "Exp_a" and [s["seed"] for s in config["seeds"]] == list(range(1, 7))
    final = config["aggregate"]["final"]
    iqm, low, high = expected_iqm_ci(FINALS)
    assert final["iqm"] == pytest.approx(iqm) and final["ci_low"] == pytest.approx(low)
    assert final["ci_high"] == pytest.approx(high)
    assert final["mean"] == pytest.approx(np.mean(FINALS)) and final["median"] == pytest.approx(np.median(FINALS))
    assert low < iqm < high
    steps = [s["steps_to_threshold"] for s in config["seeds"]]
    assert steps == [None, 2000.0, 2000.0, None, None, 2000.0]
    assert [s["time_to_threshold"] for s in config["seeds"]] == [None, 4.0, 4.0, None, None, 4.0]
    assert config["aggregate"]["steps_to_threshold"]["n"] == 3
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_report_tables_one_per_config(cli, tmp_path):
    for seed in (1, 2, 3):
        make_seed_task(tmp_path / "mixed", seed, [10.0 * seed, 20.0 * seed], lr=0.001)
        make_seed_task(tmp_path / "mixed" / "other", seed, [5.0 * seed], lr=0.01)
    result = cli("report", str(tmp_path / "mixed"), "-o", str(tmp_path / "r.png"))
    assert result.exit_code == 0, result.output
    assert "lr=0.001: eval mean reward" in result.output and "lr=0.01: eval mean reward" in result.output
    assert "IQM [95% CI]" in result.output
    reports = build_report([tmp_path / "mixed"])
    assert [len(r.rows) for r in reports] == [3, 3]
    single = build_report([tmp_path / "mixed" / "other" / "Train_CartPole-v1_DQN_20260101"])
    assert single[0].aggregates["final"].ci_low is None  # one seed: no interval


def test_report_on_a_folder_without_tasks(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("report", str(tmp_path / "empty"))
    assert result.exit_code != 0 and "holds no task folder" in result.output
    with pytest.raises(JoyRLError):
        build_report([tmp_path / "missing"])
