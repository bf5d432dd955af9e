"""test_faults_power.py - the C fault drivers at CI size: simulated power loss, I/O errors, full disks and
failed allocations, each asserted on the figures the driver prints (one JSON line).

The drivers are tests/faults/*.c, built by make into build/faults/ (this module asks for them once; the
sanitizer builds of `make faults-bin` are left to `make faults-short`, which needs clang). Longer runs:
`make faults-short` and `make faults`. Run with: /usr/bin/python3 -m pytest tests/test_faults_power.py
"""

import subprocess
from pathlib import Path

import pytest

from conftest import driver_figures

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "build" / "faults"


@pytest.fixture(scope="module", autouse=True)
def drivers_built():
    targets = [f"build/faults/{name}" for name in ("power_loss", "io_faults", "oom")]
    done = subprocess.run(["make", "-s", *targets], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building the fault drivers failed:\n{done.stdout}{done.stderr}", pytrace=False)


def drive(program, tmp_path, *args):
    done = subprocess.run([str(BIN / program), "--dir", str(tmp_path), *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    return driver_figures(done, program), done


# ---- power loss ----------------------------------------------------------------------------------------

def test_with_the_default_synchronous_setting_no_power_loss_loses_or_corrupts_anything(tmp_path):
    figures, done = drive("power_loss", tmp_path, "--expect", "clean")
    assert figures["synchronous"] == 2, "the extension must leave synchronous at FULL"
    assert figures["power_losses"] >= 400
    assert figures["acked"] > 1000
    for key in ("lost", "resurrected", "backwards", "corrupt", "inconsistent", "recover_mismatch",
                "unusable", "child_failures"):
        assert figures[key] == 0, f"{key}: {done.stderr}"
    assert done.returncode == 0


@pytest.mark.parametrize("scenario", ["append", "checkpoint", "cleanup"])
def test_every_scenario_has_crash_points_to_cover(tmp_path, scenario):
    figures, _ = drive("power_loss", tmp_path, "--scenario", scenario, "--stride", 50)
    assert figures["ops_per_run"][scenario] >= 60
    assert figures["power_losses"] >= 2


def test_with_synchronous_normal_losses_are_only_the_newest_commits_and_nothing_is_corrupt(tmp_path):
    figures, done = drive("power_loss", tmp_path, "--sync", "normal", "--stride", 4, "--expect", "tail-loss")
    assert figures["synchronous"] == 1
    assert figures["lost"] > 0, "NORMAL does not sync each commit: some power losses must lose appends"
    assert figures["losses_not_newest"] == 0
    assert figures["corrupt"] == figures["inconsistent"] == figures["recover_mismatch"] == 0
    assert done.returncode == 0


@pytest.mark.parametrize("sync", ["off", "noop"])
def test_the_power_loss_check_reports_losses_when_syncs_do_not_happen(tmp_path, sync):
    figures, done = drive("power_loss", tmp_path, "--sync", sync, "--stride", 7, "--expect", "losses")
    assert figures["lost"] > 0
    assert done.returncode == 0


# ---- I/O errors and full disks --------------------------------------------------------------------------

CALLS = ["append", "append_new_execution", "append_autocheckpoint", "append_fresh_database", "begin",
         "recover", "cleanup", "ttl", "progress", "pending", "checkpoint"]


@pytest.mark.parametrize("call", CALLS)
def test_an_io_error_or_full_disk_at_any_step_returns_a_clear_error_and_harms_nothing(tmp_path, call):
    figures, done = drive("io_faults", tmp_path, "--call", call)
    assert figures["faults"] > 0
    assert figures["unclear_errors"] == 0, done.stderr
    assert figures["retry_failures"] == 0, done.stderr
    assert figures["verify_failures"] == 0, done.stderr


def test_every_kind_of_io_fault_is_injected(tmp_path):
    figures, _ = drive("io_faults", tmp_path, "--call", "checkpoint")
    assert all(figures["kinds"][kind]["faults"] > 0 for kind in ("read", "write", "sync", "truncate", "full"))


def test_an_append_refused_for_bad_json_does_no_io_so_no_fault_can_reach_it(tmp_path):
    figures, done = drive("io_faults", tmp_path, "--call", "append_invalid_json")
    assert figures["faults"] == 0
    assert figures["retry_failures"] == 0, done.stderr


def test_refused_appends_take_no_write_lock_and_write_nothing_even_on_a_full_disk(tmp_path):
    figures, done = drive("io_faults", tmp_path, "--call", "refusals")
    assert figures["validation_checks"] == 12
    assert figures["validation_failures"] == 0, done.stderr


# ---- out of memory ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["open", "append_invalid_json"] + CALLS)
def test_a_failed_allocation_returns_nomem_or_a_clear_error_and_leaks_nothing(tmp_path, call):
    figures, done = drive("oom", tmp_path, "--call", call, "--stride", 11)
    assert figures["runs"] > 0
    assert figures["unclear_errors"] == 0, done.stderr
    assert figures["retry_failures"] == 0, done.stderr
    assert figures["verify_failures"] == 0, done.stderr
    assert figures["leaks"] == 0, done.stderr
    # Only a call that creates the schema may leave its transaction for the next call to end
    # (write_scope.c, end_stranded); verify_failures above says the next call did end it.
    if call != "append_fresh_database":
        assert figures["stranded"] == 0, done.stderr


def test_cjson_allocations_are_failed_too(tmp_path):
    figures, _ = drive("oom", tmp_path, "--call", "append_invalid_json")
    assert figures["failed_allocations"]["cjson"] > 0


def test_the_leak_check_reports_a_leak_made_on_purpose(tmp_path):
    figures, _ = drive("oom", tmp_path, "--call", "recover", "--stride", 100, "--leak-on-purpose")
    assert figures["leaks"] > 0
