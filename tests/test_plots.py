import csv

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest
import yaml

from click.testing import CliRunner

from joyrl_core.cli.main import main
from joyrl_core.outputs import plots
from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.plots import moving_average, plot_rewards, plot_runs, show_figure


def write_episodes(path, n, seed=0, step_scale=20):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["episode", "env_steps", "reward", "length", "wall_time", "terminated"])
        steps = 0
        for i in range(n):
            length = int(rng.integers(step_scale // 2, step_scale * 2))
            steps += length
            w.writerow([i + 1, steps, float(length) + rng.normal(), length, 0.01 * i, 1])
    return path


def write_evals(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["env_steps", "mean_reward", "std_reward"])
        w.writerows(rows)
    return path


def make_task(root, name, n, seed, algo="DQN", env_id="CartPole-v1", algo_cfg=None, mode="train"):
    task = root / name
    write_episodes(task / "results" / "episodes.csv", n, seed)
    config = {"general_cfg": {"algo_name": algo, "env_name": "gym", "seed": seed + 1, "mode": mode},
              "env_cfg": {"id": env_id}, "algo_cfg": algo_cfg or {}}
    (task / "config.yaml").write_text(yaml.safe_dump(config))
    return task


def assert_png(path):
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[0] > 100 and image.shape[1] > 100
    assert not list(path.parent.glob(".*.tmp"))


def test_moving_average():
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    np.testing.assert_allclose(moving_average(np.arange(3.0)), [0, 0.5, 1])  # short run: window shrinks
    assert moving_average(np.array([])).shape == (0,)


def test_plot_rewards_with_evals(tmp_path):
    episodes = write_episodes(tmp_path / "results" / "episodes.csv", 50)
    evals = write_evals(tmp_path / "results" / "evals.csv", [[200, 30.0, 2.0], [600, 45.0, 5.5]])
    out = plot_rewards(episodes, tmp_path / "results" / "rewards.png", evals, title="DQN on CartPole-v1")
    assert out == tmp_path / "results" / "rewards.png"
    assert_png(out)


def test_plot_rewards_short_run_without_evals(tmp_path):
    episodes = write_episodes(tmp_path / "episodes.csv", 3)
    assert_png(plot_rewards(episodes, tmp_path / "a.png", tmp_path / "missing_evals.csv"))
    assert_png(plot_rewards(write_episodes(tmp_path / "empty.csv", 0), tmp_path / "b.png"))


def test_plot_rewards_bad_csv(tmp_path):
    with pytest.raises(JoyRLError, match="no such"):
        plot_rewards(tmp_path / "nope.csv", tmp_path / "a.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(JoyRLError, match="missing column"):
        plot_rewards(bad, tmp_path / "a.png")
    bad.write_text("episode,env_steps,reward,length,wall_time,terminated\n1,x,2,3,4,1\n")
    with pytest.raises(JoyRLError, match="bad.csv"):
        plot_rewards(bad, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


@pytest.fixture
def legend_labels(monkeypatch):
    """The legend labels of the last figure saved, captured on its way to the PNG."""
    labels: list[str] = []
    real_save = plots.save_figure

    def spy(fig, out):
        labels[:] = fig.axes[0].get_legend_handles_labels()[1]
        return real_save(fig, out)

    monkeypatch.setattr(plots, "save_figure", spy)
    return labels


def test_plot_runs_other_configs_are_lines_of_their_own(tmp_path, legend_labels):
    # The same algorithm on the same env with another lr each: three configs, no mean over them.
    tasks = [make_task(tmp_path, f"Train_CartPole-v1_DQN_2024010{i}", 40 + 10 * i, seed=i, algo_cfg={"lr": i})
             for i in range(3)]
    assert_png(plot_runs(tasks, tmp_path / "compare.png"))
    assert legend_labels == [t.name for t in tasks]


def test_plot_runs_seeds_of_one_config_are_one_band(tmp_path, legend_labels):
    tasks = [make_task(tmp_path, f"Train_CartPole-v1_DQN_2024010{i}", 40 + 10 * i, seed=i) for i in range(3)]
    assert_png(plot_runs(tasks, tmp_path / "seeds.png"))
    assert legend_labels == ["Train DQN on CartPole-v1, 3 seeds (1, 2, 3): mean",
                             "Train DQN on CartPole-v1, 3 seeds (1, 2, 3): min-max"]


def test_plot_runs_groups_by_mode_and_says_what_it_grouped(tmp_path, legend_labels):
    # `joyrl plot tasks/*` over a training run and three test runs of it: the test runs are one
    # group, the training run its own line, never one mean of four.
    train = make_task(tmp_path, "Train_CartPole-v1_DQN_20240101", 60, seed=0)
    tests = [make_task(tmp_path, f"Test_CartPole-v1_DQN_2024010{i}", 10, seed=i, mode="test") for i in (2, 3, 4)]
    assert_png(plot_runs([train, *tests], tmp_path / "all.png"))
    assert legend_labels == [train.name, "Test DQN on CartPole-v1, 3 seeds (3, 4, 5): mean",
                             "Test DQN on CartPole-v1, 3 seeds (3, 4, 5): min-max"]
    result = CliRunner().invoke(main, ["plot", str(train), *map(str, tests), "-o", str(tmp_path / "cli.png")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "one curve (mean and min-max) for Test DQN on CartPole-v1, 3 seeds (3, 4, 5): "
        + ", ".join(t.name for t in tests),
        f"wrote {tmp_path / 'cli.png'}",
    ]


def test_plot_runs_mixed_setups_no_mean(tmp_path, legend_labels):
    tasks = [make_task(tmp_path, "a", 30, 0), make_task(tmp_path, "b", 30, 1, algo="PPO"),
             make_task(tmp_path, "c", 30, 2, env_id="Acrobot-v1")]
    assert_png(plot_runs(tasks, tmp_path / "mixed.png"))
    assert legend_labels == ["a", "b", "c"]


def test_plot_runs_missing_results(tmp_path):
    good = make_task(tmp_path, "good", 10, 0)
    empty = tmp_path / "not_a_task"
    empty.mkdir()
    with pytest.raises(JoyRLError, match="not_a_task") as info:
        plot_runs([good, empty], tmp_path / "x.png")
    assert "\n" not in str(info.value)
    with pytest.raises(JoyRLError):
        plot_runs([], tmp_path / "x.png")


def test_show_figure_without_display(tmp_path, monkeypatch):
    png = plot_rewards(write_episodes(tmp_path / "e.csv", 5), tmp_path / "r.png")
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "Agg")
    with pytest.raises(JoyRLError, match="no display"):
        show_figure(png)
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "TkAgg")
    monkeypatch.setattr(plots.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(JoyRLError, match="no display"):
        show_figure(png)
    with pytest.raises(JoyRLError, match="no such"):
        show_figure(tmp_path / "missing.png")
