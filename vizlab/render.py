"""Render scenes to ``DIR/<SceneName>.mp4`` (+ a last-frame poster ``DIR/<SceneName>.png``), and optionally
their slide decks (manim-slides' ``<SceneName>.json`` + clips) into a slides folder, from the same render.

Each scene is rendered inside ``manim.tempconfig`` (global config is restored afterwards) into a private
temporary directory under ``DIR``; the finished files are then moved into place with ``os.replace``, so a
reader never sees a half-written video.  ``DIR/manifest.json`` records, per scene, a SHA-256 over

* the scene's chapter file, the vizlab helpers (``HELPERS``),
* every input file the scene declares (``SceneSpec.inputs``: derivations sources, result files;
  a missing file hashes as "missing", so its later arrival triggers a re-render),
* the quality and the Manim version,

and a scene whose hash matches and whose video exists is skipped.  Typeset LaTeX and Pango text are
cached (content-addressed) in ``cache_dir()`` so that formulas shared by scenes are compiled once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vizlab.scenes import SCENES, SceneSpec, get_spec

__all__ = ["QUALITIES", "RenderResult", "scene_hash", "render_scene", "render", "read_manifest"]

_VIZLAB = Path(__file__).resolve().parent
HELPERS = ("palette.py", "style.py", "formulas.py", "plots.py", "fast_number.py", "camera.py", "lecture.py",
           "data.py")
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "elbo-lab/vizlab-manifest/v1"

#: --quality letter -> (pixel width, pixel height, frames per second), Manim's l/m/h presets.
QUALITIES: dict[str, tuple[int, int, int]] = {
    "l": (854, 480, 15),
    "m": (1280, 720, 30),
    "h": (1920, 1080, 60),
}


@dataclass
class RenderResult:
    name: str
    status: str  # "rendered" | "skipped" | "failed"
    seconds: float  # wall time of the render (0 when skipped)
    video: Path
    last_frame: np.ndarray | None = None  # (H, W, 3) uint8 of the final frame when rendered
    error: str = ""  # one-line reason when failed


def _manim_version() -> str:
    try:
        from importlib.metadata import version

        return version("manim")
    except Exception:  # noqa: BLE001
        return "unknown"


def scene_hash(spec: SceneSpec, quality: str) -> str:
    """SHA-256 of the scene's code, the vizlab helpers, its declared inputs, quality and Manim version."""
    h = hashlib.sha256()
    h.update(f"scene={spec.name};quality={quality};manim={_manim_version()}\n".encode())
    files = [spec.source] + [_VIZLAB / f for f in HELPERS] + list(spec.inputs())
    for p in files:
        p = Path(p)
        h.update(str(p.name).encode())
        h.update(p.read_bytes() if p.exists() else b"<missing>")
        h.update(b"\0")
    return h.hexdigest()


def read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.exists():
        return {"schema": MANIFEST_SCHEMA, "scenes": {}}
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"schema": MANIFEST_SCHEMA, "scenes": {}}
    m.setdefault("scenes", {})
    return m


