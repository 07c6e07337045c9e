"""Nearest features by decoder cosine and logit effects, on hand-set weights with exact values."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fac_engine.errors import FacError
from fac_engine.features.geometry import decoder_norms, logit_effects, model_unembedding, nearest_features
from tests.conftest import build_tiny_model, build_tiny_tokenizer
from tests.unit.encode_fixtures import FIRST_ID, WORDS, activation

# Rows: 0 = e1, 1 = e1 + e2 (45 degrees), 2 = 2 e2 (orthogonal), 3 = -e1 (opposite), 4 = dead (zero).
W_DEC = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0]])


def test_nearest_features_exact_cosines_ties_by_id() -> None:
    near = nearest_features(W_DEC, 0, k=10)
    assert near.features.tolist() == [1, 2, 4, 3]  # the feature itself is left out; 2 and 4 tie at 0
    np.testing.assert_allclose(near.cosine, [1 / math.sqrt(2), 0.0, 0.0, -1.0], atol=1e-6)
    assert nearest_features(W_DEC, 0, k=2).features.tolist() == [1, 2]


def test_nearest_features_with_precomputed_norms_and_dead_query() -> None:
    near = nearest_features(W_DEC, 2, k=3, norms_F=decoder_norms(W_DEC))
    assert near.features.tolist() == [1, 0, 3]  # cos 1/sqrt(2), then 0, 0, 0 (3 before the dead 4)
    np.testing.assert_allclose(near.cosine, [1 / math.sqrt(2), 0.0, 0.0], atol=1e-6)
    dead = nearest_features(W_DEC, 4, k=2)
    assert dead.features.tolist() == [0, 1] and dead.cosine.tolist() == [0.0, 0.0]


def test_nearest_features_rejects_unknown_feature() -> None:
    with pytest.raises(FacError, match=r"features 0\.\.4"):
        nearest_features(W_DEC, 5)


W_U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.0, -2.0]])


def test_logit_effects_exact() -> None:
    effects = logit_effects(torch.tensor([2.0, 1.0]), W_U, None, k=2)  # scores [2, 1, 3, -2, -2]
    assert effects.promoted.tolist() == [2, 0]
    assert effects.promoted_scores.tolist() == [3.0, 2.0]
    assert effects.suppressed.tolist() == [3, 4]  # tie at -2: lower id first
    assert effects.suppressed_scores.tolist() == [-2.0, -2.0]


def test_logit_effects_apply_the_final_norm_weight() -> None:
    effects = logit_effects(torch.tensor([2.0, 1.0]), W_U, torch.tensor([0.0, 1.0]), k=1)  # [0, 1, 1, 0, -2]
    assert effects.promoted.tolist() == [1] and effects.promoted_scores.tolist() == [1.0]
    assert effects.suppressed.tolist() == [4] and effects.suppressed_scores.tolist() == [-2.0]


def test_logit_effects_reject_a_direction_of_the_wrong_width() -> None:
    with pytest.raises(FacError, match="does not fit"):
        logit_effects(torch.zeros(3), W_U)


def test_word_feature_promotes_its_word_through_a_tiny_llama() -> None:
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer))
    with torch.no_grad():  # one-hot embeddings, tied to the unembedding (encode_fixtures.build_word_model)
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[: len(tokenizer), : len(tokenizer)] = torch.eye(len(tokenizer))
    unembed = model_unembedding(model)
    assert unembed.W_U_VD.shape == (len(tokenizer), 64)
    assert unembed.norm_weight is not None and torch.equal(unembed.norm_weight, model.model.norm.weight)
    feature = 2
    direction = torch.zeros(64)
    direction[FIRST_ID + feature] = activation(feature)
    effects = logit_effects(direction, unembed.W_U_VD, unembed.norm_weight, k=1)
    assert tokenizer.convert_ids_to_tokens(effects.promoted.tolist()) == [WORDS[feature]]
    assert effects.promoted_scores.tolist() == [activation(feature)]


def test_model_without_output_embedding_is_a_user_error() -> None:
    with pytest.raises(FacError, match="no output embedding"):
        model_unembedding(nn.Linear(2, 2))
