"""The report: ``python -m derivations`` exit codes, --json, --only, --list, bad arguments."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import derivations
from derivations import REGISTRY
from derivations.__main__ import main
from _deriv_cache import edited

ROOT = Path(__file__).resolve().parents[2]


def test_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert [line.split()[0] for line in out if line.strip()] == list(REGISTRY)


def test_only_one_identity_succeeds(capsys):
    assert main(["--only", "jensen"]) == 0
    out = capsys.readouterr().out
    assert "jensen" in out and "proved" in out and "passed" in out and "elbo_gap" not in out


def test_json_parses(capsys):
    assert main(["--json", "--only", "em", "--only", "jensen"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "elbo-lab/derivations-report/v1" and report["ok"] is True
    assert [r["name"] for r in report["identities"]] == ["jensen", "em"]  # story order
    row = report["identities"][0]
    assert row["proof"]["ok"] and row["numeric"]["ok"]
    assert all(t["proof_rejected"] and t["check_rejected"] for t in row["twins"])
    assert row["seconds"]["total"] > 0


def _broken_jensen():
    ident = REGISTRY["jensen"]
    st = ident.statement  # claim the reverse inequality
    return edited(ident, 2, statement=sp.LessThan(st.lhs, st.rhs), witness=None, rel="<=")


def test_broken_registry_entry_exits_nonzero_and_names_the_step(monkeypatch, capsys):
    monkeypatch.setitem(derivations.REGISTRY, "jensen", _broken_jensen())
    assert main(["--only", "jensen", "--no-twins"]) == 1
    out = capsys.readouterr().out
    assert "failed at step 2" in out


def test_broken_numeric_check_exits_nonzero(monkeypatch, capsys):
    ident = REGISTRY["em"]
    bad = dataclasses.replace(ident, check_fn=lambda seed=0: REGISTRY["em"].wrong_twins[0].check(seed))
    monkeypatch.setitem(derivations.REGISTRY, "em", bad)
    assert main(["--only", "em", "--no-twins", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["identities"][0]["numeric"]["ok"] is False


def test_unknown_name_is_a_one_line_error(capsys):
    assert main(["--only", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "elbo_gap" in err


def test_bad_flag_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--bogus" in err


def test_module_entry_point_exit_code():
    out = subprocess.run([sys.executable, "-m", "derivations", "--only", "em", "--no-twins"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "em" in out.stdout


def test_report_lists_every_twin_of_the_identity(capsys):
    assert main(["--only", "jensen"]) == 0
    out = capsys.readouterr().out
    twins = REGISTRY["jensen"].wrong_twins
    for tw in twins:
        assert tw.name.split("~", 1)[1] in out


# --- issue 23: --seed is bounded; a reader that closes the pipe early ends the report quietly -----------------

@pytest.mark.parametrize("seed", ["-1", "1e3", "nan", "4294967296", "", "x"])
def test_bad_seed_is_a_usage_error_not_a_failed_identity(capsys, seed):
    with pytest.raises(SystemExit) as exc:
        main(["--seed", seed, "--only", "jensen"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seed" in err and "FAILED" not in err


@pytest.mark.parametrize("args", [["--list"], ["--json", "--only", "em", "--no-twins"]])
def test_a_reader_that_closes_the_pipe_early_is_not_a_failure(args):
    """``python -m derivations --list | head -c 10`` (or ``| true``): exit 0, nothing on stderr but progress."""
    p = subprocess.Popen([sys.executable, "-m", "derivations", *args], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the report is written
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "FAILED" not in err
