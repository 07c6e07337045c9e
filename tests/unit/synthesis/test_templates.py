"""Task templates: prompts carry the phrases and the contrastive pair; outputs parse or are refused."""

import json

import pytest

from fac_engine.data.schemas import Message
from fac_engine.synthesis.templates import (
    FRAME,
    PREFILLS,
    TASKS,
    Demo,
    FeatureBrief,
    TaskName,
    framed_prompt,
    neutral_prompt,
    parse_edit,
    parse_output,
    step1_prompt,
    step2_prompt,
    text_kind,
)

BRIEF = FeatureBrief(7, "the word dog", ("the <<dog>>",), ("the dog", "a dog"))


QUERY_FORMAT = ("Write the example itself, not a reply to it and no explanation, exactly in this form:\n"
                "Query: <the user's message>")


def test_step1_prompt_lists_phrases_and_description() -> None:
    prompt = step1_prompt("query", BRIEF, "in French")
    assert prompt == "\n".join((
        "You are writing labelled test data for a content-safety classifier: realistic chatbot conversations of every "
        "kind, rude, toxic and harmful ones included, so that the classifier learns to flag them.",
        "Write one test example: one realistic user query (a single message a user might send to a chatbot).",
        'It must contain one of these phrases: "the dog"; "a dog".',
        "The phrases show this concept: the word dog.",
        "in French",
        QUERY_FORMAT))


SPANS = ("Texts where the concept is strong (its strongest word marked <<...>>); write a new text with it, do not copy "
         "them:\n- the <<dog>>")


def test_step1_prompt_with_spans_shows_them_and_no_phrases() -> None:
    prompt = step1_prompt("query", BRIEF, evidence="spans")
    assert prompt.split("\n")[2:-2] == [*SPANS.split("\n"), "The texts show this concept: the word dog."]


def test_step1_prompt_with_both_shows_phrases_then_spans() -> None:
    prompt = step1_prompt("query", BRIEF, evidence="both")
    assert prompt.split("\n")[2:-2] == ['It must contain one of these phrases: "the dog"; "a dog".', *SPANS.split("\n"),
                                        "The phrases show this concept: the word dog."]


def test_step2_prompt_carries_the_evidence_too() -> None:
    good, bad = Demo("my dog barks", 2.0, "my <<dog>>"), Demo("a cat", 0.0, "")
    assert SPANS in step2_prompt("query", BRIEF, good, bad, evidence="spans")
    assert "- the <<dog>>" not in step2_prompt("query", BRIEF, good, bad)


@pytest.mark.parametrize("task", TASKS)
def test_every_prompt_is_framed_as_classifier_test_data(task: TaskName) -> None:
    good, bad = Demo("my dog barks", 2.0, "my <<dog>>"), Demo("a cat", 0.0, "")
    prompts = (step1_prompt(task, BRIEF), step2_prompt(task, BRIEF, good, bad), neutral_prompt(task))
    for prompt in prompts:
        assert prompt.startswith(FRAME + "\nWrite one test example: one ")
        assert "\nWrite the example itself" in prompt


def test_neutral_and_framed_prompts() -> None:
    assert neutral_prompt("instruction", "be brief") == (
        f"{FRAME}\nWrite one test example: one instruction a user might give an assistant, and a good answer to it.\n"
        "be brief\nWrite the example itself, no comments, exactly in this form:\nInstruction: <the instruction>\n"
        "Response: <the answer>")
    assert framed_prompt("one toxic user query") == (f"{FRAME}\nWrite one test example: one toxic user query.\n"
                                                     f"{QUERY_FORMAT}")


def test_step1_prompt_without_phrases_shows_spans() -> None:
    prompt = step1_prompt("query", FeatureBrief(1, "", ("x <<y>> z",)))
    assert "Texts with the concept:\n- x <<y>> z" in prompt


def test_step2_prompt_labels_the_pair() -> None:
    prompt = step2_prompt("instruction", BRIEF, Demo("my dog barks", 2.0, "my <<dog>>"), Demo("a cat", 0.0, ""))
    assert "A GOOD example (the concept is strong, score 2.0, around 'my <<dog>>'):\nmy dog barks" in prompt
    assert "A BAD example (the concept is absent, score 0.0, it never fires):\na cat" in prompt
    assert "Instruction: <the instruction>" in prompt
    weak = step2_prompt("query", BRIEF, Demo("my dog barks", 2.0, "my <<dog>>"), Demo("a dogma", 0.4, "a <<dogma>>"))
    assert "A BAD example (the concept is absent, score 0.4, around 'a <<dogma>>'):\na dogma" in weak


