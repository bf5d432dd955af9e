"""test_faults_processes.py - the process-level fault drivers of scripts/faults at CI size: writers
SIGKILLed at random moments, restart storms, a short multi-process load, and clock steps under faketime.
Each test asserts the figures the driver prints (one JSON line).

Longer runs: `make faults-short` and `make faults`. Needs `make` (build/nxm.so), /usr/bin/python3 and
Debian's faketime. Run with: /usr/bin/python3 -m pytest tests/test_faults_processes.py
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import driver_figures

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts" / "faults"
PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module", autouse=True)
def extension_built():
    if not (ROOT / "build" / "nxm.so").is_file():
        pytest.fail("build/nxm.so is missing: run `make` first", pytrace=False)


def drive(script, tmp_path, *args):
    done = subprocess.run([PYTHON, str(SCRIPTS / script), "--dir", str(tmp_path), *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    return driver_figures(done, script), done


def test_writers_killed_at_random_moments_lose_no_acknowledged_append(tmp_path):
    figures, done = drive("kill_loop.py", tmp_path, "--kills", 24, "--writers", 4)
    assert figures["kills"] >= 24
    assert figures["acked"] > 100
    for key in ("lost", "duplicated", "wrong_payload", "backwards", "inconsistent", "recover_mismatch",
                "corrupt", "writer_errors"):
        assert figures[key] == 0, f"{key}: {done.stderr}"
    assert done.returncode == 0


def test_the_kill_loop_sees_losses_when_writers_acknowledge_before_commit(tmp_path):
    figures, done = drive("kill_loop.py", tmp_path, "--kills", 16, "--ack-too-early")
    assert figures["lost"] > 0
    assert done.returncode == 0


def test_after_a_restart_storm_every_opener_starts_and_half_written_transactions_are_gone(tmp_path):
    figures, done = drive("restart_storm.py", tmp_path, "--rounds", 2, "--openers", 12)
    assert figures["writers_killed"] == 8
    assert figures["held_transactions"] == 2
    assert figures["held_appends"] == 120
    assert figures["max_wal_bytes_at_kill"] > 100_000, "the held transaction should have spilled into the -wal"
    assert figures["openers_started"] == figures["openers"] == 24
    assert figures["half_written_present"] == 0
    assert figures["lost"] == figures["corrupt"] == figures["recover_mismatch"] == 0
    assert done.returncode == 0, done.stderr


def test_a_short_load_with_reader_cleaner_and_checkpointer_surfaces_no_error_and_loses_nothing(tmp_path):
    figures, done = drive("load.py", tmp_path, "--seconds", 8, "--processes", 2, "--threads", 2,
                          "--long-reader-seconds", 2)
    assert figures["appends"] > 500
    assert figures["errors"] == figures["lost"] == figures["progress_backwards"] == 0, done.stderr
    assert figures["busy_timeouts"] <= figures["appends"] // 1000, "SQLITE_BUSY should stay rare"
    assert figures["integrity"] == "ok"
    assert figures["cleaned"] >= figures["cleanups"] - 1 > 0
    assert figures["checkpoints"] > 0
    assert figures["wal_bytes_after_final_checkpoint"] == 0
    assert done.returncode == 0


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime")
def test_clock_steps_back_forward_and_fast_behave_as_documented(tmp_path):
    figures, done = drive("clock_steps.py", tmp_path)
    assert figures["failed"] == [], done.stderr
    assert figures["checks"] == 12
    assert figures["cleaned_after_step_back"] == 0
    assert figures["running_execution_deleted"] is True
    assert done.returncode == 0
