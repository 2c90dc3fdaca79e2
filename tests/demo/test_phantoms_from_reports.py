from cxreason.demo.phantoms import laterality_from_report


def test_laterality_from_mention_sentence():
    labels, side = laterality_from_report(
        "Small left pleural effusion. Right apical pneumothorax is noted.", "No consolidation."
    )
    assert labels.get("Pleural Effusion") == "present"
    assert side == {"Pleural Effusion": "left", "Pneumothorax": "right"}


def test_bilateral_and_absent_findings():
    labels, side = laterality_from_report("Bilateral pleural effusions. No pneumothorax.", "")
    assert side == {"Pleural Effusion": "bilateral"}
    assert labels.get("Pneumothorax") == "absent"


def test_random_phantom_corpus_is_deterministic_and_labelled(tmp_path):
    from PIL import Image

    from cxreason.demo.phantoms import random_phantom_labels, render_random_phantoms
    from cxreason.vocab import FINDING_LABELS, NO_FINDING

    labels = random_phantom_labels(400, seed=3, p=0.2)
    assert labels == random_phantom_labels(400, seed=3, p=0.2)
    assert labels != random_phantom_labels(400, seed=4, p=0.2)
    share = sum(len(lb) for lb, _ in labels if NO_FINDING not in lb) / (400 * len(FINDING_LABELS))
    assert 0.15 < share < 0.25  # each finding present with p = 0.2
    assert all(set(side) <= set(lb) for lb, side in labels)
    assert sum(NO_FINDING in lb for lb, _ in labels) > 0  # an empty draw is a normal study

    a = render_random_phantoms(tmp_path / "a", 6, size=64, seed=3)
    b = render_random_phantoms(tmp_path / "b", 6, size=64, seed=3)
    assert [lb for _, lb in a] == [lb for lb, _ in labels[:6]]
    for (pa, _), (pb, _) in zip(a, b, strict=True):
        assert Image.open(pa).size == (64, 64)
        assert Image.open(pa).tobytes() == Image.open(pb).tobytes()
    assert not list((tmp_path / "a").glob("*.tmp"))
    # a second call keeps the files it finds (the demo resumes an interrupted corpus)
    first = (tmp_path / "a" / "random_00000.png").stat().st_mtime_ns
    render_random_phantoms(tmp_path / "a", 6, size=64, seed=3)
    assert (tmp_path / "a" / "random_00000.png").stat().st_mtime_ns == first
