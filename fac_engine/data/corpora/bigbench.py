"""Which BIG-bench tasks hold natural English text, and how one task's examples become texts.

BIG-bench (`bigbench==1.0.0` sdist, `benchmark_tasks/*/task.json`) mixes crowd-written questions,
dialogue and passages with templated puzzles, generated text and other languages. A task is read
unless its keywords or name say it is not natural English; line filters do the rest later.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from fac_engine.data.corpora.kinds import CorpusKind

EXCLUDED_KEYWORDS: frozenset[str] = frozenset({
    "non-English", "non-language", "low-resource language", "multilingual", "translation", "arithmetic",
    "mathematics", "algebra", "computer code", "algorithms",
})
"""Task keywords that mark other languages, symbols, maths or code."""

KEPT_DESPITE_KEYWORDS: frozenset[str] = frozenset({"vitaminc_fact_verification"})
"""Wikipedia sentences and claims, keyworded `arithmetic` for a few numeric claims."""

EXCLUDED_TASKS: frozenset[str] = frozenset({
    # Generated, machine-translated or templated text.
    "real_or_fake_text", "multiemo", "hyperbaton", "formal_fallacies_syllogisms_negation", "tracking_shuffled_objects",
    "logical_deduction", "logic_grid_puzzle", "temporal_sequences", "object_counting", "navigate",
    "reasoning_about_colored_objects", "penguins_in_a_table", "date_understanding", "geometric_shapes",
    "dyck_languages", "word_sorting", "word_unscrambling", "repeat_copy_logic", "simple_text_editing",
    "undo_permutation", "key_value_maps", "mult_data_wrangling", "list_functions", "unit_conversion",
    "unit_interpretation", "elementary_math_qa", "linguistic_mappings", "nonsense_words_grammar", "operators",
    "symbol_interpretation", "boolean_expressions", "sports_understanding", "ruin_names", "emoji_movie",
    "emojis_emotion_prediction", "codenames", "chess_state_tracking", "checkmate_in_one", "intersect_geometry",
    "mnist_ascii", "cifar10_classification", "ascii_word_recognition", "kanji_ascii", "matrixshapes",
    "paragraph_segmentation", "polish_sequence_labeling", "which_wiki_edit", "hindi_question_answering",
    "hinglish_toxicity", "entailed_polarity_hindi", "cryobiology_spanish", "misconceptions_russian",
    "gender_inclusive_sentences_german", "swedish_to_german_proverbs", "english_russian_proverbs", "kannada",
    "persian_idioms", "parsinlu_qa", "parsinlu_reading_comprehension", "conlang_translation", "language_games",
    "international_phonetic_alphabet_nli", "international_phonetic_alphabet_transliterate", "simp_turing_concept",
    "color", "periodic_elements", "modified_arithmetic", "semantic_parsing_spider", "semantic_parsing_in_context_sparc",
    "unnatural_in_context_learning", "linguistics_puzzles", "cryptonite",
})
"""Task folders skipped whatever their keywords (any path component matches)."""

CHAT_TASKS: frozenset[str] = frozenset({"topical_chat", "movie_dialog_same_or_different",
                                        "play_dialog_same_or_different"})
"""Dialogue tasks: their turns are chat, not passages."""

TARGETS_ONLY: frozenset[str] = frozenset({"topical_chat"})
"""Tasks whose input is the whole dialogue so far (every example repeats it): only the targets,
one new turn each, are read."""

MIN_TARGET_WORDS = 3
"""Shorter targets (yes / no, a name, a number) add nothing a passage does not."""

QUESTION_MAX_CHARS = 300
"""A line this short or shorter that ends with `?` is read as a question of its own."""

_TASK_QUESTION = re.compile(r"\s*(?:\n|-----\s*)\s*In the preceding (?:dialogue|conversation)\b.*", re.S)
_QUESTION_LABEL = re.compile(r"^\s*(?:Question|Q)\s*[:\-]", re.I)


def task_is_read(task_path: str, task: Mapping[str, Any]) -> bool:
    """Whether the task at `task_path` (folders under benchmark_tasks/, e.g. `gem/xsum`) holds natural English."""
    parts = set(task_path.split("/"))
    if parts & EXCLUDED_TASKS:
        return False
    keywords = task.get("keywords")
    keywords = set(keywords) if isinstance(keywords, list) else set()
    return bool(parts & KEPT_DESPITE_KEYWORDS) or not keywords & EXCLUDED_KEYWORDS


def _is_question(line: str) -> bool:
    text = line.strip()
    return bool(_QUESTION_LABEL.match(text)) or (len(text) <= QUESTION_MAX_CHARS and text.endswith("?"))


def split_questions(text: str, other: CorpusKind) -> Iterator[tuple[str, CorpusKind]]:
    """Question lines as `question` texts of their own; runs of other lines joined as `other`."""
    run: list[str] = []
    for line in text.split("\n"):
        if _is_question(line):
            if run:
                yield "\n".join(run), other
                run = []
            yield line.strip(), "question"
        elif line.strip():
            run.append(line)
    if run:
        yield "\n".join(run), other


def _targets(example: Mapping[str, Any]) -> list[str]:
    target = example.get("target")
    values = target if isinstance(target, list) else [target]
    return [t for t in values if isinstance(t, str) and len(t.split()) >= MIN_TARGET_WORDS]


def read_bigbench_task(task_path: str, task: Mapping[str, Any]) -> Iterator[tuple[int, int, str, str, CorpusKind]]:
    """(example index, part, text, field, kind) of every text of one task; nothing for a skipped task.

    Inputs of dialogue tasks are chat (the question appended to them is cut off); other inputs
    are passages with their question lines split out. Targets are answers, or questions when they
    are question-shaped (the question-generation tasks).
    """
    examples = task.get("examples")
    if not task_is_read(task_path, task) or not isinstance(examples, list):
        return
    name = task_path.split("/")[-1]
    chat = bool(set(task_path.split("/")) & CHAT_TASKS)
    for row, example in enumerate(examples):
        if not isinstance(example, dict):
            continue
        part = 0
        source = example.get("input")
        if isinstance(source, str) and name not in TARGETS_ONLY:
            if chat:
                pieces: Iterator[tuple[str, CorpusKind]] = iter([(_TASK_QUESTION.sub("", source), "chat")])
            else:
                pieces = split_questions(source, "passage")
            for text, kind in pieces:
                yield row, part, text, "input", kind
                part += 1
        for target in _targets(example):
            target_kind: CorpusKind = "chat" if chat else "question" if _is_question(target) else "answer"
            yield row, part, target.strip().strip('"'), "target", target_kind
            part += 1
