"""Each stage's execution_timeout: a base plus a multiple of the video's duration, or a setting."""

from __future__ import annotations

import pytest

from video_pipeline.stage_timeouts import BASE_S, PER_VIDEO_SECOND, parse_overrides, stage_timeout


def test_the_timeout_grows_with_the_video():
    short, long = stage_timeout("transcode", 60, ""), stage_timeout("transcode", 7200, "")
    assert short.total_seconds() == BASE_S + 60 * PER_VIDEO_SECOND["transcode"]
    assert long.total_seconds() == BASE_S + 7200 * PER_VIDEO_SECOND["transcode"]
    assert stage_timeout("probe", None, "").total_seconds() == BASE_S  # before the duration is known


def test_a_setting_fixes_one_stage_and_leaves_the_others():
    assert stage_timeout("detect", 7200, "detect=30, burn=40").total_seconds() == 30
    assert stage_timeout("transcode", 10, "detect=30").total_seconds() == BASE_S + 10 * PER_VIDEO_SECOND["transcode"]


@pytest.mark.parametrize(("text", "message"), [("transcod=30", "unknown stage 'transcod'"),
                                               ("detect=0", "positive"), ("detect=soon", "positive"),
                                               ("detect", "positive")])
def test_a_bad_setting_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(text)
