"""Hostile strings in every field a user, a dataset or a model controls, and a check that markdown
shown by the app turns none of them into a link, an image, emphasis, a formula or a directive.

The check parses what Streamlit would render as markdown (CommonMark with GitHub's strikethrough and
tables, as markdown-it reads it) and adds what that parser lacks: GitHub's bare-URL and e-mail
autolinks (found, as Streamlit's renderer finds them, in the text once escapes are resolved), KaTeX
`$...$` and Streamlit's `:color[...]` directives. Every hostile string carries the marker EVIL (its
URLs point at evil.example), so an element counts only when it comes from one.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from markdown_it import MarkdownIt

from fac_engine.cli import main
from fac_engine.evaluation.results import save_evaluation
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.report_fixtures import evaluation
from tests.unit.synthesis.synthesis_fixtures import scripted_job

HOSTILE = ("**EVIL-bold** _EVIL-em_ ~~EVIL-strike~~ [EVIL-link](https://evil.example/l) "
           "![EVIL-img](https://evil.example/i.png) $EVIL^2$ :red[EVIL-red] <b>EVIL-tag</b> "
           "<img src=https://evil.example/x.png> https://evil.example/EVIL www.evil.example/EVIL EVIL@evil.example "
           "`EVIL-code` \\*EVIL\\*")
"""Free text: a sample, a label, an explanation, a list name, a candidate, its span, a model's output."""
HOSTILE_MULTILINE = HOSTILE + "\n# EVIL-heading\n- [EVIL-item](https://evil.example/item)\n\n    EVIL-indented"
HOSTILE_NAMES = ("__EVIL-anchor__", "www.EVIL.example", "_EVIL-project_")
"""Dataset and project names: only letters, digits, '-', '_' and '.', yet enough for emphasis and an autolink."""
ANCHOR_NAME, SEED_NAME, PROJECT_NAME = HOSTILE_NAMES

_MD = MarkdownIt("commonmark").enable(["strikethrough", "table"])
_AUTOLINK = re.compile(r"(?:https?://|www(?=\.))[-.\w]*\.[-\w]+\S*|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.IGNORECASE)
"""mdast-util-gfm-autolink-literal's patterns: a URL or www. domain with a period, an e-mail address."""
_FORMULA = re.compile(r"(?<!\\)\$(?:[^$\\]|\\.)*EVIL(?:[^$\\]|\\.)*(?<!\\)\$")
_DIRECTIVE = re.compile(r"(?<!\\):[a-z]+(?:-[a-z]+)?\[[^\]]*EVIL")
_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)")
_TAG = re.compile(r"<(?!/?(?:span|div|br)\b)[a-z]|<[^>]*evil", re.IGNORECASE)
DELIMITED = (("**", "EVIL-bold", "**"), ("_", "EVIL-em", "_"), ("~~", "EVIL-strike", "~~"), ("__", "EVIL-anchor", "__"),
             ("_", "EVIL-project", "_"), ("$", "EVIL^2", "$"), (":red[", "EVIL-red", "]"), ("<b>", "EVIL-tag", "</b>"))
"""Hostile words with the markup they come with: rendered text keeps it unless markdown (or KaTeX, a directive, HTML)
turned it into an element."""
_MARKDOWN_FIELDS = {"label", "help", "body", "delta", "text", "captions"}
_PLAIN = {"Text", "Code", "Json", "Exception", "Dataframe", "Table", "PlotlyChart"}
"""Elements that show their strings as they are (or are checked in the browser: plotly's own markup)."""
_WITH_MARKDOWN_OPTIONS = {"Radio", "ButtonGroup"}


def build_hostile_workspace(tmp_path: Path) -> Path:
    """The word-detector workspace with hostile names, one hostile sample and label in the anchor, hostile
    explanations, a hostile target list, a synthesis job whose candidates and pairs are hostile, and a saved
    evaluation naming a hostile test set, model and SAE; the project PROJECT_NAME uses them all."""
    ws = build_app_workspace(tmp_path, anchor=ANCHOR_NAME, seed=SEED_NAME)
    base = Project(ws).config
    anchor = tmp_path / f"{ANCHOR_NAME}.jsonl"  # the anchor's rows, re-encoded with a hostile sample and label
    with anchor.open("a", encoding="utf-8") as rows:
        rows.write(json.dumps({"text": f"{HOSTILE_MULTILINE} the dog", "label": HOSTILE}) + "\n")
    assert main(["encode", str(anchor), "--name", ANCHOR_NAME, "--label-field", "label", "--model", base.model,
                 "--sae", base.sae, "--workspace", str(ws), "--device", "cpu", "--overwrite"]) == 0
    project = Project(ws, PROJECT_NAME)
    project.update(model=base.model, sae=base.sae, anchor=ANCHOR_NAME, seed=SEED_NAME, target_list=HOSTILE)
    project.add_to_list(HOSTILE, [2, 6])
    project.add_to_list("[EVIL-second](https://evil.example/2)", [3])
    for feature in range(8):
        project.set_explanation(feature, f"{HOSTILE_MULTILINE} {feature}", source="user")
    _hostile_candidates(ws)
    # A second copy of the hostile anchor (same model here) and a feature map between the two, for the
    # Cross-model page: its dataset names, explanations and pairs then carry hostile strings.
    assert main(["encode", str(anchor), "--name", f"{ANCHOR_NAME}-b", "--label-field", "label", "--model",
                 base.model, "--sae", base.sae, "--workspace", str(ws), "--device", "cpu"]) == 0
    assert main(["match", "--from", ANCHOR_NAME, "--to", f"{ANCHOR_NAME}-b", "--out", "__EVIL-map__",
                 "--workspace", str(ws)]) == 0
    save_evaluation(ws, replace(evaluation("__EVIL-eval__"), test=HOSTILE, model=HOSTILE, sae=HOSTILE,
                                anchor=ANCHOR_NAME))
    return ws


