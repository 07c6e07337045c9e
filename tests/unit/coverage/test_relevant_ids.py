"""Relevant-feature files: written by relevance, read by coverage and evaluation, in one format."""

import json
from pathlib import Path

import pytest

from fac_engine.coverage.relevant_ids import read_relevant_file, write_relevant_ids
from fac_engine.errors import FacError


def test_relevant_text_file_with_comments_commas_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "relevant.txt"
    path.write_text("# toxicity features\n3\n10, 12 14\n\n5 # insults\n3\n", encoding="utf-8")
    assert read_relevant_file(path, d_sae=16) == frozenset({3, 5, 10, 12, 14})


def test_relevant_json_list(tmp_path: Path) -> None:
    path = tmp_path / "relevant.json"
    path.write_text(json.dumps([0, 15, 7]), encoding="utf-8")
    assert read_relevant_file(str(path), d_sae=16) == frozenset({0, 7, 15})


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("ids.txt", "1\n2\nfoo\n", r"line 3: 'foo' is not an integer"),
        ("ids.txt", "1\n# note\n2, 16\n", r"line 3: feature id 16 is out of range; the SAE has 16 latents \(0..15\)"),
        ("ids.txt", "1.5\n", r"line 1: '1.5' is not an integer"),
        ("ids.txt", "-2\n", r"line 1: feature id -2 is out of range"),
        ("ids.txt", "# nothing yet\n\n", "lists no feature ids"),
        ("ids.json", "[1, 2.0]", r"item 1 of the JSON list: 2.0 is not an integer"),
        ("ids.json", "[true]", r"item 0 of the JSON list: True is not an integer"),
        ("ids.json", "[1, 99]", r"item 1 of the JSON list: feature id 99 is out of range"),
        ("ids.json", "[1,\n2,", r"line 2: not valid JSON"),
        ("ids.json", "[]", "lists no feature ids"),
    ],
)
def test_relevant_file_errors_name_the_bad_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FacError, match=message):
        read_relevant_file(path, d_sae=16)


def test_missing_relevant_file(tmp_path: Path) -> None:
    with pytest.raises(FacError, match="Cannot read the relevant-features file"):
        read_relevant_file(tmp_path / "absent.txt", d_sae=16)


def test_ranges_as_people_type_them(tmp_path: Path) -> None:
    path = tmp_path / "relevant.txt"
    path.write_text("# typed by hand\n10-12, 3\n14-14\n", encoding="utf-8")
    assert read_relevant_file(path, d_sae=16) == frozenset({3, 10, 11, 12, 14})
    path.write_text("12-10\n", encoding="utf-8")
    with pytest.raises(FacError, match="line 1: '12-10' is an empty range"):
        read_relevant_file(path, d_sae=16)
    path.write_text("10-16\n", encoding="utf-8")
    with pytest.raises(FacError, match="line 1: feature id 16 is out of range"):
        read_relevant_file(path, d_sae=16)


def test_what_is_written_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    write_relevant_ids(path, [7, 2, 9], ["fac relevance --anchor a --label toxic"])
    assert path.read_text(encoding="utf-8") == "# fac relevance --anchor a --label toxic\n7\n2\n9\n"
    assert read_relevant_file(path, d_sae=10) == frozenset({2, 7, 9})
