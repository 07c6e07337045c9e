"""Feature ids typed by a person: '3, 8 12-15' (ranges inclusive)."""

import re

from fac_engine.errors import FacError


def parse_feature_ids(text: str, d_sae: int | None = None) -> list[int]:
    """Feature ids from '3, 8 12-15', sorted and unique; FacError names the first bad item.

    With `d_sae`, ids must be below it.
    """
    ids: set[int] = set()
    for item in re.split(r"[\s,;]+", text.strip()):
        if not item:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            raise FacError(f"{item!r} is not a feature id or a range like 10-20.")
        first, last = int(match[1]), int(match[2] or match[1])
        if first > last or (d_sae is not None and last >= d_sae):
            raise FacError(f"{item!r} is out of range" + (f": this SAE has features 0..{d_sae - 1}."
                                                           if d_sae is not None else "."))
        ids.update(range(first, last + 1))
    return sorted(ids)
