"""transcode's loudness normalisation: every rendition at the target, read by an independent meter (r128: Debian's
ffmpeg's ebur128 filter), on quiet, loud, clipped, music-only and silent sources."""

from __future__ import annotations

import pytest
import r128

TARGET_LUFS, CEILING_DBTP = -16.0, -1.0
WITHIN_LU = 1.0  # every rendition's integrated loudness from the target
PEAK_SLACK_DB = 0.5  # and its true peak over the ceiling at most
SECONDS = 8
PICTURE = ("-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={SECONDS}")
H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(SECONDS))
# An A minor chord over its bass, a quiet verse then a chorus 15 dB louder: music, with a loudness range wider
# than the target's 11 LU, so that one gain (linear) needs the range widened to the source's.
CHORD = ("aevalsrc='(0.04+0.2*gte(t,4))*(sin(2*PI*220*t)+sin(2*PI*261.63*t)+sin(2*PI*329.63*t)+sin(2*PI*110*t))/4'"
         f":s=48000:c=stereo:d={SECONDS}")


@pytest.fixture(scope="session")
def model_env() -> dict[str, str]:
    """transcode and burn load no model."""
    return {}


@pytest.fixture(scope="module")
def sources(make_media, english_speech):
    """name -> (video, what the meter must read on it first: the case's premise)."""
    speech = ("-i", english_speech)
    return {
        "quiet": (make_media("loud-quiet.mp4", *PICTURE, *speech, "-af", "volume=-14dB", *H264, "-c:a", "aac"),
                  lambda r: r.lufs <= -30),
        "loud": (make_media("loud-loud.mp4", *PICTURE, *speech,
                            "-af", "volume=30dB,alimiter=limit=0.9:level=false:attack=1:release=20",
                            *H264, "-c:a", "aac", "-b:a", "192k"),
                 lambda r: r.lufs >= -9.5),
        # Pink noise 12 dB over full scale, hard-clipped by the 16-bit PCM it is stored as.
        "clipped": (make_media("loud-clipped.mkv", *PICTURE, "-f", "lavfi", "-i",
                               f"anoisesrc=color=pink:amplitude=1:seed=7:d={SECONDS}",
                               "-af", "volume=12dB", "-ac", "2", *H264, "-c:a", "pcm_s16le"),
                    lambda r: r.true_peak_dbtp >= -0.1),
        # The quiet speech with a 10 ms click at full scale every 2 s: the clicks make most of its loudness, and
        # one gain would push them 8 dB over the ceiling. Limited, they lose it: the gain must make it up.
        "clicks": (make_media("loud-clicks.mkv", *PICTURE, *speech, "-f", "lavfi", "-i",
                              f"aevalsrc='0.99*sin(2*PI*1000*t)*lt(mod(t,2),0.01)':s=22050:d={SECONDS}",
                              "-filter_complex", "[1:a]volume=-14dB[s];[s][2:a]amix=normalize=0",
                              *H264, "-c:a", "pcm_s16le"),
                   lambda r: r.lufs <= -20 and r.true_peak_dbtp >= -0.5),
        "music": (make_media("loud-music.mp4", *PICTURE, "-f", "lavfi", "-i", CHORD, *H264, "-c:a", "aac",
                             "-b:a", "192k"),
                  lambda r: r.range_lu > 11),
    }


def _transcode(run_worker, source, dest, *options, env=None):
    result = run_worker("transcode", "--source", source, "--dest", dest, "--ladder", "240,120", *options, env=env)
    assert result.returncode == 0, result.stderr
    return result.manifest


@pytest.mark.parametrize(("case", "method"), [("quiet", "limited"), ("loud", "linear"), ("clipped", "linear"),
                                              ("clicks", "limited"), ("music", "linear")])
def test_every_rendition_is_at_the_target(run_worker, sources, tmp_path, case, method):
    source, premise = sources[case]
    before = r128.read(source)
    assert premise(before), before

    m = _transcode(run_worker, source, tmp_path)
    level = m["loudness"]
    assert level["input_lufs"] == pytest.approx(before.lufs, abs=0.5)  # as stereo: a mono source reads alike
    assert (level["target_lufs"], level["target_true_peak_dbtp"], level["skipped"]) == (TARGET_LUFS, CEILING_DBTP,
                                                                                       None)
    assert level["method"] == method
    assert level["output_lufs"] == pytest.approx(TARGET_LUFS, abs=WITHIN_LU)
    assert len(m["renditions"]) == 2
    for rendition in m["renditions"]:
        after = r128.read(tmp_path / rendition["file"])
        assert after.lufs == pytest.approx(TARGET_LUFS, abs=WITHIN_LU), (rendition["name"], after)
        assert after.true_peak_dbtp <= CEILING_DBTP + PEAK_SLACK_DB, (rendition["name"], after)
        # No pumping: one gain throughout, or one that moves only where the limiter shaves a peak.
        assert r128.gain_swing(before, after) <= (1.5 if case == "clicks" else 0.5)


