"""load_model on transformers folders and GGUF paths: good loads, identities, and clear user errors."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from fac_engine.errors import FacError
from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from tests.conftest import TINY_HIDDEN, TINY_LAYERS, build_tiny_model


def _load(folder: Path, dtype: str = "auto") -> LoadedModel:
    return load_model(ModelSpec(source=str(folder), device="cpu", dtype=dtype))


def test_folder_loads_in_eval_mode_with_its_facts(tiny_model_dir: Path, tiny_model: LlamaForCausalLM) -> None:
    loaded = _load(tiny_model_dir)
    assert loaded.name == "tiny-llama"
    assert (loaded.hidden_size, loaded.num_layers) == (TINY_HIDDEN, TINY_LAYERS)
    assert (loaded.device, loaded.dtype) == (torch.device("cpu"), torch.float32)
    assert not loaded.model.training
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert loaded.tokenizer.pad_token_id == 0 and loaded.pad_id == 0
    assert loaded.identity.startswith("tiny-llama@") and len(loaded.identity) == len("tiny-llama@") + 12
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name


def test_loaded_residuals_match_the_saved_model(tiny_model_dir: Path, tiny_model: LlamaForCausalLM) -> None:
    loaded = _load(tiny_model_dir)
    texts = ["the cat sat on the mat .", "hello world", "red blue green and not very good !"]
    token_ids = [loaded.tokenizer(t).input_ids for t in texts]
    assert token_ids[1] == [loaded.tokenizer.convert_tokens_to_ids(w) for w in ("hello", "world")]
    for batch in batches_by_token_budget(token_ids, token_budget=16, pad_id=loaded.pad_id):
        resid_BTD = loaded.residuals(batch.input_ids, batch.attention_mask, 2)
        with torch.no_grad():
            expected = tiny_model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True
            )
        assert torch.equal(resid_BTD, expected.hidden_states[2])


def test_identity_is_stable_ignores_dtype_and_tells_models_apart(tmp_path: Path, tiny_model_dir: Path) -> None:
    first = _load(tiny_model_dir)
    assert _load(tiny_model_dir, dtype="bfloat16").identity == first.identity
    copy = tmp_path / "elsewhere" / "tiny-llama"
    shutil.copytree(tiny_model_dir, copy)
    assert _load(copy).identity == first.identity
    other = tmp_path / "other" / "tiny-llama"
    build_tiny_model(first.model.config.vocab_size, seed=1).save_pretrained(other)
    first.tokenizer.save_pretrained(other)
    assert _load(other).identity != first.identity


def test_bfloat16_on_request(tiny_model_dir: Path) -> None:
    loaded = _load(tiny_model_dir, dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16 and next(loaded.model.parameters()).dtype == torch.bfloat16
    ids_BT = torch.tensor([[4, 5, 6]])
    assert loaded.residuals(ids_BT, torch.ones_like(ids_BT), 1).dtype == torch.bfloat16


def test_missing_pad_token_falls_back_to_eos(
    tmp_path: Path, tiny_model: LlamaForCausalLM, tiny_tokenizer: PreTrainedTokenizerFast
) -> None:
    folder = tmp_path / "no-pad"
    tiny_model.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<|im_end|>").save_pretrained(
        folder
    )
    loaded = _load(folder)
    assert loaded.tokenizer.pad_token == "<|im_end|>" and loaded.pad_id == 3


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FacError, match=f"Model folder {missing} does not exist"):
        _load(missing)


def test_folder_without_config(tmp_path: Path, tiny_model_dir: Path) -> None:
    (tiny_model_dir / "config.json").unlink()
    with pytest.raises(FacError, match=f"{tiny_model_dir} has no config.json"):
        _load(tiny_model_dir)


def test_truncated_safetensors(tiny_model_dir: Path) -> None:
    weights = tiny_model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(FacError, match=f"Cannot load the model weights in {tiny_model_dir}"):
        _load(tiny_model_dir)


def test_weights_missing_a_tensor_are_refused(tiny_model_dir: Path) -> None:
    weights = tiny_model_dir / "model.safetensors"
    tensors = load_file(weights)
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(FacError, match=rf"The weights in {tiny_model_dir} are incomplete \(1 missing"):
        _load(tiny_model_dir)


def test_folder_without_weights(tiny_model_dir: Path) -> None:
    (tiny_model_dir / "model.safetensors").unlink()
    with pytest.raises(FacError, match=f"Cannot load the model weights in {tiny_model_dir}"):
        _load(tiny_model_dir)


def test_corrupt_config(tiny_model_dir: Path) -> None:
    (tiny_model_dir / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FacError, match=f"in {tiny_model_dir}"):
        _load(tiny_model_dir)


def test_folder_without_tokenizer(tiny_model_dir: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tiny_model_dir / name).unlink()
    with pytest.raises(FacError, match=f"Cannot load the tokenizer in {tiny_model_dir}"):
        _load(tiny_model_dir)


def test_missing_gguf(tmp_path: Path) -> None:
    missing = tmp_path / "model.Q4_1.gguf"
    with pytest.raises(FacError, match=f"GGUF file {missing} does not exist"):
        load_model(ModelSpec(source=str(missing), device="cpu"))


def test_unreadable_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 60)
    with pytest.raises(FacError, match=f"Cannot load the model weights in {bad}"):
        load_model(ModelSpec(source=str(bad), device="cpu"))


def test_unknown_architecture_is_refused(tiny_model_dir: Path) -> None:
    config_path = tiny_model_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["model_type"] = "no-such-model"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(FacError, match=f"Cannot load the model weights in {tiny_model_dir}"):
        _load(tiny_model_dir)
