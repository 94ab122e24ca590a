"""The clinical encoder: imputation, missingness indicators, federated statistics, and the state dict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shared.models import ClinicalEncoder, clinical_statistics, combine_clinical_statistics, create_model

NAN = math.nan


def test_encoder_imputes_with_the_mean_standardises_and_flags_missing_values() -> None:
    encoder = ClinicalEncoder(2)
    encoder.set_statistics([60.0, 0.5], [10.0, 0.5])
    raw = torch.tensor([[70.0, 1.0], [NAN, 0.0], [50.0, NAN]])
    expected = torch.tensor(
        [
            # standardised age, standardised sex, age missing, sex missing
            [1.0, 1.0, 0.0, 0.0],
            [0.0, -1.0, 1.0, 0.0],  # unknown age -> mean -> 0
            [-1.0, 0.0, 0.0, 1.0],
        ]
    )
    torch.testing.assert_close(encoder(raw, batch_size=3), expected)


def test_encoder_without_clinical_input_marks_every_feature_missing() -> None:
    encoder = ClinicalEncoder(3)
    encoder.set_statistics([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    torch.testing.assert_close(encoder(None, batch_size=2), torch.tensor([[0.0, 0, 0, 1, 1, 1]] * 2))


def test_set_statistics_rejects_wrong_shape_and_zero_spread() -> None:
    encoder = ClinicalEncoder(2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        encoder.set_statistics([60.0], [10.0])
    with pytest.raises(ValueError, match="std > 0"):
        encoder.set_statistics([60.0, 0.5], [10.0, 0.0])


def test_combined_hospital_statistics_equal_the_pooled_statistics() -> None:
    rng = np.random.default_rng(0)
    hospitals = []
    for size in (40, 25, 60):
        rows = np.column_stack([rng.normal(62, 14, size), rng.integers(0, 2, size), rng.normal(27, 4, size)])
        rows[rng.random(rows.shape) < 0.2] = np.nan
        hospitals.append(rows)
    mean, std = combine_clinical_statistics([clinical_statistics(rows) for rows in hospitals])
    pooled = np.concatenate(hospitals)
    np.testing.assert_allclose(mean, np.nanmean(pooled, axis=0), rtol=1e-10)
    np.testing.assert_allclose(std, np.nanstd(pooled, axis=0), rtol=1e-8)


def test_statistics_share_only_per_feature_aggregates() -> None:
    statistics = clinical_statistics(np.array([[50.0, 1.0], [NAN, 0.0], [70.0, NAN]]))
    assert sorted(statistics) == ["count", "sum", "sumsq"]
    np.testing.assert_array_equal(statistics["count"], [2, 2])
    np.testing.assert_array_equal(statistics["sum"], [120, 1])
    np.testing.assert_array_equal(statistics["sumsq"], [2500 + 4900, 1])


def test_unobserved_and_constant_features_still_get_a_usable_transform() -> None:
    everywhere_unknown_then_constant = np.array([[NAN, 1.0], [NAN, 1.0]])
    mean, std = combine_clinical_statistics([clinical_statistics(everywhere_unknown_then_constant)])
    np.testing.assert_array_equal(mean, [0.0, 1.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])
    ClinicalEncoder(2).set_statistics(mean, std)


def test_combine_rejects_hospitals_with_different_features() -> None:
    one = clinical_statistics(np.zeros((3, 2)))
    other = clinical_statistics(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="different numbers of clinical features"):
        combine_clinical_statistics([one, other])
    with pytest.raises(ValueError, match="2-D"):
        clinical_statistics(np.zeros(3))


def test_the_transform_travels_in_the_model_state_dict() -> None:
    torch.manual_seed(0)
    trained = create_model("conv_bilstm_attn", tasks={"mi": 1}, clinical_features=2).eval()
    trained.clinical_encoder.set_statistics([63.0, 0.52], [12.0, 0.5])
    state = trained.state_dict()
    assert torch.equal(state["clinical_encoder.mean"], torch.tensor([63.0, 0.52]))

    elsewhere = create_model("conv_bilstm_attn", tasks={"mi": 1}, clinical_features=2).eval()
    elsewhere.load_state_dict(state)
    signals = torch.randn(3, 12, 400)
    clinical = torch.tensor([[55.0, 1.0], [NAN, 0.0], [80.0, NAN]])
    torch.testing.assert_close(elsewhere(signals, clinical)["mi"], trained(signals, clinical)["mi"])
    torch.testing.assert_close(elsewhere.clinical_encoder.std, torch.tensor([12.0, 0.5]))
