from collections import Counter

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


def test_reading_items_ask_one_shown_and_one_absent_finding_per_image(tmp_path):
    from cxreason.demo.phantoms import reading_items, render_random_phantoms
    from cxreason.vocab import FINDING_LABELS, PRESENT

    corpus = render_random_phantoms(tmp_path, 40, size=32, seed=5)
    items = reading_items(corpus, seed=5)
    assert [it.id for it in items] == [it.id for it in reading_items(corpus, seed=5)]
    assert len({it.id for it in items}) == len(items)
    labels_of = {path: labels for path, labels in corpus}
    for it in items:
        (label,) = [lb for lb in FINDING_LABELS if it.question.endswith(f"show {lb.lower()}?")]
        shown = labels_of[it.images[0]].get(label) == PRESENT
        assert it.answer == ("A" if shown else "B"), (it.id, labels_of[it.images[0]])
        assert it.answer_labels == ([label] if shown else [])
        assert it.options == {"A": "Yes", "B": "No"} and it.task == "binary"
        assert it.split == "train" and not it.reasoning_steps  # answer-only: the direct prompt
    per_image = Counter(it.images[0] for it in items)
    with_findings = [p for p, lb in corpus if set(lb) & set(FINDING_LABELS)]
    assert all(per_image[p] == 2 for p in with_findings)  # one "Yes" and one "No"
    assert len(items) == len(corpus) + len(with_findings)
    yes = Counter(it.answer for it in items)
    assert yes["A"] == len(with_findings) and yes["B"] == len(corpus)
    asked = {it.question for it in items}
    assert len(asked) == len(FINDING_LABELS)  # every finding is asked about
