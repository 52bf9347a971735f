"""``python -m vizlab``: listing, unknown scene names, the manifest and its skip logic."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vizlab.__main__ import main
from vizlab.render import read_manifest, render, scene_hash
from vizlab.scenes import SCENE_NAMES, SCENES, get_spec

ROOT = Path(__file__).resolve().parents[2]


def test_list_prints_every_scene_in_story_order(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(SCENE_NAMES)


def test_scene_registry_names_classes_in_chapter_files():
    for spec in SCENES:
        assert spec.source.exists(), spec
        assert spec.name in spec.source.read_text(), f"class {spec.name} not in {spec.source.name}"
    assert len(set(SCENE_NAMES)) == len(SCENE_NAMES) >= 8


def test_unknown_scene_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vizlab", "render", "NoSuchScene", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "NoSuchScene" in err[0] and all(n in err[0] for n in SCENE_NAMES)
    assert not list(tmp_path.iterdir()), "nothing may be written for a usage error"


def test_unknown_scene_in_python_api(tmp_path):
    with pytest.raises(KeyError, match="ElboGap"):
        render(["Nope"], out=tmp_path)


def test_bad_quality_is_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vizlab", "render", "ElboGap", "--quality", "x", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2


def test_hash_follows_inputs(fixture_results, tmp_path):
    """A changed result file changes the hash of the scenes that declare it, and only theirs."""
    spec, other = get_spec("ElboSurgery"), get_spec("JensenInequality")
    before = scene_hash(spec, "l"), scene_hash(other, "l")
    path = fixture_results / "vae_d10.json"
    saved = tmp_path / "saved.json"
    shutil.copy(path, saved)
    try:
        res = json.loads(path.read_text())
        res["train"]["terms"]["avg_kl"]["value"] += 1.0
        path.write_text(json.dumps(res))
        after = scene_hash(spec, "l"), scene_hash(other, "l")
    finally:
        shutil.copy(saved, path)
    assert after[0] != before[0] and after[1] == before[1]
    assert scene_hash(spec, "l") != scene_hash(spec, "m")


@pytest.mark.slow
def test_second_render_skips_everything(rendered):
    out, results, log = rendered
    manifest = read_manifest(out)
    assert set(manifest["scenes"]) == set(SCENE_NAMES)
    assert all(line.startswith("rendered") for line in log[:-1]) and f"{len(SCENE_NAMES)} rendered" in log[-1]
    # scenes whose code and inputs did not change since (the tree is shared: others may edit derivations/)
    unchanged = [s.name for s in SCENES if manifest["scenes"][s.name]["hash"] == scene_hash(s, "l")]
    if not unchanged:
        pytest.skip("every scene's inputs changed during the test session")
    again: list[str] = []
    second = render(unchanged, quality="l", out=out, log=again.append)
    assert [r.status for r in second] == ["skipped"] * len(unchanged)
    assert "0 rendered" in again[-1]
    # atomic writes: no temporary render directories or manifest temp files are left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_failed_scene_is_reported_and_others_go_on(tmp_path, monkeypatch):
    import vizlab.render as vr

    def boom(spec, quality, out, slides_dir=None):
        raise RuntimeError(f"{spec.name} exploded")

    monkeypatch.setattr(vr, "render_scene", boom)
    log: list[str] = []
    results = vr.render(["ElboGap", "ElboSurgery"], out=tmp_path, log=log.append)
    assert [r.status for r in results] == ["failed", "failed"]
    assert log[0].startswith("FAILED") and "exploded" in log[0] and "2 FAILED" in log[-1]
    assert read_manifest(tmp_path)["scenes"] == {}


# --- issue 23: --out is checked before anything renders; usage errors are one line; broken pipes are quiet ------

@pytest.fixture
def no_render(monkeypatch):
    import vizlab.render as vr
    import vizlab.slides as vs

    def called(*a, **k):
        raise AssertionError("nothing may render for a usage error")

    monkeypatch.setattr(vr, "render", called)
    monkeypatch.setattr(vs, "build_slides", called)


@pytest.mark.parametrize("cmd", ["render", "slides"])
@pytest.mark.parametrize("where, said", [
    ("FILE", "is a file"), ("FILE/sub", "lies under"), ("/dev/null", "is a file"), ("/dev/null/x", "lies under"),
    ("a\x00b", "NUL"), ("", "usable folder"),
])
def test_bad_out_is_a_one_line_usage_error(tmp_path, capsys, no_render, cmd, where, said):
    (tmp_path / "f").write_text("a file")
    out = where.replace("FILE", str(tmp_path / "f"))
    try:
        rc = main([cmd, "ElboGap", "--out", out])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and said in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_list_to_a_closed_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "vizlab", "list"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0 and "Traceback" not in err, err
