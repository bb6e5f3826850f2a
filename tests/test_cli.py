"""The ``tasnet-edu`` command's wiring: one module per sub-command, imported only when that command runs.

What each command does is tested beside its library code (``test_train.py``, ``test_separate.py``, …).
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tasnet_edu import cli


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
