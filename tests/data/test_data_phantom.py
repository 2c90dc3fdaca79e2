"""Phantoms (SYNTHETIC TEST DATA): determinism, findings in the right place, learnable signal."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxreason.data import phantom
from cxreason.data.phantom import make_scene, render_study, render_to_file
from cxreason.data.phantom_probe import probe_dataset, ridge_accuracy
from cxreason.vocab import FINDING_LABELS

#: columns of an image half more than 8 px from the image midline (anatomy jitters ~ +-5 px)
_AWAY_FROM_MIDLINE = np.abs(np.arange(64) - 31.5) < 24


def _arr(labels: dict, seed: int, size: int = 128, **kw) -> np.ndarray:
    return np.asarray(render_study(labels, seed, size=size, **kw), dtype=np.float64)


def _diff(label: str, seed: int, status: str = "present", **kw) -> np.ndarray:
    return _arr({label: status}, seed, **kw) - _arr({}, seed, **kw)


def test_deterministic_bytes_and_seed_variation(tmp_path: Path) -> None:
    labels = {"Cardiomegaly": "present", "Support Devices": "present"}
    a = render_to_file(tmp_path / "a.png", labels, 7)
    b = render_to_file(tmp_path / "b.png", labels, 7)
    assert a.read_bytes() == b.read_bytes()
    img = Image.open(a)
    assert img.mode == "L" and img.size == (128, 128)
    assert render_study(labels, 7).tobytes() == render_study(labels, 7).tobytes()
    assert np.abs(_arr(labels, 7) - _arr(labels, 8)).mean() > 3
    assert render_study({}, 3, size=200).size == (200, 200)
    assert render_study({}, -1).tobytes() == render_study({}, 2**64 - 1).tobytes()


def test_no_single_pixel_gives_the_answer() -> None:
    """Anatomy/exposure jitter: the same normal study varies between seeds everywhere."""
    stack = np.stack([_arr({}, s) for s in range(30)])
    assert np.median(stack.std(axis=0)) > 8


def test_cardiomegaly_ctr_from_geometry() -> None:
    for seed in range(20):
        normal = make_scene({}, seed).anatomy
        big = make_scene({"Cardiomegaly": "present"}, seed).anatomy
        unsure = make_scene({"Cardiomegaly": "uncertain"}, seed).anatomy
        assert 0.36 < normal.ctr < 0.47 and big.ctr > 0.54
        assert normal.ctr < unsure.ctr < big.ctr
        assert big.thorax_width == pytest.approx(normal.thorax_width)
        assert big.heart_hw > 1.15 * normal.heart_hw


def test_cardiomegaly_widens_bright_heart_in_image() -> None:
    # row through the heart centre: more bright pixels between the lungs when enlarged
    for seed in range(5):
        a = make_scene({}, seed).anatomy
        row = int(a.heart_cy * 128)
        diff = _diff("Cardiomegaly", seed)
        assert diff[row - 6 : row + 6].mean() > 3
        assert abs(diff[:20].mean()) < 0.5  # nothing changes at the top of the image


@pytest.mark.parametrize("side,half", [("left", slice(64, 128)), ("right", slice(0, 64))])
def test_effusion_brightens_costophrenic_region_on_given_side(side: str, half: slice) -> None:
    other = slice(0, 64) if half.start == 64 else slice(64, 128)
    for seed in range(6):
        d = _diff("Pleural Effusion", seed, laterality={"Pleural Effusion": side})
        assert (d[64:, half] > 40).sum() > 250  # lower zone of that hemithorax turns white
        assert (np.abs(d[:, other][:, _AWAY_FROM_MIDLINE]) > 3).sum() < 40
        assert d.min() >= 0 and (d[:40] > 3).sum() < 20  # only brighter; apex untouched


def test_pneumothorax_darkens_apex_on_given_side() -> None:
    for seed in range(6):
        d = _diff("Pneumothorax", seed, laterality={"Pneumothorax": "right"})
        left_half, right_half = d[:, :64], d[:, 64:]
        assert (left_half[10:64] < -8).sum() > 60  # lucent crescent in the upper lung
        assert (np.abs(right_half[:, _AWAY_FROM_MIDLINE]) > 3).sum() < 40


@pytest.mark.parametrize("label", FINDING_LABELS)
def test_each_finding_changes_the_image_and_uncertain_is_subtler(label: str) -> None:
    present = np.abs(_diff(label, 11)).mean()
    unsure = np.abs(_diff(label, 11, "uncertain")).mean()
    assert present > 0.3, label
    assert unsure < present, label


@pytest.mark.parametrize(
    "label", [lb for lb in phantom.LATERALISED if lb not in ("Fracture", "Atelectasis")]
)
def test_lateralised_findings_stay_on_their_side(label: str) -> None:
    for seed in (1, 2):
        d = np.abs(_diff(label, seed, laterality={label: "left"}))  # patient left = image right
        assert d[:, 64:].sum() > 4 * d[:, :64].sum(), label


def test_atelectasis_volume_loss_on_its_side() -> None:
    """Atelectasis raises its own hemidiaphragm and pulls the mediastinum toward it."""
    for seed in range(5):
        a0 = make_scene({}, seed).anatomy
        a1 = make_scene(
            {"Atelectasis": "present"}, seed, laterality={"Atelectasis": "left"}
        ).anatomy
        assert a1.lungs[+1].d0 < a0.lungs[+1].d0 - 0.03  # patient left = image right (+1)
        assert a1.lungs[-1].d0 == a0.lungs[-1].d0
        assert a1.med_shift > 0 == a0.med_shift and a1.heart_cx > a0.heart_cx
        assert a1.mid == a0.mid  # the body does not move


def test_fracture_changes_ribs_on_its_side_only() -> None:
    d = np.abs(_diff("Fracture", 4, laterality={"Fracture": "right"}))
    assert d[:, :64].sum() > 200 and d[:, 64:].sum() == 0


def test_lateral_view() -> None:
    img = render_study({"Cardiomegaly": "present"}, 1, view="lateral")
    assert img.mode == "L" and img.size == (128, 128)
    assert np.abs(_diff("Pleural Effusion", 1, view="lateral")).mean() > 1
    assert np.abs(_arr({}, 1, view="lateral") - _arr({}, 1)).mean() > 5


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown CheXpert label"):
        render_study({"Heart Attack": "present"}, 0)
    with pytest.raises(ValueError, match="status"):
        render_study({"Edema": "maybe"}, 0)
    with pytest.raises(ValueError, match="laterality"):
        render_study({"Pneumothorax": "present"}, 0, laterality={"Pneumothorax": "up"})
    unknown = render_study({"Pneumothorax": "present"}, 0, laterality={"Pneumothorax": "unknown"})
    assert unknown.tobytes() == render_study({"Pneumothorax": "present"}, 0).tobytes()
    with pytest.raises(ValueError, match="view"):
        render_study({}, 0, view="oblique")


def test_docstrings_say_synthetic() -> None:
    assert "SYNTHETIC TEST DATA, NOT MEDICAL IMAGES" in phantom.__doc__
    public = [
        phantom.make_scene,
        phantom.render_study,
        phantom.render_scene,
        phantom.render_to_file,
        phantom.contact_sheet,
        phantom.Scene,
        phantom.Anatomy,
        phantom.Lung,
    ]
    for obj in public:
        assert "SYNTHETIC" in (inspect.getdoc(obj) or ""), obj.__name__


def test_speed_at_least_50_per_second_single_core() -> None:
    render_study({}, 0)
    labels = {
        "Cardiomegaly": "present",
        "Pleural Effusion": "present",
        "Support Devices": "present",
    }
    n, t0 = 40, time.process_time()  # CPU time of this process: robust to a busy machine
    for i in range(n):
        render_study(labels, i)
    rate = n / (time.process_time() - t0)
    assert rate > 50, f"{rate:.0f} images/s per CPU second"


# ------------------------------------------------------------------ learnability


@pytest.mark.parametrize("label", ["Cardiomegaly", "Pleural Effusion", "Pneumothorax"])
def test_finding_is_linearly_detectable(label: str) -> None:
    """Present vs absent (other findings mixed in at random) separates with a plain linear
    model on 32x32 pixels (+ their mirror asymmetry): the signal is learnable at small size."""
    x, y = probe_dataset(label, 300, 1 + FINDING_LABELS.index(label))
    assert ridge_accuracy(x, y, 220) > 0.8