def _write_json_atomic(path: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def cache_dir() -> Path:
    """Where typeset LaTeX and Pango text are cached across scenes and runs (content-addressed by Manim):
    ``$ELBO_LAB_CACHE/manim``, default ``~/.cache/elbo-lab/manim``.  Safe to delete at any time."""
    root = os.environ.get("ELBO_LAB_CACHE") or Path.home() / ".cache" / "elbo-lab"
    return Path(root) / "manim"


def render_scene(spec: SceneSpec, quality: str, out: Path, slides_dir: Path | None = None) -> RenderResult:
    """Render one scene now (no skip check); returns timing and the last frame.

    The scene is a ``LectureScene`` (a manim-slides ``Slide``): its slides (``<SceneName>.json`` and one clip
    per slide under ``files/<SceneName>/``) are written to ``slides_dir`` when given, else discarded."""
    from manim import tempconfig  # heavy import only when rendering

    width, height, fps = QUALITIES[quality]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".render-{spec.name}-", dir=out))
    t0 = time.perf_counter()
    try:
        cls = spec.load()
        cache = cache_dir()
        opts = {
            "media_dir": str(tmp / "media"),
            "tex_dir": str(cache / "Tex"),
            "text_dir": str(cache / "texts"),
            "pixel_width": width,
            "pixel_height": height,
            "frame_rate": fps,
            "output_file": spec.name,
            "disable_caching": True,
            "write_to_movie": True,
            "save_last_frame": False,
            "preview": False,
            "progress_bar": "none",
            "verbosity": "WARNING",
        }
        from manim_slides.logger import logger as slides_logger

        slides_logger.setLevel("WARNING")  # as Manim's verbosity below: one line per scene, not per slide
        with tempconfig(opts):
            scene = cls(output_folder=Path(slides_dir).resolve() if slides_dir else tmp / "slides")
            scene.render()
            movie = Path(scene.renderer.file_writer.movie_file_path)
            frame = np.array(scene.renderer.get_frame())[..., :3].copy()
        seconds = time.perf_counter() - t0
        video = out / f"{spec.name}.mp4"
        poster_tmp = tmp / f"{spec.name}.png"
        _save_png(frame, poster_tmp)
        os.replace(movie, video)
        os.replace(poster_tmp, out / f"{spec.name}.png")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return RenderResult(spec.name, "rendered", seconds, video, frame)


def _save_png(frame: np.ndarray, path: Path) -> None:
    from PIL import Image  # Manim's dependency

    Image.fromarray(frame.astype(np.uint8)).save(path)


def render(names: list[str] | None = None, quality: str = "l", out: Path | str = "media/videos",
           force: bool = False, log=print, slides_dir: Path | str | None = None) -> list[RenderResult]:
    """Render ``names`` (all scenes by default, in story order) into ``out``; skip unchanged ones.

    With ``slides_dir``, each scene's slides are written there too, and a scene is skipped only if its
    ``slides_dir/<SceneName>.json`` exists as well.

    Raises ``KeyError`` for an unknown name before rendering anything.  A scene that raises is reported
    as ``"failed"`` (its previous video and manifest entry are kept) and the others still render.
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    specs = [get_spec(n) for n in names] if names else list(SCENES)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in specs:
        digest = scene_hash(spec, quality)
        manifest = read_manifest(out)
        entry = manifest["scenes"].get(spec.name)
        video = out / f"{spec.name}.mp4"
        slides_ok = slides_dir is None or (Path(slides_dir) / f"{spec.name}.json").exists()
        if not force and entry and entry.get("hash") == digest and video.exists() and slides_ok:
            results.append(RenderResult(spec.name, "skipped", 0.0, video))
            log(f"skipped   {spec.name:<22} (unchanged)")
            continue
        try:
            res = render_scene(spec, quality, out, slides_dir=slides_dir)
        except Exception as exc:  # noqa: BLE001 - report, keep the old video, go on with the next scene
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            results.append(RenderResult(spec.name, "failed", 0.0, video, error=msg))
            log(f"FAILED    {spec.name:<22} {msg}")
            continue
        manifest = read_manifest(out)  # re-read: keep entries written meanwhile
        manifest["schema"] = MANIFEST_SCHEMA
        manifest["scenes"][spec.name] = {
            "hash": digest,
            "quality": quality,
            "seconds": round(res.seconds, 2),
            "video": video.name,
            "poster": f"{spec.name}.png",
            "rendered": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_json_atomic(out / MANIFEST, manifest)
        results.append(res)
        log(f"rendered  {spec.name:<22} {res.seconds:6.1f} s")
    n_r = sum(r.status == "rendered" for r in results)
    n_f = sum(r.status == "failed" for r in results)
    total = sum(r.seconds for r in results)
    log(f"{n_r} rendered, {len(results) - n_r - n_f} skipped, {total:.1f} s total -> {out}"
        + (f"; {n_f} FAILED" if n_f else ""))
    return results