def test_music_gets_one_gain_and_keeps_its_dynamics(run_worker, sources, tmp_path):
    source, _ = sources["music"]
    before = r128.read(source)
    m = _transcode(run_worker, source, tmp_path)
    assert m["loudness"]["method"] == "linear"
    assert m["loudness"]["target_range_lu"] == pytest.approx(before.range_lu, abs=0.5)
    after = r128.read(tmp_path / m["top"])
    assert r128.gain_swing(before, after) <= 0.2
    assert after.range_lu == pytest.approx(before.range_lu, abs=0.5)


def test_silence_is_left_as_it_is(run_worker, make_media, tmp_path):
    source = make_media("loud-silence.mp4", *PICTURE, "-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={SECONDS}",
                        *H264, "-c:a", "aac")
    m = _transcode(run_worker, source, tmp_path)
    level = m["loudness"]
    assert level["skipped"].startswith("silence")
    assert (level["input_lufs"], level["method"], level["output_lufs"]) == (None, None, None)
    for rendition in m["renditions"]:
        after = r128.read(tmp_path / rendition["file"])
        assert after.lufs == -70.0 and after.true_peak_dbtp == float("-inf")  # nothing raised out of it


def test_the_target_is_a_setting_and_normalisation_can_be_off(run_worker, sources, tmp_path):
    source, _ = sources["quiet"]
    before = r128.read(source)
    broadcast = _transcode(run_worker, source, tmp_path / "broadcast", env={"VIDEO_WORKER_LOUDNESS_TARGET_LUFS": "-23"})
    assert broadcast["loudness"]["target_lufs"] == -23.0
    assert r128.read(tmp_path / "broadcast" / broadcast["top"]).lufs == pytest.approx(-23, abs=WITHIN_LU)

    off = _transcode(run_worker, source, tmp_path / "off", "--no-normalize-loudness")
    assert off["loudness"] is None
    assert r128.read(tmp_path / "off" / off["top"]).lufs == pytest.approx(before.lufs, abs=0.5)


@pytest.mark.parametrize(("variable", "value"), [("VIDEO_WORKER_LOUDNESS_TARGET_LUFS", "-3"),
                                                 ("VIDEO_WORKER_LOUDNESS_TRUE_PEAK_DBTP", "2"),
                                                 ("VIDEO_WORKER_LOUDNESS_NORMALIZE", "maybe")])
def test_a_bad_loudness_setting_is_a_configuration_error(run_worker, sources, tmp_path, variable, value):
    source, _ = sources["quiet"]
    result = run_worker("transcode", "--source", source, "--dest", tmp_path, env={variable: value})
    assert result.returncode == 3
    assert result.manifest["kind"] == "config"
    assert result.manifest["error"].startswith(f"{variable}={value!r}")


def test_burn_carries_the_normalised_audio(run_worker, sources, tmp_path):
    source, _ = sources["loud"]
    ladder = _transcode(run_worker, source, tmp_path / "ladder")
    subs = tmp_path / "subs.srt"
    subs.write_text("1\n00:00:00,500 --> 00:00:03,500\nLoud, but not any more\n")
    result = run_worker("burn", "--source", tmp_path / "ladder" / ladder["top"], "--subtitles", f"en={subs}",
                        "--dest", tmp_path / "burn")
    assert result.returncode == 0, result.stderr
    for variant in ("burned.mp4", "soft.mp4"):
        assert r128.read(tmp_path / "burn" / variant).lufs == pytest.approx(TARGET_LUFS, abs=WITHIN_LU)


def test_a_target_out_of_loudnorms_range_is_a_usage_error(run_worker, sources, tmp_path):
    source, _ = sources["quiet"]
    result = run_worker("transcode", "--source", source, "--dest", tmp_path, "--loudness-target", "-3")
    assert result.returncode == 3
    assert result.manifest["kind"] == "usage"
    assert "--loudness-target: must be from -70 to -5, got -3" in result.manifest["error"]
