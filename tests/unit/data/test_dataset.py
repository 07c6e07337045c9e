"""Dataset readers: every format and schema on small hand-written files, and every bad-input message."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fac_engine.data.dataset import DatasetConfig, read_dataset
from fac_engine.data.schemas import DatasetItem, Message
from fac_engine.data.texts import read_texts
from fac_engine.errors import FacError

U, A, S = "user", "assistant", "system"


def write_jsonl(path: Path, *rows: object) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def plain(frame: pd.DataFrame) -> dict[str, list[object]]:
    """The frame's columns as lists, missing values as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("list")


def save_hf_folder(folder: Path, table: pa.Table, shards: int = 1) -> Path:
    """What `datasets.Dataset.save_to_disk` writes: Arrow IPC stream shards, state.json, dataset_info.json."""
    folder.mkdir()
    names = [f"data-{i:05d}-of-{shards:05d}.arrow" for i in range(shards)]
    size = -(-table.num_rows // shards)
    for i, name in enumerate(names):
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.slice(i * size, size))
    state = {"_data_files": [{"filename": n} for n in names], "_fingerprint": "0", "_format_type": None, "_split": None}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "features": {}}))
    return folder


# --- formats and schemas ---------------------------------------------------------------------


def test_jsonl_text_with_label_and_metadata(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "toxic.jsonl",
        {"text": "you are bad", "label": "toxic", "source": "a"},
        {"text": "  ", "label": "safe", "source": "b"},
        {"text": "the cat sat", "label": "safe", "source": "c", "score": 0.5},
    )
    ds = read_dataset(path, DatasetConfig(label_field="label"))
    assert ds.items == [DatasetItem("you are bad", None, "toxic"), DatasetItem("the cat sat", None, "safe")]
    assert (ds.schema, ds.label_field, ds.text_columns, ds.skipped, ds.path) == ("text", "label", ("text",), 1, path)
    assert plain(ds.frame) == {"row": [0, 2], "source": ["a", "c"], "score": [None, 0.5]}


