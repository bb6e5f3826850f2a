"""The ``tasnet-edu`` command's wiring: one module per sub-command, imported only when that command runs.

What each command does is tested beside its library code (``test_train.py``, ``test_separate.py``, …).
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tasnet_edu import cli, train
from tasnet_edu.cli import train as train_command


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_command_has_its_module_and_help(command, capsys):
    module = importlib.import_module(cli.COMMANDS[command][0])
    assert callable(module.configure_parser) and callable(module.run)
    with pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tasnet-edu {command} ")


def test_the_command_list_loads_no_command_module():
    """``tasnet-edu --help`` lists the commands without importing them (nor the library behind them)."""
    code = ("import sys; from tasnet_edu import cli; cli.build_parser(); "
            "print(' '.join(m for m in sys.modules if m.startswith('tasnet_edu.cli.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == ""


@pytest.mark.parametrize("module", ["tasnet_edu", "tasnet_edu.cli"])
def test_python_m_runs_the_command(module):
    """``python -m tasnet_edu`` and ``python -m tasnet_edu.cli`` (what ``torchrun -m`` starts) run it."""
    run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("usage: tasnet-edu ")


def train_args(*flags: str):
    return cli.build_parser("train").parse_args(["train", "--data", "d", "--out", "o", *flags])


def test_train_flags_of_zero_override_the_preset():
    """``--max-db 0`` (equal levels), ``--partial 0`` and ``--seed 0`` are values, not flags left out."""
    given = train_command.overrides(train_args("--max-db", "0", "--partial", "0", "--seed", "0"))
    assert given == {"max_db": 0.0, "partial": 0.0, "seed": 0}
    assert train_command.overrides(train_args()) == {}


@pytest.mark.parametrize("share", ["single", "rooms"])
def test_dynamic_mixing_shares_reach_the_config_and_the_training_set(share, wsj_tree):
    assert train_command.overrides(train_args(f"--{share}", "0")) == {share: 0.0}
    given = train_command.overrides(train_args(f"--{share}", "0.25"))
    config = train.preset("cpu-tiny", dynamic_mix=True, **given)
    train_set, _ = train.make_datasets("wsj0-2mix", wsj_tree, config)
    assert getattr(train_set, share) == 0.25
    plain, _ = train.make_datasets("wsj0-2mix", wsj_tree, train.preset("cpu-tiny", dynamic_mix=True))
    assert getattr(plain, share) == 0.0


@pytest.mark.parametrize(("flag", "value", "why"), [
    ("--epochs", "0", "at least one epoch"), ("--batch-size", "-2", "at least one crop"),
    ("--lr", "0", "a learning rate must be above 0"), ("--segment", "0", "longer than 0 seconds")])
def test_train_refuses_sizes_of_zero_or_less_in_one_line(flag, value, why, capsys):
    """Refused before any data is read or model built (``--data`` and ``--out`` do not exist here)."""
    assert cli.main(["train", "--data", "d", "--out", "o", flag, value]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tasnet-edu train: error: {flag} ") and why in err[0]
