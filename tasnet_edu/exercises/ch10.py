"""Exercises of chapter 10 (training on a GPU).

1. ``check_steps_per_epoch(fn)``: how many optimizer steps one epoch takes on K GPUs.
2. ``check_resume_step(answer)``: where a run continues after a disconnect.
3. ``check_precision_on_t4(answer)``: which precision the trainer uses on Colab's T4 and why.
"""

from __future__ import annotations

# --- 1. steps per epoch ----------------------------------------------------------------------------------
CASES = [(20000, 4, 1), (20000, 4, 2), (20000, 6, 4), (10, 4, 1), (7, 2, 3)]


def _solution_steps_per_epoch(n_items: int, batch_size: int, world_size: int) -> int:
    return n_items // (batch_size * world_size)


def check_steps_per_epoch(fn) -> None:
    """``fn(n_items, batch_size, world_size) -> int``: optimizer steps in one epoch when each of
    ``world_size`` processes takes batches of ``batch_size`` from its share of the ``n_items`` training
    items and incomplete batches are dropped (what ``Trainer.steps_in_epoch`` does without a cap)."""
    for case in CASES:
        got, expected = fn(*case), _solution_steps_per_epoch(*case)
        assert got == expected, (
            f"fn{case} = {got}, expected {expected}. Hint: one step consumes batch_size items on *every* "
            "process at once; leftover items that do not fill a step are dropped (drop_last).")
    print("Correct: with K GPUs an epoch has K times fewer steps, each K times larger.")


# --- 2. resume after a disconnect ---------------------------------------------------------------------------
def _solution_resume_step() -> int:
    return 1200


def check_resume_step(answer) -> None:
    """A run with ``checkpoint_every=200`` is cut off by Colab while it computes step 1234. You restart
    with ``--resume``. Which step number does ``last.pt`` hold (the steps already done)?"""
    assert answer is not None and int(answer) == _solution_resume_step(), (
        f"got {answer}. Hint: last.pt is rewritten after steps 200, 400, …; the unfinished step 1234 and "
        "everything after the last multiple of 200 is lost.")
    print("Correct: 1200 steps are kept; 34 are redone, with the same batches (the order is seeded).")


# --- 3. precision on a T4 ---------------------------------------------------------------------------------
def _solution_precision_on_t4() -> str:
    return "fp16"  # utils.autocast_dtype: fp16 + loss scaling on tensor cores without bf16 units (T4, V100)


def check_precision_on_t4(answer) -> None:
    """Which dtype does ``Trainer`` run the forward pass in on a T4 GPU: ``"bf16"``, ``"fp16"`` or
    ``"fp32"``? (``tasnet_edu.utils.autocast_dtype`` decides.)"""
    assert answer in ("bf16", "fp16", "fp32"), "answer one of 'bf16', 'fp16', 'fp32'"
    assert answer != "bf16", ("the T4 (Turing, 2018) has no bf16 units: bf16 would be emulated, slower than "
                              "fp32. bf16 autocast is used from Ampere (A100, L4) on.")
    assert answer != "fp32", ("fp32 would leave the T4's tensor cores idle: they multiply fp16. The trainer "
                              "runs fp16 autocast there, with loss scaling (torch.amp.GradScaler) so that "
                              "small gradients do not underflow to zero.")
    print("Correct: fp16 autocast with loss scaling on a T4 (the SI-SNR loss still in fp32); bf16 autocast "
          "on A100/L4/H100; fp32 on a CPU.")
