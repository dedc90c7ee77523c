"""The search index's words and shards, and what the upload page accepts: small functions, no servers."""

from __future__ import annotations

import pytest

from video_pipeline import search_index, uploads
from video_pipeline.config import Settings


def test_words_are_folded_as_the_page_folds_what_is_typed():
    assert search_index.terms("Élève: the CAT's naïve-ish, a 2nd try") == [
        "eleve", "the", "cat", "naive", "ish", "2nd", "try"]  # one-letter words are left out
    assert [search_index.shard(t) for t in search_index.terms("cat 2nd élan 日本")] == ["ca", "2n", "el", "__"]


def test_postings_list_each_cue_once_per_word_and_a_republish_replaces_them():
    cues = [(0.0, "The cat sat. The cat!"), (2.5, "A dog and the cat")]
    new = search_index.postings("v1", cues)
    assert new["ca"] == {"cat": [["v1", 0], ["v1", 1]]} and new["th"] == {"the": [["v1", 0], ["v1", 1]]}
    shard = search_index.merged({"cat": [["v0", 3]], "cab": [["v1", 9]]}, "v1", new["ca"])
    assert shard == {"cat": [["v0", 3], ["v1", 0], ["v1", 1]]}  # v1's stale "cab" is gone
    assert search_index.merged(shard, "v1", {}) == {"cat": [["v0", 3]]}


def test_an_index_entry_lists_each_animal_once_with_its_first_moment():
    item = {"video_id": "v", "title": "t.mp4", "duration_s": 8, "language_name": "French",
            "animals": [{"label": "cat", "first_s": 3.0}, {"label": "dog", "first_s": 1.0},
                        {"label": "cat", "first_s": 6.0}]}
    entry = search_index.entry(item, "videos/v/index.html", None)
    assert entry["animals"] == [["cat", 3.0], ["dog", 1.0]] and entry["language"] == "French"


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(upload_max_bytes=100 * 1024 * 1024)


def test_uploads_take_video_files_by_extension_and_refuse_the_rest(settings):
    assert uploads.content_type(uploads.Request("Clip.MKV", 10, ""), settings) == "video/x-matroska"
    assert uploads.content_type(uploads.Request("a.mov", 10, "video/quicktime"), settings) == "video/quicktime"
    with pytest.raises(uploads.UploadRefused, match=r"notes.txt is not a video file .*\.mp4") as refused:
        uploads.content_type(uploads.Request("notes.txt", 10, "text/plain"), settings)
    assert refused.value.status == 415
    with pytest.raises(uploads.UploadRefused, match="fake.mp4 is text/html, not a video"):
        uploads.content_type(uploads.Request("fake.mp4", 10, "text/html"), settings)


def test_uploads_over_the_limit_or_empty_are_refused(settings):
    uploads.check_size(uploads.Request("a.mp4", 100 * 1024 * 1024), settings)
    with pytest.raises(uploads.UploadRefused, match=r"a.mp4 is 100.1 MB; uploads are limited to 100.0 MB") as big:
        uploads.check_size(uploads.Request("a.mp4", 100 * 1024 * 1024 + 100_000), settings)
    assert big.value.status == 413
    with pytest.raises(uploads.UploadRefused, match="empty"):
        uploads.check_size(uploads.Request("a.mp4", 0), settings)


@pytest.mark.parametrize(("name", "safe"), [
    ("holiday clip.mp4", "holiday clip.mp4"),
    ("C:\\Users\\me\\Videos\\Été 2026.MOV", "Été 2026.mov"),
    ("../../etc/passwd.mp4", "passwd.mp4"),
    ("<script>alert(1)</script>.mp4", "script.mp4"),  # "/" ends a folder: the name is what follows it
    ("what? a *great* day|.mp4", "what_ a _great_ day.mp4"),
    ("tab\tand\nnewline.mp4", "tab_and_newline.mp4"),
    ("...mp4", "video.mp4"),
    ("a" * 300 + ".webm", "a" * 115 + ".webm"),
])
def test_keys_keep_the_files_name_readable_and_harmless(name, safe):
    assert uploads.safe_name(name) == safe


@pytest.mark.parametrize(("metadata", "name"), [
    ({"original-name": "holiday%20clip.mp4"}, "holiday clip.mp4"),
    ({"original-name": "%E2%80%AEgnp.mp4%0A%3Cb%3E"}, "gnp.mp4 <b>"),  # set by hand: cleaned as the form does
    ({"original-name": "%00%01"}, None),  # nothing printable: the title comes from the key
    ({}, None),  # an S3 event's or the CLI's upload
])
def test_uploaded_names_are_read_back_as_plain_text_or_none(metadata, name):
    assert uploads.uploaded_name({"ETag": '"e"', "Metadata": metadata}) == name