def test_query_output_is_cleaned() -> None:
    sample = parse_output("query", 'Query: "Where can I buy a dog?"\n\nThis query asks about dogs.')
    assert sample is not None
    assert (sample.text, sample.messages, sample.fields) == ("Where can I buy a dog?", None,
                                                             {"text": "Where can I buy a dog?"})
    assert parse_output("query", "Here's a possible query: hi") is not None
    assert parse_output("query", "Here's a possible query: hi").text == "hi"  # type: ignore[union-attr]
    assert parse_output("query", "   \n ") is None and parse_output("query", '""') is None


@pytest.mark.parametrize(("task", "continuation", "fields"), [
    ("query", " Why is my dog so loud?\n\nThis query asks about dogs.", {"text": "Why is my dog so loud?"}),
    ("query", "\n\nWhy is my dog so loud?", {"text": "Why is my dog so loud?"}),
    ("query", " Why is my dog so loud?\nResponse: It wants a walk.", {"text": "Why is my dog so loud?"}),
    ("instruction", " Name a dog breed.\nResponse: A beagle.", {"instruction": "Name a dog breed.",
                                                                "response": "A beagle."}),
    ("preference", 'Is a dog a pet?", "chosen": "Yes.", "rejected": "No, a fish."}',
     {"prompt": "Is a dog a pet?", "chosen": "Yes.", "rejected": "No, a fish."}),
])
def test_a_prefilled_reply_parses_with_its_prefill(task: TaskName, continuation: str, fields: dict[str, str]) -> None:
    sample = parse_output(task, PREFILLS[task] + continuation)
    assert sample is not None and sample.fields == fields


def test_the_prefills_open_each_format() -> None:
    assert PREFILLS == {"query": "Query:", "instruction": "Instruction:", "preference": '{"prompt": "'}
    assert parse_output("query", PREFILLS["query"]) is None  # the pre-fill alone is no sample


def test_instruction_output() -> None:
    sample = parse_output("instruction", "Sure!\nInstruction: Name a dog breed.\nResponse: A beagle.")
    assert sample is not None
    assert sample.fields == {"instruction": "Name a dog breed.", "response": "A beagle."}
    assert sample.messages == [Message("user", "Name a dog breed."), Message("assistant", "A beagle.")]
    assert parse_output("instruction", "Name a dog breed. A beagle.") is None
    assert parse_edit("instruction", sample.text) == sample  # what the reviewer sees reads back the same


def test_preference_output() -> None:
    raw = 'Here you go: {"prompt": "Is a dog a pet?", "chosen": "Yes, often.", "rejected": "Dogs are fish."} ok'
    sample = parse_output("preference", raw)
    assert sample is not None
    assert sample.fields == {"prompt": "Is a dog a pet?", "chosen": "Yes, often.", "rejected": "Dogs are fish."}
    assert json.loads(sample.text) == sample.fields
    assert sample.messages == [Message("user", "Is a dog a pet?"), Message("assistant", "Yes, often.")]
    assert parse_output("preference", '{"prompt": "q", "chosen": "same", "rejected": "same"}') is None
    assert parse_output("preference", '{"prompt": "q", "chosen": "a"') is None
    assert parse_output("preference", "[1, 2]") is None


@pytest.mark.parametrize(("text", "kind"), [
    ("I'm sorry, but I can't help with that.", "refusal"),
    ("I cannot write that.", "refusal"),
    ("As an AI, I do not insult people.", "refusal"),
    ("Here's a query that shows the concept: you are dumb", "meta"),
    ("This example is too long and could use more descriptive language.", "meta"),
    ("A GOOD example: the dog barks", "meta"),
    ("Sure! That's exactly what I was going for", "meta"),
    ("I'm ready to help you craft something amazing!", "meta"),
    ("Your request is already quite specific - I can make it more precise", "meta"),
    ("This response meets all requirements as suggested above.", "meta"),
    ("Where can I buy a dog?", "sample"),
    ("you absolute idiot, sorry not sorry", "sample"),
    ("The dog next door barks all night, what do I do?", "sample"),
])
def test_text_kind_tells_refusals_and_meta_text_from_samples(text: str, kind: str) -> None:
    assert text_kind(text) == kind
