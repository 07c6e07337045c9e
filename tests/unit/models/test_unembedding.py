"""Reading W_U and the final norm's weight straight from a folder's safetensors gives exactly what the loaded
model gives (tied, untied, sharded, GPT-2 names, bfloat16); other folders go through the full model."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from fac_engine.errors import FacError
from fac_engine.models.device import Placement
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.models.unembedding import SHARD_INDEX, Unembedding, model_unembedding, output_head, read_unembedding
from tests.conftest import TINY_HIDDEN, TINY_LAYERS, build_tiny_model

CPU32 = Placement(torch.device("cpu"), torch.float32)


def _spec(folder: Path, dtype: str = "auto") -> ModelSpec:
    return ModelSpec(source=str(folder), device="cpu", dtype=dtype)


def _untied(vocab_size: int) -> LlamaForCausalLM:
    config = build_tiny_model(vocab_size).config
    config.tie_word_embeddings = False
    torch.manual_seed(1)
    return LlamaForCausalLM(config).eval()


def _assert_same(found: Unembedding | None, expected: Unembedding) -> None:
    assert found is not None and expected.norm_weight is not None and found.norm_weight is not None
    assert torch.equal(found.W_U_VD, expected.W_U_VD) and found.W_U_VD.dtype == expected.W_U_VD.dtype
    assert torch.equal(found.norm_weight, expected.norm_weight)
    assert found.norm_weight.dtype == expected.norm_weight.dtype


def _no_full_model(spec: ModelSpec) -> LoadedModel:
    raise AssertionError(f"the full model of {spec.source} was loaded")


def test_tied_folder_reads_the_input_embedding(tiny_model_dir: Path, tiny_model: LlamaForCausalLM) -> None:
    found = read_unembedding(tiny_model_dir, CPU32)
    _assert_same(found, model_unembedding(tiny_model))
    _assert_same(found, model_unembedding(load_model(_spec(tiny_model_dir)).model))
    assert found is not None and torch.equal(found.W_U_VD, tiny_model.model.embed_tokens.weight)


def test_untied_folder_reads_lm_head(tmp_path: Path, tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    model = _untied(len(tiny_tokenizer))
    assert not torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    model.save_pretrained(tmp_path / "untied")
    found = read_unembedding(tmp_path / "untied", CPU32)
    _assert_same(found, model_unembedding(model))
    assert found is not None and torch.equal(found.W_U_VD, model.lm_head.weight)


@pytest.mark.parametrize("tied", [True, False])
def test_sharded_folder(tmp_path: Path, tiny_tokenizer: PreTrainedTokenizerFast, tied: bool) -> None:
    model = build_tiny_model(len(tiny_tokenizer)) if tied else _untied(len(tiny_tokenizer))
    folder = tmp_path / "sharded"
    model.save_pretrained(folder, max_shard_size="20KB")
    assert (folder / SHARD_INDEX).is_file() and not (folder / "model.safetensors").exists()
    assert len(list(folder.glob("model-*.safetensors"))) > 2
    _assert_same(read_unembedding(folder, CPU32), model_unembedding(model))


def test_bfloat16_matches_the_bfloat16_load(tiny_model_dir: Path) -> None:
    found = read_unembedding(tiny_model_dir, Placement(torch.device("cpu"), torch.bfloat16))
    _assert_same(found, model_unembedding(load_model(_spec(tiny_model_dir, "bfloat16")).model))
    assert found is not None and found.W_U_VD.dtype == torch.bfloat16


def test_gpt2_names(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=40, n_positions=32)).eval()
    model.save_pretrained(tmp_path / "gpt2")
    _assert_same(read_unembedding(tmp_path / "gpt2", CPU32), model_unembedding(model))


def test_output_head_reads_the_folder_without_the_model(tiny_model_dir: Path, tiny_model: LlamaForCausalLM) -> None:
    head = output_head(_spec(tiny_model_dir), full_model=_no_full_model)
    _assert_same(head.unembedding, model_unembedding(tiny_model))
    assert (head.hidden_size, head.num_layers, head.device) == (TINY_HIDDEN, TINY_LAYERS, torch.device("cpu"))
    assert head.tokenizer.decode([13, 17]) == "cat mat" and head.tokenizer.pad_token_id == 0


def _neox(folder: Path, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    torch.manual_seed(0)
    config = GPTNeoXConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                           vocab_size=len(tokenizer), max_position_embeddings=32)
    model = GPTNeoXForCausalLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def test_unknown_tensor_names_fall_back_to_the_full_model(
    tmp_path: Path, tiny_tokenizer: PreTrainedTokenizerFast
) -> None:
    model = _neox(tmp_path / "neox", tiny_tokenizer)  # its head is `embed_out`, its norm `final_layer_norm`
    assert read_unembedding(tmp_path / "neox", CPU32) is None
    loaded: list[str] = []

    def full_model(spec: ModelSpec) -> LoadedModel:
        loaded.append(spec.source)
        return load_model(spec)

    head = output_head(_spec(tmp_path / "neox"), full_model=full_model)
    assert loaded == [str(tmp_path / "neox")]
    expected = model_unembedding(model)
    assert torch.equal(head.unembedding.W_U_VD, expected.W_U_VD) and head.unembedding.norm_weight is None
    assert (head.hidden_size, head.num_layers) == (16, 2) and head.tokenizer.decode([13]) == "cat"


def test_a_gguf_file_goes_through_the_full_model(tiny_model_dir: Path, tiny_model: LlamaForCausalLM) -> None:
    def full_model(spec: ModelSpec) -> LoadedModel:
        assert spec.source == "/nowhere/model.gguf"
        return load_model(_spec(tiny_model_dir))

    head = output_head(ModelSpec(source="/nowhere/model.gguf", device="cpu"), full_model=full_model)
    _assert_same(head.unembedding, model_unembedding(tiny_model))


def test_folder_without_safetensors_is_read_through_the_full_model(tiny_model_dir: Path) -> None:
    (tiny_model_dir / "model.safetensors").unlink()
    assert read_unembedding(tiny_model_dir, CPU32) is None
    with pytest.raises(FacError, match=f"Cannot load the model weights in {tiny_model_dir}"):
        output_head(_spec(tiny_model_dir))  # the full load's own error, as before


def test_untied_folder_without_lm_head_gets_the_full_loads_error(
    tmp_path: Path, tiny_tokenizer: PreTrainedTokenizerFast
) -> None:
    folder = tmp_path / "untied"
    _untied(len(tiny_tokenizer)).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    tensors = load_file(folder / "model.safetensors")
    del tensors["lm_head.weight"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    assert read_unembedding(folder, CPU32) is None  # transformers would not tie it: the model is incomplete
    with pytest.raises(FacError, match=rf"The weights in {folder} are incomplete \(1 missing, e.g. lm_head.weight"):
        output_head(_spec(folder))


def test_missing_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FacError, match=f"Model folder {tmp_path / 'nope'} does not exist"):
        read_unembedding(tmp_path / "nope", CPU32)


def test_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(FacError, match=f"{tmp_path} has no config.json; expected a transformers model folder"):
        read_unembedding(tmp_path, CPU32)


def test_corrupt_shard_index(tmp_path: Path, tiny_model: LlamaForCausalLM) -> None:
    tiny_model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / SHARD_INDEX).write_text(json.dumps({"metadata": {}}), encoding="utf-8")
    with pytest.raises(FacError, match=f"Cannot read the weight files in {tmp_path / 'm'}: KeyError"):
        read_unembedding(tmp_path / "m", CPU32)
