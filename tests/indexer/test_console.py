"""Console scripts: a closed pipe or Ctrl-C stops them quietly."""

import os
import subprocess
import sys

from indexer.console import BROKEN_PIPE_STATUS, INTERRUPTED_STATUS

SCRIPT = (
    "from indexer.console import exit_with\n"
    "def main():\n"
    "    for number in range(200_000):\n"
    "        print(f'line {number}')\n"
    "    return 0\n"
    "exit_with(main)\n"
)


def test_closed_pipe_exits_quietly():
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"line 0\n"
    # As `head -1` does: read one line, then close the pipe.
    process.stdout.close()
    _, errors = process.communicate(timeout=60)

    assert errors == b""
    assert process.returncode == BROKEN_PIPE_STATUS


def test_interrupt_exits_without_traceback():
    script = (
        "from indexer.console import exit_with\n"
        "def main():\n"
        "    raise KeyboardInterrupt\n"
        "exit_with(main)\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60
    )

    assert process.stderr == b"interrupted\n"
    assert process.returncode == INTERRUPTED_STATUS


def test_interrupt_while_importing_the_command(tmp_path):
    # As a Ctrl-C in the seconds the command's imports take.
    (tmp_path / "slow_command.py").write_text("raise KeyboardInterrupt\n")
    script = "from indexer.console import launch\nlaunch('slow_command')\n"

    process = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
    )

    assert process.stderr == b"interrupted\n"
    assert process.returncode == INTERRUPTED_STATUS


def test_python_dash_m_runs_each_command():
    for package, expected in (
        ("indexer", b"usage: indexer"),
        ("recommender", b"usage: recommender"),
    ):
        process = subprocess.run(
            [sys.executable, "-m", package, "--help"], capture_output=True, timeout=120
        )

        assert process.returncode == 0, process.stderr
        assert process.stdout.startswith(expected)
