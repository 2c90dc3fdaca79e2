"""The prefix-dispatch scanner finds exactly what one big alternation would find."""

from __future__ import annotations

import random
import re

from cxreason.labeling.extract import _ENTRIES, _SCANNER
from cxreason.labeling.scan import WordScanner, fragment_prefixes


def test_fragment_prefixes() -> None:
    assert fragment_prefixes("pleural effusion") == {"ple"}
    assert fragment_prefixes(r"(?:pulmonary )?o?edema") == {"pul", "oed", "ede"}
    assert fragment_prefixes(r"\w+ly enlarged") == {""}  # unknown start: tried everywhere
    assert fragment_prefixes(r"a(?:b|c)?d") == {"abd", "acd", "ad"}


def test_scanner_matches_reference_alternation() -> None:
    frags = list(_SCANNER.fragments)
    ref = re.compile(
        r"(?<![a-z0-9])(?:"
        + "|".join(f"(?P<g{i}>{f})" for i, f in enumerate(frags))
        + r")(?![a-z0-9])"
    )
    words = ("no pleural effusion heart size is normal mildly enlarged cardiac silhouette lungs are "
             "clear left lower lobe opacity stable calcified granuloma xxxx , . ; and or with "
             "possible pneumonia atelectasis tip picc line").split()  # fmt: skip
    rng = random.Random(0)
    scanner = WordScanner(frags)
    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        want = [(m.start(), m.end(), int(m.lastgroup[1:])) for m in ref.finditer(text)]
        assert list(scanner.scan(text)) == want, text
    assert len(_ENTRIES) == len(frags)


def test_pair_scanner_equals_two_scans() -> None:
    from cxreason.labeling.extract import _OVERLAP, _PAIR
    from cxreason.labeling.triggers import TRIGGER_SCANNER

    texts = [
        "Heart size and mediastinal contour are within normal limits. No pneumothorax or "
        "large pleural effusion; possible left basilar atelectasis versus pneumonia.",
        "the lungs are clear. there is no focal consolidation. xxxx tip in the svc.",
        "",
    ]
    for text in texts:
        a, b = _PAIR.scan(text, _OVERLAP)
        assert a == list(_SCANNER.scan(text, _OVERLAP))
        assert b == list(TRIGGER_SCANNER.scan(text))