def test_named_text_field_wins_over_detection(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", {"text": "not this", "body": "hello world"})
    ds = read_dataset(path, DatasetConfig(text_field="body"))
    assert ds.items == [DatasetItem("hello world")]
    assert list(ds.frame.columns) == ["row", "text"]


def test_csv_labels_keep_their_type_and_missing_is_none(tmp_path: Path) -> None:
    path = tmp_path / "imdb.csv"
    path.write_text('text,label,score\n"A warm, funny film",1,0.9\nDull plot,,0.1\n"Bad, bad",0,\n', encoding="utf-8")
    ds = read_dataset(path, DatasetConfig(label_field="label"))
    assert ds.items == [
        DatasetItem("A warm, funny film", None, 1),
        DatasetItem("Dull plot"),
        DatasetItem("Bad, bad", None, 0),
    ]
    assert plain(ds.frame) == {"row": [0, 1, 2], "score": [0.9, 0.1, None]}


def test_tsv_and_query_column(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("id\tquery\n7\tis it red?\n", encoding="utf-8")
    ds = read_dataset(path)
    assert ds.items == [DatasetItem("is it red?")]
    assert ds.frame.to_dict("list") == {"row": [0], "id": [7]}


def test_parquet_chat_messages(tmp_path: Path) -> None:
    path = tmp_path / "chat.parquet"
    messages = [
        [{"role": S, "content": "be brief"}, {"role": U, "content": "hi"}, {"role": A, "content": "hello"}],
        [{"role": U, "content": "red?"}],
    ]
    pq.write_table(pa.table({"messages": messages, "label": [True, False], "id": ["x", "y"]}), path)
    ds = read_dataset(path, DatasetConfig(label_field="label"))
    assert ds.schema == "chat"
    assert ds.items == [
        DatasetItem(
            "system: be brief\nuser: hi\nassistant: hello",
            (Message(S, "be brief"), Message(U, "hi"), Message(A, "hello")),
            True,
        ),
        DatasetItem("user: red?", (Message(U, "red?"),), False),
    ]
    assert ds.frame.to_dict("list") == {"row": [0, 1], "id": ["x", "y"]}


def test_arrow_structs_mixing_role_and_from_keys(tmp_path: Path) -> None:
    # Arrow gives every struct all fields, None where a message lacks one.
    path = tmp_path / "mixed.parquet"
    turns = [{"from": "human", "value": "hi"}, {"role": "assistant", "content": None, "tool": "search"}]
    pq.write_table(pa.table({"conversations": [turns]}), path)
    assert read_dataset(path).items[0].messages == (Message(U, "hi"), Message(A, ""))


def test_sharegpt_conversations(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "sharegpt.jsonl",
        {"id": 1, "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
    )
    ds = read_dataset(path)
    assert ds.items == [DatasetItem("user: Hi\nassistant: Hello!", (Message(U, "Hi"), Message(A, "Hello!")))]
    assert ds.text_columns == ("conversations",)


def test_csv_messages_stored_as_json_text(tmp_path: Path) -> None:
    path = tmp_path / "chat.csv"
    cell = json.dumps([{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image"}]}])
    pd.DataFrame({"messages": [cell]}).to_csv(path, index=False)
    assert read_dataset(path).items == [DatasetItem("user: look", (Message(U, "look"),))]


def test_instruction_alpaca_and_dolly(tmp_path: Path) -> None:
    alpaca = write_jsonl(
        tmp_path / "alpaca.jsonl",
        {"instruction": "Describe crepes.", "input": "", "output": "Thin pancakes."},
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    )
    ds = read_dataset(alpaca)
    assert ds.schema == "instruction"
    assert [item.messages for item in ds.items] == [
        (Message(U, "Describe crepes."), Message(A, "Thin pancakes.")),
        (Message(U, "Translate to French.\n\nGood morning"), Message(A, "Bonjour")),
    ]
    assert ds.items[1].text == "user: Translate to French.\n\nGood morning\nassistant: Bonjour"
    assert list(ds.frame.columns) == ["row"]
    dolly = write_jsonl(
        tmp_path / "dolly.jsonl",
        {"instruction": "Sum up.", "context": "Cats nap.", "response": "Naps.", "category": "qa"},
    )
    ds = read_dataset(dolly)
    assert ds.items[0].messages == (Message(U, "Sum up.\n\nCats nap."), Message(A, "Naps."))
    assert ds.text_columns == ("instruction", "context", "response")
    assert ds.frame.to_dict("list") == {"row": [0], "category": ["qa"]}


def test_preference_sides_and_other_side_in_metadata(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pref.jsonl", {"prompt": "2+2?", "chosen": "4", "rejected": "5"})
    chosen = read_dataset(path)
    assert chosen.schema == "preference"
    assert chosen.items == [DatasetItem("user: 2+2?\nassistant: 4", (Message(U, "2+2?"), Message(A, "4")))]
    assert chosen.frame.to_dict("list") == {"row": [0], "rejected": ["5"]}
    rejected = read_dataset(path, DatasetConfig(preference_side="rejected"))
    assert rejected.items[0].messages == (Message(U, "2+2?"), Message(A, "5"))
    assert rejected.frame.to_dict("list") == {"row": [0], "chosen": ["4"]}


def test_preference_llamafactory_and_ultrafeedback_shapes(tmp_path: Path) -> None:
    llamafactory = write_jsonl(
        tmp_path / "dpo.jsonl",
        {
            "conversations": [{"from": "system", "value": "Be a teacher."}, {"from": "human", "value": "2+2?"}],
            "chosen": {"from": "gpt", "value": "4"},
            "rejected": {"from": "gpt", "value": "5"},
        },
    )
    assert read_dataset(llamafactory).items[0].messages == (
        Message(S, "Be a teacher."),
        Message(U, "2+2?"),
        Message(A, "4"),
    )
    # UltraFeedback-binarized repeats the prompt turn at the start of chosen / rejected.
    ultrafeedback = write_jsonl(
        tmp_path / "uf.jsonl",
        {
            "prompt": "2+2?",
            "chosen": [{"role": U, "content": "2+2?"}, {"role": A, "content": "4"}],
            "rejected": [{"role": U, "content": "2+2?"}, {"role": A, "content": "5"}],
            "score_chosen": 9.0,
        },
    )
    ds = read_dataset(ultrafeedback)
    assert ds.items[0].messages == (Message(U, "2+2?"), Message(A, "4"))
    assert list(ds.frame.columns) == ["row", "rejected", "score_chosen"]


def test_explicit_schema_overrides_detection(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "both.jsonl", {"prompt": "2+2?", "chosen": "4", "rejected": "5"})
    ds = read_dataset(path, DatasetConfig(schema="text"))
    assert ds.items == [DatasetItem("2+2?")]
    assert list(ds.frame.columns) == ["row", "chosen", "rejected"]


def test_saved_hugging_face_folder(tmp_path: Path) -> None:
    table = pa.table({"text": ["the cat", "the dog", "a mat"], "label": [0, 1, 0]})
    folder = save_hf_folder(tmp_path / "hf", table, shards=2)
    ds = read_dataset(folder, DatasetConfig(label_field="label"))
    assert ds.items == [DatasetItem("the cat", None, 0), DatasetItem("the dog", None, 1), DatasetItem("a mat", None, 0)]
    assert read_dataset(folder, DatasetConfig(limit=2)).frame["row"].tolist() == [0, 1]


def test_arrow_file_format_is_read_too(tmp_path: Path) -> None:
    folder = tmp_path / "hf"
    folder.mkdir()
    table = pa.table({"text": ["hello"]})
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    assert read_dataset(folder).items == [DatasetItem("hello")]


def test_json_array_and_txt_lines(tmp_path: Path) -> None:
    array = tmp_path / "a.json"
    array.write_text(json.dumps([{"question": "why?"}, {"question": "how?"}]), encoding="utf-8")
    assert [item.text for item in read_dataset(array).items] == ["why?", "how?"]
    lines = tmp_path / "a.txt"
    lines.write_text("hello world\n\n  \nthe cat\n", encoding="utf-8")
    assert read_texts(lines) == ["hello world", "the cat"]
    assert read_dataset(lines).frame["row"].tolist() == [0, 1]


def test_limit_reads_first_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", *({"text": f"t{i}"} for i in range(5)), "not an object")
    assert [item.text for item in read_dataset(path, DatasetConfig(limit=3)).items] == ["t0", "t1", "t2"]


def test_file_column_named_row_is_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl", {"text": "a", "row": 41}, {"text": "", "row": 42}, {"text": "b", "row": 43}
    )
    assert read_dataset(path).frame.to_dict("list") == {"row": [0, 2], "row.1": [41, 43]}


def test_read_texts_goes_through_the_reader(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", {"text": "a", "body": "x"}, {"text": None, "body": "y"})
    assert read_texts(path) == ["a"]
    assert read_texts(path, "body") == ["x", "y"]
    with pytest.raises(FacError, match="no column 'prose'"):
        read_texts(path, "prose")


# --- bad input -------------------------------------------------------------------------------


def expect_error(path: Path, cfg: DatasetConfig | None = None) -> str:
    with pytest.raises(FacError) as info:
        read_dataset(path, cfg)
    return str(info.value)


def test_missing_file_and_unsupported_type(tmp_path: Path) -> None:
    assert expect_error(tmp_path / "nope.jsonl") == f"No such data file or folder: {tmp_path / 'nope.jsonl'}"
    xlsx = tmp_path / "t.xlsx"
    xlsx.write_bytes(b"PK")
    assert "t.xlsx: unsupported file type '.xlsx'" in expect_error(xlsx)


@pytest.mark.parametrize(
    "name, content", [("e.jsonl", "\n\n"), ("e.csv", ""), ("e.csv", "text,label\n"), ("e.txt", " \n"), ("e.json", "[]")]
)
def test_empty_dataset(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert expect_error(path) == f"{path} has no rows."


def test_no_row_has_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", {"text": ""}, {"text": None})
    assert expect_error(path) == f"{path}: none of its 2 rows has any text in 'text'."


def test_missing_columns_list_the_ones_there(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", {"body": "a", "tag": 1})
    no_text = f"{path}: no column 'text'; its columns are: body, tag."
    assert expect_error(path, DatasetConfig(text_field="text")) == no_text
    assert expect_error(path, DatasetConfig(text_field="body", label_field="label")) == (
        f"{path}: no column 'label'; its columns are: body, tag."
    )
    assert expect_error(path) == (
        f"{path}: cannot tell which column holds the text; its columns are: body, tag. "
        "Name the text column (--text-field) or choose a schema (--schema)."
    )
    assert expect_error(path, DatasetConfig(schema="chat")) == (
        f"{path}: schema 'chat' needs a column of role/content message lists (messages, conversations, "
        "or a named messages field); its columns are: body, tag."
    )


def test_undecodable_bytes_name_line_and_offset(tmp_path: Path) -> None:
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    assert expect_error(jsonl) == f"{jsonl} line 2: not UTF-8 text (undecodable byte at offset 28)."
    csv = tmp_path / "bad.csv"
    csv.write_bytes(b"text\nok\ncaf\xe9\n")
    assert expect_error(csv) == f"{csv} line 3: not UTF-8 text (undecodable byte at offset 11)."


def test_bad_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": oops}\n', encoding="utf-8")
    assert expect_error(path) == f"{path} line 3: not valid JSON (Expecting value, column 10)."
    path.write_text('{"text": "ok"}\n["a list"]\n', encoding="utf-8")
    assert expect_error(path) == f"{path} line 2: expected a JSON object {{...}}, found a list."
    array = tmp_path / "bad.json"
    array.write_text('[{"text": "ok"}, "b"]', encoding="utf-8")
    assert expect_error(array) == f"{array}: item 1 of the array is text, not a JSON object {{...}}."


def test_mixed_label_types_name_file_column_and_row(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        {"text": "a", "y": None},
        {"text": "b", "y": 1},
        {"text": "c", "y": 0.5},
        {"text": "d", "y": "toxic"},
    )
    assert expect_error(path, DatasetConfig(label_field="y")) == (
        f"{path}: label column 'y' mixes types: row 1 (line 2) holds a number (1) but row 3 (line 4) holds text "
        "('toxic'). Use one type for all labels."
    )
    path = write_jsonl(tmp_path / "bools.jsonl", {"text": "a", "y": True}, {"text": "b", "y": 1})
    assert "row 1 (line 2) holds a number (1)" in expect_error(path, DatasetConfig(label_field="y"))


def test_label_column_cannot_be_the_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", {"text": "a"})
    assert expect_error(path, DatasetConfig(label_field="text")) == (
        f"{path}: column 'text' is read as the text; it cannot be the label too."
    )


def test_label_that_is_not_a_scalar(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", {"text": "a", "y": 1}, {"text": "b", "y": [1]})
    assert expect_error(path, DatasetConfig(label_field="y")) == (
        f"{path}, row 1 (line 2), column 'y': holds a list; a label must be text, a number or true/false."
    )


def test_bad_cells_name_row_and_column(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "chat.jsonl", {"messages": [{"role": U, "content": "hi"}]}, {"messages": [{"role": U, "text": "hi"}]}
    )
    assert expect_error(path) == (
        f"{path}, row 1 (line 2), column 'messages': message 0 is not an object with text 'role' and 'content' "
        "(or 'from' and 'value')."
    )
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": [["a", "b"]]}), table)
    assert expect_error(table) == (
        f"{table}, row 0, column 'text': holds a list, not text (for chat messages choose the chat schema)."
    )


def test_split_folder_and_non_dataset_folder(tmp_path: Path) -> None:
    root = tmp_path / "dd"
    root.mkdir()
    (root / "dataset_dict.json").write_text('{"splits": ["train", "test"]}')
    for split in ("train", "test"):
        save_hf_folder(root / split, pa.table({"text": ["a"]}))
    splits = f"{root} holds several splits (test, train); give one split's folder, e.g. {root / 'test'}."
    assert expect_error(root) == splits
    empty = tmp_path / "empty"
    empty.mkdir()
    assert expect_error(empty) == f"{empty} is a folder but not a saved Hugging Face dataset (no data-*.arrow files)."
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "data-00000-of-00001.arrow").write_bytes(b"not arrow")
    assert f"{broken / 'data-00000-of-00001.arrow'}: not an Arrow stream or file" in expect_error(broken)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schema": "json"}, "Unknown schema 'json'"),
        ({"schema": "chat", "text_field": "text"}, "text field only applies to the text schema"),
        ({"schema": "instruction", "messages_field": "m"}, "messages field only applies"),
        ({"text_field": "a", "messages_field": "b"}, "either a text field or a messages field"),
        ({"label_field": ""}, "label field must not be empty"),
        ({"text_field": "a", "label_field": "a"}, "both the label and the text"),
        ({"preference_side": "left"}, "'chosen' or 'rejected'"),
        ({"limit": 0}, "at least 1"),
    ],
)
def test_config_checks(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DatasetConfig(**kwargs)  # type: ignore[arg-type]
