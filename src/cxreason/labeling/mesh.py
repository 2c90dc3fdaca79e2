"""Open-I MeSH annotations -> CheXpert labels (the human gold for ``cxreason label eval``).

An Open-I ``MeSH`` cell is a ``;``-separated list of ``Term/modifier/.../modifier`` entries
written by NLM indexers. It lists positive findings only (hedged findings are often indexed
too); ``normal`` means no abnormality; ``No Indexing`` means the report was not indexed.

Each rule maps a term (optionally restricted by its modifiers) to one CheXpert label, or marks
it *ambiguous* for a label: a report whose only evidence for that label is an ambiguous term is
left out of that label's counts (neither a false positive nor a false negative). The mapping is
documented in docs/labeling.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxreason.vocab import NO_FINDING

NOT_INDEXED = "no indexing"

_LUNG_SITES = frozenset(
    {"lung", "retrocardiac", "pulmonary alveoli", "base", "apex", "hilum", "lingula",
     "upper lobe", "middle lobe", "lower lobe", "costophrenic angle", "bilateral", "left",
     "right", "multiple", "scattered", "round", "patchy", "diffuse", "focal", "lobular"}
)  # fmt: skip
_NON_LUNG_SITES = frozenset(
    {"heart", "ribs", "pleura", "supracardiac", "thorax", "mediastinum", "clavicle", "spine",
     "breast", "abdomen", "humerus", "shoulder", "thoracic vertebrae", "soft tissue", "neck"}
)  # fmt: skip


@dataclass(frozen=True)
class MeshTerm:
    """One parsed MeSH entry: the main term and its lower-cased modifiers."""

    term: str
    modifiers: tuple[str, ...]


def parse_mesh(cell: str) -> list[MeshTerm]:
    """Parse a MeSH cell into terms (empty entries dropped)."""
    out = []
    for raw in (cell or "").split(";"):
        parts = [p.strip() for p in raw.split("/")]
        if parts and parts[0]:
            out.append(
                MeshTerm(" ".join(parts[0].split()), tuple(p.lower() for p in parts[1:] if p))
            )
    return out


def is_indexed(cell: str) -> bool:
    """False for an empty cell or ``No Indexing``."""
    terms = parse_mesh(cell)
    return bool(terms) and not any(t.term.lower() == NOT_INDEXED for t in terms)


def _lung_site(t: MeshTerm) -> bool | None:
    """True: a lung location; False: a non-lung location; None: no location given."""
    mods = set(t.modifiers)
    if mods & _NON_LUNG_SITES and not mods & {"lung", "retrocardiac", "pulmonary alveoli"}:
        return False
    if mods & _LUNG_SITES:
        return True
    return None


def map_term(t: MeshTerm) -> tuple[set[str], set[str]]:
    """(labels the term asserts, labels it is ambiguous for)."""
    name, mods = t.term.lower(), set(t.modifiers)
    pos: set[str] = set()
    amb: set[str] = set()
    if name == "normal":
        pos.add(NO_FINDING)
    elif name == "cardiomegaly":
        pos.add("Cardiomegaly")
    elif name == "cardiac shadow":
        # "enlarged cardiac silhouette" is cardiomegaly or a wide cardiomediastinum: ambiguous.
        amb |= {"Cardiomegaly", "Enlarged Cardiomediastinum"}
    elif name == "mediastinum":
        if mods & {"prominent", "enlarged", "widened", "wide"} and "lymph nodes" not in mods:
            pos.add("Enlarged Cardiomediastinum")
        else:
            amb.add("Enlarged Cardiomediastinum")
    elif name in ("opacity", "density"):
        site = _lung_site(t)
        if site or (site is None and name == "opacity"):
            pos.add("Lung Opacity")
        else:
            amb.add("Lung Opacity")
    elif name in ("infiltrate", "airspace disease"):
        pos.add("Lung Opacity")
    elif name in ("lung diseases, interstitial", "markings", "lucency"):
        amb.add("Lung Opacity")
    elif name == "consolidation":
        pos.add("Consolidation")
    elif name in ("pneumonia", "pneumonia, aspiration"):
        pos.add("Pneumonia")
    elif name == "pulmonary atelectasis":
        pos.add("Atelectasis")
    elif name in ("pneumothorax", "hydropneumothorax", "hemopneumothorax"):
        pos.add("Pneumothorax")
    elif name == "pleural effusion":
        pos.add("Pleural Effusion")
    elif name in ("costophrenic angle", "sulcus"):
        amb |= {"Pleural Effusion", "Pleural Other"}
    elif name in ("thickening", "cicatrix", "calcinosis", "pleura") and "pleura" in mods:
        pos.add("Pleural Other")
    elif name == "pulmonary edema":
        pos.add("Edema")
    elif name == "pulmonary congestion":
        pos.add("Edema")  # vascular congestion counts as edema (CheXpert convention)
    elif name == "heart failure":
        amb.add("Edema")
    elif name in ("nodule", "mass"):
        if _lung_site(t) is False and "pleura" not in mods:
            amb.add("Lung Lesion")
        else:
            pos.add("Lung Lesion")
    elif name in ("lung neoplasms", "neoplasms", "neoplasm metastasis", "cavitation"):
        pos.add("Lung Lesion")
    elif name in ("cysts",):
        amb.add("Lung Lesion")
    elif name == "fractures, bone":
        pos.add("Fracture")
    elif name in (
        "catheters, indwelling",
        "implanted medical device",
        "medical device",
        "stents",
        "tube, inserted",
        "surgical instruments",
        "sutures",
        "pacemaker, artificial",
        "prostheses and implants",
        "heart valve prosthesis",
        "electrodes",
    ):
        pos.add("Support Devices")
    elif name in ("foreign bodies", "spinal fusion", "contrast media"):
        amb.add("Support Devices")
    return pos, amb


def mesh_labels(cell: str) -> tuple[set[str], set[str]]:
    """(gold positive CheXpert labels, labels to leave out as ambiguous) of one MeSH cell.

    ``No Finding`` is positive only for ``normal``; for any other indexed report it is a
    gold negative. Ambiguity never overrides a positive term for the same label.
    """
    pos: set[str] = set()
    amb: set[str] = set()
    for t in parse_mesh(cell):
        p, a = map_term(t)
        pos |= p
        amb |= a
    if NO_FINDING in pos and len(pos) > 1:
        pos.discard(NO_FINDING)  # "normal" alongside findings: trust the findings
    return pos, amb - pos
