"""Every model learns MI on synthetic hospitals: validation AUROC above `LEARNED_AUROC` after 3 epochs.

Two synthetic PTB-XL-layout hospitals with different recorders and populations, loaded by the ordinary
reader, split by patient; the clinical transform is computed the federated way (per-hospital aggregates,
combined). The loop below is the smallest plain one (Adam, BCE, fixed seeds); the federation's own loop is
`client/training.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from shared.data import ECGDataset, load_dataset, patient_split
from shared.data.synthetic import generate_hospitals
from shared.losses import multitask_loss
from shared.models import MODEL_NAMES, clinical_statistics, combine_clinical_statistics, create_model

pytestmark = pytest.mark.slow

EPOCHS = 3
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
# Below this many records per hospital the MI signal (three severities, ST-T mimics) is not separable
# from patient variation in three epochs by any of the models; measured with resnet1d.
RECORDS_PER_HOSPITAL = 800
#: An untrained model scores about 0.5. A model's figure moves with the CPU's float kernels and thread count
#: (ecg_smart_net: 0.77 on one machine, 0.81 and 0.84 with 2 and 1 threads on another), so the bound leaves
#: that margin while still telling a model that learned from one that did not.
LEARNED_AUROC = 0.75


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> tuple[ECGDataset, ECGDataset]:
    """(train, validation) records of two synthetic hospitals, generated and loaded once."""
    root = tmp_path_factory.mktemp("learning") / "hospitals"
    generate_hospitals(
        root,
        hospitals=2,
        records_per_hospital=RECORDS_PER_HOSPITAL,
        seed=0,
        sample_rate=100,
        mi_prevalence=(0.3, 0.4),
    )
    dataset = load_dataset(root, hospital_by="site", tasks=("mi",), sample_rate=100, progress=False)
    split = patient_split(dataset.patient_ids, seed=0)
    return dataset.subset(split == "train"), dataset.subset(split == "val")


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))  # copies: the cache is a read-only memmap


def _validation_auroc(name: str, train: ECGDataset, validation: ECGDataset) -> float:
    torch.manual_seed(0)
    model = create_model(name, tasks={"mi": 1}, clinical_features=train.clinical.shape[1])
    per_hospital = [clinical_statistics(train.for_hospital(h).clinical) for h in train.hospitals]
    model.clinical_encoder.set_statistics(*combine_clinical_statistics(per_hospital))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    signals, clinical, labels = _tensor(train.signals), _tensor(train.clinical), _tensor(train.labels["mi"])
    order_generator = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(signals), generator=order_generator).split(BATCH_SIZE):
            optimizer.zero_grad()
            outputs = model(signals[batch], clinical=clinical[batch])
            multitask_loss(outputs, {"mi": labels[batch]}).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        scores = model(_tensor(validation.signals), clinical=_tensor(validation.clinical))["mi"][:, 0]
    return float(roc_auc_score(validation.labels["mi"][:, 0], scores.numpy()))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_three_epochs_lift_validation_auroc_well_above_chance(
    name: str, hospitals: tuple[ECGDataset, ECGDataset]
) -> None:
    train, validation = hospitals
    assert len(train.hospitals) == 2 and validation.labels["mi"].sum() >= 30
    auroc = _validation_auroc(name, train, validation)
    assert auroc > LEARNED_AUROC, f"{name}: validation AUROC {auroc:.3f} after {EPOCHS} epochs"
