"""translation and languages: sentences to translate, English spread over the source cues' times, codes and names."""

from __future__ import annotations

import pytest

from video_worker import languages
from video_worker.errors import UsageError
from video_worker.linebreak import Breaker
from video_worker.subtitles import Cue
from video_worker.translation import clip_texts, sentence_clips, spread


def cue(start: float, end: float, text: str) -> Cue:
    return Cue(start, end, (text,))


FRENCH = [
    cue(0.0, 2.5, "Je m'appelle Marie"),
    cue(2.6, 5.0, "et j'habite à Paris."),
    cue(5.2, 8.0, "C'est une très belle ville."),
    cue(11.0, 13.0, "Le matin, je prends un café"),  # after a 3 s pause
]


def test_cues_are_grouped_into_sentences_and_split_at_long_pauses():
    assert sentence_clips(FRENCH) == [[0, 1], [2], [3]]
    long = [cue(i * 5.0, i * 5.0 + 4.9, "sans fin") for i in range(8)]  # no sentence end, 40 s
    groups = sentence_clips(long)
    assert all(long[g[-1]].end - long[g[0]].start <= 28 for g in groups) and sum(map(len, groups)) == 8


def test_translated_segments_go_to_the_clip_they_fall_in():
    clips = [(0.0, 5.0), (5.2, 8.0), (11.0, 13.0)]
    segments = [{"start": 0.0, "end": 2.0, "text": "My name is Marie"},
                {"start": 2.0, "end": 5.0, "text": "and I live in Paris."},
                {"start": 5.3, "end": 7.9, "text": "It is a very nice city."},
                {"start": 13.5, "end": 14.0, "text": "In the morning"}]  # past its clip's end: the nearest
    assert clip_texts(segments, clips) == ["My name is Marie and I live in Paris.", "It is a very nice city.",
                                           "In the morning"]


def test_the_english_keeps_each_source_cue_and_breaks_where_the_rules_prefer():
    english = spread("My name is Marie and I live in Paris.", FRENCH[:2], Breaker("en"))
    assert [(c.start, c.end) for c in english] == [(0.0, 2.5), (2.6, 5.0)]
    assert [c.text for c in english] == ["My name is Marie", "and I live in Paris."]  # before the conjunction


def test_each_english_cue_keeps_its_source_cues_speaker():
    spoken = [Cue(c.start, c.end, c.lines, f"Speaker {n % 2 + 1}") for n, c in enumerate(FRENCH[:2])]
    english = spread("My name is Marie and I live in Paris.", spoken, Breaker("en"))
    assert [c.speaker for c in english] == ["Speaker 1", "Speaker 2"]


def test_fewer_words_than_cues_leaves_cues_out_rather_than_splitting_words():
    english = spread("Hello.", FRENCH[:2], Breaker("en"))
    assert len(english) == 1 and english[0].text == "Hello." and (english[0].start, english[0].end) in {
        (0.0, 2.5), (2.6, 5.0)}
    assert spread("", FRENCH[:2], Breaker("en")) == []


def test_long_text_wraps_onto_two_lines_within_the_cue_and_no_word_is_lost():
    source = [cue(0.0, 6.0, "Le matin, je prends un café et un croissant avant le travail")]
    [fits] = spread("In the morning I always take a coffee and a croissant before work", source, Breaker("en"))
    assert len(fits.lines) == 2 and all(len(line) <= 42 for line in fits.lines)
    assert fits.lines[1].startswith("and")  # before the conjunction
    longer = "In the morning I always take a coffee and a croissant before I go to work on the metro"
    [over] = spread(longer, source, Breaker("en"))  # 87 characters: a third line (the norm count reports it)
    assert " ".join(over.lines) == longer and all(len(line) <= 42 for line in over.lines)


@pytest.mark.parametrize(("code", "alpha3", "name"), [
    ("en", "eng", "English"), ("fr", "fra", "French"), ("de", "deu", "German"), ("zh", "zho", "Chinese"),
    ("pt-BR", "por", "Portuguese (Brazil)"), ("und", "und", "Unknown language"), ("xx", "und", "xx"),
])
def test_language_codes_and_names_come_from_the_standards(code, alpha3, name):
    assert (languages.alpha3(code), languages.name(code)) == (alpha3, name)


def test_a_track_names_its_language():
    assert languages.parse_track("fr=s3://b/k/subtitles.vtt") == ("fr", "s3://b/k/subtitles.vtt")
    for bad in ("subtitles.vtt", "French=a.vtt", "fr="):
        with pytest.raises(UsageError, match="LANG=URI"):
            languages.parse_track(bad)
