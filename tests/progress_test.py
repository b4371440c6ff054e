"""hc_tf.console.progress and the --quiet option: a bar on a terminal's stderr only."""

import io
import os

import pytest
from click.testing import CliRunner

from hc_tf import cli
from hc_tf.console import progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
SAMPLE = os.path.join(ROOT, "hc_tf", "sample_data")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_wanted_only_on_a_terminal_and_not_quiet():
    assert progress.wanted(stream=_Terminal())
    assert not progress.wanted(quiet=True, stream=_Terminal())
    assert not progress.wanted(stream=io.StringIO())  # a pipe or a file
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert not progress.wanted(stream=closed)


def test_bar_passes_items_through_and_draws_only_when_enabled():
    out = _Terminal()
    assert list(progress.bar(range(5), True, desc="evaluate", stream=out)) == list(range(5))
    assert "evaluate" in out.getvalue() and "5/5" in out.getvalue()
    off = _Terminal()
    assert list(progress.bar(iter("abc"), False, stream=off)) == ["a", "b", "c"]
    assert off.getvalue() == ""


def _predict(tmp_path, *extra):
    return CliRunner().invoke(cli.main, ["predict", "--model", MODEL, f"{SAMPLE}/test_set",
                                         "--pixel-size", "0.2", "--out", str(tmp_path / "o"),
                                         *extra])


def test_predict_draws_a_bar_on_a_terminal_and_not_with_quiet(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "wanted", lambda quiet=False, stream=None: not quiet)
    result = _predict(tmp_path)
    assert result.exit_code == 0, result.output
    assert "predict: 100%" in result.stderr and "4/4" in result.stderr
    quiet = _predict(tmp_path / "q", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert "predict:" not in quiet.stderr


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    result = _predict(tmp_path)  # CliRunner's stderr is not a terminal
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_evaluate_draws_a_bar_with_the_sample_count(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "wanted", lambda quiet=False, stream=None: not quiet)
    result = CliRunner().invoke(cli.main, ["evaluate", "--model", MODEL, "--data-dir", SAMPLE,
                                           "--out", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    assert "evaluate: 100%" in result.stderr and "24/24" in result.stderr
    assert "ADF" in result.stdout and "evaluate:" not in result.stdout


@pytest.mark.parametrize("command", ["evaluate", "predict", "parity"])
def test_quiet_is_documented(command):
    result = CliRunner().invoke(cli.main, [command, "--help"])
    assert "--quiet" in result.output


def test_parity_compare_draws_one_bar_over_both_models(capsys):
    import numpy as np

    from hc_tf import inference
    from hc_tf.export import parity

    class Blank:
        input_hw = (32, 32)

        def predict(self, inputs):
            return np.zeros(inputs.shape[:3], np.float32)

    samples = [inference.Sample(f"{i}.png", np.zeros((40, 60), np.uint8), 0.1) for i in range(3)]
    rows = parity.compare(Blank(), Blank(), samples, batch_size=2, show_progress=True)
    assert len(rows) == 3
    assert "parity: 100%" in capsys.readouterr().err
