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
