"""Where a subtitle may break: the timed-text style guides' rules as penalties.

Netflix's timed-text style guide, which caption tools follow, breaks a line (and
a subtitle) after punctuation or before a conjunction or preposition (or, as a
clause starts there too, a subject pronoun), and never
after an article, a preposition or a conjunction, which would split the phrase
they start. No part-of-speech tagger is needed for that: the words that start
a phrase are a short closed list per language. A language without a list is
broken at punctuation, and elsewhere only to stay within the limits.
"""

from __future__ import annotations

import re

SENTENCE_END = ".?!…"
CLAUSE_END = ",;:–—"

# Words that start a clause or a phrase, per language: breaking before them keeps the phrase whole.
CONJUNCTIONS = {
    "en": "and but or nor so yet because although though while whereas unless until since if when whenever "
          "where wherever whether than as that which who whom whose what why how once after before",
    "fr": "et mais ou donc car ni or que qui quand lorsque puisque comme si parce quoique dont où",
    "de": "und aber oder denn sondern weil dass ob wenn als während obwohl damit bevor nachdem bis wie",
    "es": "y e o u pero sino porque aunque que quien cuando donde como si mientras pues",
}
PREPOSITIONS = {
    "en": "of to in on at for with from by about into onto over under after before between through during "
          "without within across against along among around behind beside beyond near toward towards upon",
    "fr": "de du des à au aux dans pour avec sur sous par sans chez vers entre contre depuis pendant après avant",
    "de": "von zu in an auf für mit aus bei nach über unter vor hinter neben zwischen durch gegen ohne um",
    "es": "de del a al en con por para sin sobre entre hasta desde hacia contra tras ante bajo según",
}
# Subject pronouns start a clause too ("In the afternoon / we visit"); the ones that can be objects are left out.
SUBJECTS = {
    "en": "i we he she they",
    "fr": "je tu il elle nous ils elles on",
    "de": "ich du er wir",
    "es": "yo tú él ella nosotros nosotras ellos ellas",
}
# Words that must not end a line: they belong to what follows (articles, determiners, possessives).
LEADING = {
    "en": "the a an this that these those my your his her its our their some any no every each",
    "fr": "le la les l' un une des ce cet cette ces mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs",
    "de": "der die das den dem des ein eine einen einem einer eines mein dein sein ihr unser euer kein",
    "es": "el la los las un una unos unas este esta estos estas ese esa mi mis tu tus su sus nuestro nuestra",
}

BEST, CLAUSE, BEFORE_CONJUNCTION, BEFORE_PREPOSITION, BEFORE_SUBJECT, MID_PHRASE, SPLITS_PHRASE = (
    0.0, 0.5, 1.0, 1.5, 1.5, 4.0, 10.0)


def _words(table: dict[str, str], language: str | None) -> frozenset[str]:
    return frozenset(table.get((language or "en").split("-")[0].lower(), "").split())


def _bare(word: str) -> str:
    return re.sub(r"[^\w'’]", "", word.lower())


class Breaker:
    """Penalties for breaking between two words, for one language."""

    def __init__(self, language: str | None) -> None:
        self.conjunctions = _words(CONJUNCTIONS, language)
        self.prepositions = _words(PREPOSITIONS, language)
        self.subjects = _words(SUBJECTS, language)
        self.leading = _words(LEADING, language) | self.prepositions | self.conjunctions

    def penalty(self, left: str, right: str) -> float:
        """Cost of a break between ``left`` and ``right`` (0 is a sentence end, 10 splits a phrase)."""
        if left[-1] in SENTENCE_END or left.endswith(tuple(q + m for q in SENTENCE_END for m in "\"'»”)")):
            return BEST
        if left[-1] in CLAUSE_END:
            return CLAUSE
        if _bare(left) in self.leading:
            return SPLITS_PHRASE
        nxt = _bare(right)
        if nxt in self.conjunctions:
            return BEFORE_CONJUNCTION
        if nxt in self.prepositions:
            return BEFORE_PREPOSITION
        if nxt in self.subjects:
            return BEFORE_SUBJECT
        return MID_PHRASE

    def is_clean(self, left: str, right: str) -> bool:
        """Whether the guides accept this break: after punctuation, or before a conjunction, preposition or subject."""
        return self.penalty(left, right) <= max(BEFORE_PREPOSITION, BEFORE_SUBJECT)
