"""Learning-rate multiplier: warm-up then constant / linear / cosine decay."""

import pytest
import torch

from trueloop.update.schedule import lr_lambda, make_scheduler


def lam(step, decay="cosine", warmup=4, total=14):
    return lr_lambda(step, warmup_steps=warmup, total_steps=total, decay=decay)


def test_warmup_is_linear_and_starts_above_zero():
    assert [lam(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("decay, mid", [("constant", 1.0), ("linear", 0.5), ("cosine", 0.5)])
def test_decay_shapes(decay, mid):
    assert lam(4, decay) == 1.0  # end of warm-up: full rate
    assert lam(9, decay) == pytest.approx(mid)  # halfway through the 10 decay steps
    assert 0.0 <= lam(13, decay) <= 1.0
    assert lam(100, decay) == pytest.approx(0.0 if decay != "constant" else 1.0)


def test_cosine_above_linear_in_first_half():
    assert lam(6, "cosine") > lam(6, "linear")


def test_no_warmup_starts_at_full_rate():
    assert lam(0, "linear", warmup=0, total=10) == 1.0


def test_unknown_decay_lists_known():
    with pytest.raises(ValueError, match="known: .*cosine"):
        lam(0, "step")


def test_make_scheduler_drives_optimizer():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, warmup_steps=2, total_steps=4, decay="linear")
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.5, 1.0, 1.0, 0.5])
