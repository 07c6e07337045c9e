"""The workspace layout's contracts: which datasets are comparable, which stored tokens are content."""

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Manifest, check_comparable, content_flags

BASE = Manifest(name="a", model="m@1", sae="s@1", sae_path="sae", d_sae=8, layer=2, dataset_path="a.jsonl",
                dataset_hash="h", t0_policy="chat-template", max_length=512, shard_samples=4, n_samples=3,
                versions={}, pooling="content-tokens")


def test_same_settings_are_comparable() -> None:
    check_comparable(BASE, dataclasses.replace(BASE, name="b", dataset_hash="other", n_samples=9))


@pytest.mark.parametrize(("change", "message"), [
    ({"pooling": "from-t0"}, "different pooling policies \\(content-tokens vs from-t0\\)"),
    ({"t0_policy": "plain"}, "different template policies \\(chat-template vs plain\\)"),
    ({"max_length": 256}, "different length limits \\(512 vs 256\\)"),
    ({"sae": "s@2"}, "different SAEs"),
])
def test_other_policies_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(FacError, match=message):
        check_comparable(BASE, dataclasses.replace(BASE, name="b", **change))  # type: ignore[arg-type]


def test_a_manifest_without_a_pooling_field_is_from_t0() -> None:
    fields = {f.name: getattr(BASE, f.name) for f in dataclasses.fields(Manifest) if f.name != "pooling"}
    assert Manifest(**fields).pooling == "from-t0"


def test_content_flags_read_the_stored_column() -> None:
    tokens = pa.table({"token_id": pa.array([1, 2, 3, 4, 5], pa.int32()),
                       "content": pa.array([False, True, False, True, True])})
    np.testing.assert_array_equal(content_flags(tokens, np.array([3, 2]), np.array([1, 0])),
                                  [False, True, False, True, True])


def test_content_flags_of_older_datasets_run_from_t0() -> None:
    tokens = pa.table({"token_id": pa.array([1, 2, 3, 4, 5], pa.int32())})
    np.testing.assert_array_equal(content_flags(tokens, np.array([3, 2]), np.array([1, 0])),
                                  [False, True, True, True, True])