def _hostile_candidates(ws: Path) -> None:
    store, _ = scripted_job(ws, PROJECT_NAME)
    pair = json.dumps({"x_plus": {"text": HOSTILE, "g": 2.0}, "x_minus": {"text": HOSTILE, "g": 0.0}})
    with store.project.db() as db:
        db.execute("UPDATE candidates SET text = ?, span = ?, label = ?, prompt = ?, generator = ?, original_text = ?, "
                   "duplicate_of = ?, tokens = ?, activations = ?",
                   (HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE,
                    json.dumps(["the", "\r\n\r\n", HOSTILE]), json.dumps([1.0, 0.5, 2.0])))
        db.execute("UPDATE synth_features SET pair = ?, note = ?", (pair, HOSTILE))
        db.execute("UPDATE synth_jobs SET message = ?", (HOSTILE,))


def _strings(message: Message, plain: bool, options: bool) -> Iterator[str]:
    for field, value in message.ListFields():
        if field.message_type is not None:
            for item in value if field.is_repeated else [value]:
                yield from _strings(item, plain, options)
        elif field.type == field.TYPE_STRING and not plain and (
                field.name in _MARKDOWN_FIELDS or (options and field.name == "options")):
            yield from (value if field.is_repeated else [value])


def markdown_sources(node: Any) -> Iterator[tuple[str, bool]]:
    """(source, HTML allowed) of every string an AppTest tree shows as markdown."""
    proto = getattr(node, "proto", None)
    if isinstance(proto, Message):
        name = proto.DESCRIPTOR.name
        html = bool(getattr(proto, "allow_html", False)) if name == "Markdown" else False
        for text in _strings(proto, name in _PLAIN, name in _WITH_MARKDOWN_OPTIONS):
            yield text, html
    for child in getattr(node, "children", {}).values():
        yield from markdown_sources(child)


def active_markup(source: str, html: bool) -> list[str]:
    """What in `source` would render as a link, image, emphasis, formula, directive or raw tag from a hostile
    string (empty when nothing would). Emphasis counts as hostile when a hostile word lost the delimiters around
    it (the app may well set an escaped name in bold)."""
    found = []
    for block in _MD.parse(source):
        if block.type == "html_block" and html and _TAG.search(block.content):
            found.append(f"raw HTML: {block.content[:80]}")
        if block.type != "inline":
            continue
        outside_code = _CODE_SPAN.sub("", block.content)  # nothing inside a code span is interpreted
        for pattern, what in ((_FORMULA, "formula"), (_DIRECTIVE, "directive")):
            found += [f"{what}: {m.group(0)[:80]}" for m in pattern.finditer(outside_code)]
        shown, run = "", ""
        for token in [*(block.children or []), None]:
            if token is not None and token.type == "text":
                run += token.content
                continue
            found += [f"autolink: {m.group(0)[:80]}" for m in _AUTOLINK.finditer(run) if "evil" in m.group(0).lower()]
            shown, run = shown + run, ""
            if token is None:
                break
            if token.type == "code_inline":
                shown += token.content
            if token.type == "link_open" and "evil" in str(token.attrGet("href")).lower():
                found.append(f"link: {token.attrGet('href')}")
            if token.type == "image" and "evil" in str(token.attrGet("src")).lower():
                found.append(f"image: {token.attrGet('src')}")
            if token.type == "html_inline" and html and _TAG.search(token.content):
                found.append(f"raw HTML: {token.content}")
        found += [f"emphasis: {word}" for word in stripped_words(shown)]
    return found


def stripped_words(shown: str) -> list[str]:
    """Hostile words in rendered text that lost the markup around them (see DELIMITED)."""
    return [word for left, word, right in DELIMITED for m in re.finditer(re.escape(word), shown)
            if not (shown[:m.start()].endswith(left) and shown[m.end():].startswith(right))]
