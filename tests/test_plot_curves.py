"""scripts/plot_curves.py reads a resumed run's log.csv: repeated headers skipped, last rows kept."""

import plot_curves  # scripts/ is on pytest's pythonpath (pyproject.toml)
import pytest

HEADER = "epoch,step,train_loss,valid_si_snri,lr,train_seconds,valid_data\n"


def test_read_log_skips_repeated_headers_and_keeps_the_last_row(tmp_path):
    rows = ["2,20,-1,3.5,0.001,1,d\n", HEADER, "2,20,-1,3.0,0.001,1,d\n", "1,10,-1,2.0,0.001,1,d\n",
            "3,30,-1,4.0,0.0005,1,d\n"]
    (tmp_path / "log.csv").write_text(HEADER + "".join(rows))
    log = plot_curves.read_log(tmp_path)
    assert log == {"epoch": [1, 2, 3], "valid_si_snri": [2.0, 3.0, 4.0], "lr": [0.001, 0.001, 0.0005]}


def test_plot_marks_the_epochs_whose_learning_rate_fell(tmp_path):
    (tmp_path / "log.csv").write_text(HEADER + "1,10,-1,2.0,0.001,1,d\n2,20,-1,3.0,0.0005,1,d\n")
    ax = plot_curves.plot({"run": tmp_path}, "title")
    curve, halved = ax.get_lines()
    assert list(curve.get_xdata()) == [1, 2] and list(halved.get_xdata()) == [2]


def test_a_folder_without_a_log_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no log.csv"):
        plot_curves.read_log(tmp_path)
