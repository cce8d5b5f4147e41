"""The closed-loop curriculum: band decisions, per-level data positions, exact state round trip."""

from __future__ import annotations

import pytest

from trueloop.config import load_config
from trueloop.tasks import task_from_config
from trueloop.types import Verdict
from trueloop.update.collect import Collected
from trueloop.update.curriculum import Curriculum

G = 4


def make(*extra: str) -> Curriculum:
    cfg = load_config(overrides=["--task.name", "chain", "--task.difficulty", "1",
                                 "--task.horizon", "1", "--curriculum.enabled", "true",
                                 "--curriculum.knob", "horizon", "--curriculum.levels", "[1,2,3]",
                                 "--curriculum.window", "4", "--curriculum.min_groups", "4",
                                 *extra])
    return Curriculum(cfg, task_from_config(cfg.task))


def batch(cur: Curriculum, passes: list[int]) -> Collected:
    """A collected batch at the curriculum's current level: group i has passes[i] of G correct."""
    task, start = cur.draw()
    problems = task.problems(len(passes), "train", 0, start=start)
    verdicts = [Verdict(k < n, float(k < n), "ok" if k < n else "wrong")
                for n in passes for k in range(G)]
    return Collected(problems, None, verdicts, None, {}, start + len(passes), {}, 1)


def test_levels_are_the_task_at_each_knob_value_with_their_own_streams() -> None:
    cur = make()
    assert [t.horizon for t in cur.tasks] == [1, 2, 3]
    assert [t.difficulty for t in cur.tasks] == [1, 1, 1]
    prompts = [t.problem(0).prompt for t in cur.tasks]
    assert len(set(prompts)) == 3


def test_moves_up_above_the_band_down_below_it_and_stays_inside() -> None:
    cur = make()
    m = cur.observe(batch(cur, [4, 4]))  # 2 groups: fewer than min_groups, no move yet
    assert cur.at == 0 and m == {"curriculum/level": 1.0, "curriculum/pass_rate/1": 1.0}
    cur.observe(batch(cur, [4, 3]))  # window mean 0.94 > 0.8 after 4 groups
    assert cur.at == 1
    assert len(cur.windows[1]) == 0 and cur.indices[0] == 4
    cur.observe(batch(cur, [2, 2, 1, 3]))  # 0.5: inside the band
    assert cur.at == 1
    cur.observe(batch(cur, [0, 0, 0, 0]))  # window (last 4 groups) mean 0 < 0.2
    assert cur.at == 0
    assert cur.windows[0] == type(cur.windows[0])()  # arriving clears the window
    assert cur.draw()[1] == 4  # level 1 resumes its own stream, not another level's position


def test_clamps_at_the_easiest_and_hardest_levels() -> None:
    cur = make()
    cur.observe(batch(cur, [0, 0, 0, 0]))
    assert cur.at == 0
    for _ in range(2):
        cur.observe(batch(cur, [4, 4, 4, 4]))
    assert cur.at == 2
    cur.observe(batch(cur, [4, 4, 4, 4]))
    assert cur.at == 2


def test_state_round_trip_gives_the_same_future() -> None:
    a = make()
    for passes in ([4, 4], [4, 4], [1, 2]):
        a.observe(batch(a, passes))
    b = make()
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    for passes in ([0, 1], [0, 0], [4, 4, 4]):
        ma, mb = a.observe(batch(a, passes)), b.observe(batch(b, passes))
        assert ma == mb and a.draw()[1] == b.draw()[1] and a.at == b.at


def test_off_tracks_the_data_position_and_logs_nothing() -> None:
    cfg = load_config(overrides=["--task.name", "chain", "--task.horizon", "2"])
    task = task_from_config(cfg.task)
    cur = Curriculum(cfg, task)
    assert cur.draw() == (task, 0)
    assert cur.observe(batch(cur, [1, 2])) == {}
    assert cur.draw() == (task, 2)
    cur.load_state_dict({"data_index": 7})  # a checkpoint from before curricula
    assert cur.draw() == (task, 7)


def test_a_checkpoint_of_other_levels_is_refused() -> None:
    state = make().state_dict()
    with pytest.raises(ValueError, match="levels"):
        make("--curriculum.levels", "[1,2]").load_state_dict(state)


@pytest.mark.parametrize("extra, match", [
    (["--curriculum.levels", "[]"], "at least one"),
    (["--curriculum.levels", "[1,1]"], "repeat"),
    (["--curriculum.start", "3"], "start"),
    (["--curriculum.band", "[0.8,0.2]"], "band"),
    (["--curriculum.min_groups", "9"], "min_groups"),
])
def test_bad_settings_say_how_to_fix_them(extra, match) -> None:
    with pytest.raises(ValueError, match=match):
        make(*extra)


def test_a_knob_the_task_lacks_fails_before_training() -> None:
    cfg = load_config(overrides=["--task.name", "arithmetic", "--curriculum.enabled", "true",
                                 "--curriculum.knob", "horizon", "--curriculum.levels", "[1,2]"])
    with pytest.raises(ValueError, match="no horizon knob"):
        Curriculum(cfg, task_from_config(cfg.task))


def test_a_task_with_run_level_state_is_refused() -> None:
    cfg = load_config(overrides=["--task.name", "memory", "--task.answer_format", "none",
                                 "--curriculum.enabled", "true", "--curriculum.knob", "horizon",
                                 "--curriculum.levels", "[2,3]"])
    with pytest.raises(ValueError, match="run-level state"):
        Curriculum(cfg, task_from_config(cfg.task))


def test_the_report_draws_per_level_curves(tmp_path) -> None:
    import json

    from trueloop.report import write_report

    rows = [{"step": s, "curriculum/level": float(1 + s // 2),
             f"curriculum/pass_rate/{1 + s // 2}": 0.5} for s in range(4)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_report(tmp_path)
    assert (tmp_path / "plots" / "curriculum.png").exists()
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 0, "reward/mean": 0.5}) + "\n")
    write_report(tmp_path)
    assert not (tmp_path / "plots" / "curriculum.png").exists()
