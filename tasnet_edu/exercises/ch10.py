"""Exercises of chapter 10 (training on a GPU).

1. ``check_steps_per_epoch(fn)``: how many optimizer steps one epoch takes on K GPUs.
2. ``check_last_saved_step(fn)``: where a run continues after a disconnect.
3. ``check_precision(fn)``: which precision the trainer uses on which GPU, and why.
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
def _solution_last_saved_step(interrupted_during: int, checkpoint_every: int) -> int:
    return (interrupted_during - 1) // checkpoint_every * checkpoint_every


def check_last_saved_step(fn) -> None:
    """``fn(interrupted_during, checkpoint_every) -> int``: a run that writes ``last.pt`` after every
    ``checkpoint_every`` steps is cut off while it computes step ``interrupted_during``. How many steps does
    ``last.pt`` hold, so that ``--resume`` goes on from there?"""
    for case in ((1234, 200), (1200, 200), (201, 200), (150, 200), (1000, 1)):
        got, expected = fn(*case), _solution_last_saved_step(*case)
        assert got == expected, (
            f"fn{case} = {got}, expected {expected}. Hint: the step being computed is not finished; of the "
            "finished ones, only those up to the last multiple of checkpoint_every were written.")
    print("Correct: at most checkpoint_every - 1 steps are redone, with the same batches (seeded order).")


# --- 3. which precision where -----------------------------------------------------------------------------
def _solution_precision(capability) -> str:
    if capability is None or tuple(capability) < (7, 0):
        return "fp32"
    return "bf16" if tuple(capability) >= (8, 0) else "fp16"


def check_precision(fn) -> None:
    """``fn(capability) -> "bf16" | "fp16" | "fp32"``: the forward pass's precision on a CUDA GPU of compute
    capability ``(major, minor)``, or on a CPU (``None``), as ``tasnet_edu.utils.autocast_dtype`` decides."""
    gpus = {None: "a CPU", (6, 0): "a P100", (7, 0): "a V100", (7, 5): "a T4", (8, 0): "an A100",
            (8, 9): "an L4", (9, 0): "an H100"}
    for capability, name in gpus.items():
        got, expected = fn(capability), _solution_precision(capability)
        assert got == expected, (
            f"{name} ({capability}): got {got!r}, expected {expected!r}. Hint: bf16 units came with Ampere "
            "(8.0); tensor cores that multiply fp16 with Volta (7.0), and fp16 needs loss scaling; "
            "anything older, or a CPU, runs float32.")
    print("Correct: bf16 autocast on A100/L4/H100, fp16 with loss scaling on a T4 or V100, else float32.")
