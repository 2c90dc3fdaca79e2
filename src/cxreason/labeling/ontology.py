"""The finding ontology: CheXpert-14 concepts plus extended Open-I findings.

Each :class:`Concept` maps to exactly one CheXpert label (``cxreason.vocab``) or to ``None``
(an extended finding such as a granuloma or scoliosis: abnormal, but outside CheXpert-14).

Patterns are lower-case Python regex fragments matched against lower-cased text at word
boundaries. ``synonyms`` assert the concept (status from the context: negation, uncertainty);
``normal`` phrasings assert its absence by themselves ("normal heart size", "heart size is
upper limits of normal"). :data:`MULTI_NORMAL` holds statements that rule out several
concepts at once ("the lungs are clear").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cxreason.vocab import CHEXPERT_LABELS

# A bounded gap inside one clause that must not cross an abnormal predicate or a contrast
# word ("heart size and mediastinal contour are within normal limits" but not "heart is
# enlarged, lungs normal").
_CLAUSE_GAP = (
    r"(?:(?!enlarg|large|increas|promin|widen|but\b|however|although|except|abnormal)"
    r"[^.;:\n]){0,60}?"
)
_NORMAL_PRED = (
    r"(?:within (?:the )?normal limits|within (?:the )?limits of normal|within normal range|"
    r"(?:at )?(?:the )?upper limits? (?:of )?normal|top (?:of )?normal|"
    r"(?:is |are |remains? |appears? |)(?:normal|unremarkable|not enlarged|stable and normal)|"
    r"normal(?: in)? (?:size|contour|caliber|width))"
)
_ADV = (
    r"(?:(?:is|are|was|appears?|remains?|again|now|still|stably|likely|at least|also|xxxx"
    r"|\w+ly)\s+){0,4}"
)

_HEART = r"(?:heart(?: size)?|cardiac (?:silhouette|size|shadow|contours?|diameter)|cardiac)"
_MEDIAST = (
    r"(?:(?:cardio)?mediastinal (?:silhouettes?|contours?|width|shadows?|structures)|"
    r"cardiomediastinum|mediastinum|mediastinal and hilar contours|hilar and mediastinal contours)"
)


@dataclass(frozen=True)
class Concept:
    """One ontology concept: its CheXpert label (or None) and its phrasings (regex fragments)."""

    name: str
    label: str | None
    synonyms: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    group: str = "finding"  # finding | device | postsurgical | normal-statement


def _c(name, label, synonyms=(), normal=(), group="finding") -> Concept:
    if label is not None and label not in CHEXPERT_LABELS:
        raise ValueError(f"concept {name!r}: unknown CheXpert label {label!r}")
    return Concept(name, label, tuple(synonyms), tuple(normal), group)


_CONCEPT_LIST: list[Concept] = [
    # ---- CheXpert-14 -----------------------------------------------------------------------
    _c(
        "cardiomegaly",
        "Cardiomegaly",
        [
            r"cardiomegaly",
            r"cardiac (?:enlargement|megaly)",
            r"enlarge(?:d|ment of the) (?:heart|cardiac (?:silhouette|shadow|size|contours?))",
            r"enlargement of the heart",
            r"(?:heart|cardiac silhouette) enlargement",
            rf"{_HEART} {_ADV}(?:borderline |mildly |moderately |markedly |severely )?"
            r"(?:enlarged|large|increased|prominent)",
            r"(?:large|prominent|enlarged|borderline) (?:heart|cardiac silhouette|cardiac size)",
            r"(?:heart|cardiac) size (?:is )?(?:at the )?(?:borderline|mildly) (?:enlarged|increased)",
            r"increase(?:d)? in (?:the )?(?:size of the )?(?:heart|cardiac)(?: size| silhouette)",
            r"increased (?:heart|cardiac) size",
        ],
        [
            rf"{_HEART}{_CLAUSE_GAP}\b{_NORMAL_PRED}",
            r"normal(?:-sized?| size)? (?:heart|cardiac (?:silhouette|size|contours?))(?: size)?",
            r"heart (?:is )?normal in size",
            r"no cardiomegaly",
        ],
    ),
    _c(
        "enlarged cardiomediastinum",
        "Enlarged Cardiomediastinum",
        [
            r"widen(?:ed|ing of the) (?:superior |upper )?(?:cardio)?mediastin(?:um|al (?:silhouette|contours?))",
            r"mediastinal (?:widening|enlargement|prominence)",
            r"enlarged (?:cardio)?mediastin(?:um|al (?:silhouette|contours?))",
            rf"{_MEDIAST} {_ADV}(?:enlarged|widened|prominent|wide)",
            r"prominen(?:t|ce of the) (?:superior |upper )?mediastin(?:um|al (?:silhouette|contours?|structures))",
        ],
        [
            rf"{_MEDIAST}{_CLAUSE_GAP}\b{_NORMAL_PRED}",
            r"normal (?:cardio)?mediastinal (?:silhouettes?|contours?|width)",
            r"mediastinum (?:is )?normal",
        ],
    ),
    _c(
        "lung opacity",
        "Lung Opacity",
        [
            r"nodular (?:opacit(?:y|ies)|densit(?:y|ies))",
            r"opaci(?:ty|ties|fication|fied)",
            r"densit(?:y|ies)",
            r"infiltrat(?:e|es|ive|ion)",
            r"air ?space (?:disease|process|opacit(?:y|ies))",
            r"alveolar (?:disease|process|filling)",
            r"haz(?:iness|y opacit(?:y|ies))",
            r"ground[- ]glass",
            r"interstitial (?:opacit(?:y|ies)|process|disease|prominence|infiltrates?)",
            r"parenchymal (?:disease|abnormality)",
            r"focal lung disease",
        ],
    ),
    _c(
        "lung lesion",
        "Lung Lesion",
        [
            r"nodul(?:e|es)",
            r"mass(?:es)?",
            r"(?:lung|pulmonary|cavitary|mass|nodular|parenchymal|spiculated) lesions?",
            r"lesions?",
            r"neoplasms?",
            r"tumou?rs?",
            r"carcinoma",
            r"metastatic (?:disease|lesions?|nodules?|foci|deposits)",
            # a cavity in the lung, not the chest's or the pleura's ("the chest cavity")
            r"cavitation|cavitary|(?<!chest )(?<!thoracic )(?<!pleural )(?<!abdominal )cavity",
        ],
    ),
    _c(
        "edema",
        "Edema",
        [
            r"(?:pulmonary |interstitial |alveolar )?o?edema",
            r"(?:pulmonary )?vascular congestion",
            r"pulmonary congestion",
            r"congestive heart failure|chf",
            r"fluid overload",
            r"(?:pulmonary )?venous (?:congestion|hypertension)",
            r"cephalization",
            r"kerley b? ?lines",
            r"(?:pulmonary )?vasculature (?:is |are )?(?:congested|engorged|prominent|indistinct)",
            r"(?:engorged|prominent|indistinct) (?:pulmonary )?vasculature",
            r"(?:central |pulmonary )?vascular (?:markings |structures )?(?:are |is )?(?:\w+ly )?"
            r"(?:prominent|engorged|congested|indistinct)",
            r"(?:central |pulmonary )?vascular (?:prominence|engorgement|indistinctness|redistribution)",
            r"indistinct (?:central )?(?:pulmonary )?vascula(?:r margination|r markings|ture|rity)",
            r"increased (?:central )?(?:pulmonary |lung )?vascular(?:ity|ature| markings)",
            r"prominen(?:ce|t) (?:of )?(?:the )?(?:central )?(?:pulmonary )?vascula(?:ture|rity)",
            r"(?:pulmonary |lung )?vascula(?:ture|rity) (?:is |are )?(?:\w+ly )?increased",
        ],
        [
            r"(?:pulmonary |lung )?(?:vasculature|vascularity|vascular markings|vascular engorgement)"
            rf"{_CLAUSE_GAP}\b{_NORMAL_PRED}",
            r"normal (?:pulmonary )?(?:vasculature|vascularity)",
        ],
    ),
    _c("consolidation", "Consolidation", [r"consolidat(?:ion|ions|ive|ed)"]),
    _c(
        "pneumonia",
        "Pneumonia",
        [
            r"pneumonias?",
            r"pneumonitis",
            r"bronchopneumonia",
            r"infectio(?:n|us process|us infiltrate)",
            r"aspiration",
        ],
    ),
    _c(
        "atelectasis",
        "Atelectasis",
        [r"atelecta(?:sis|ses|tic)", r"collapse"],
    ),
    _c(
        "pneumothorax",
        "Pneumothorax",
        [r"pneumothora(?:x|ces)", r"hydropneumothorax", r"hemopneumothorax", r"ptx"],
    ),
    _c(
        "pleural effusion",
        "Pleural Effusion",
        [
            r"(?:pleural )?effusions?",
            r"pleural fluid",
            r"hydrothorax",
            r"fluid in the (?:major |minor )?fissure",
        ],
        [
            r"costophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx) (?:are |is )?(?:sharp|clear|preserved|normal)",
        ],
    ),
    _c(
        "pleural thickening",
        "Pleural Other",
        [
            r"pleural(?: and parenchymal| or parenchymal|-parenchymal)? (?:thickening|scarring|plaques?|calcifications?|reaction)",
            r"(?:apical )?pleural[- ]parenchymal (?:scarring|thickening|changes?)",
            r"(?:apical|biapical) (?:pleural )?(?:cap|capping|thickening)s?",
            r"pleural (?:cap|capping|scars?)",
            r"fissural thickening",
            r"fibrothorax",
            r"thickening of the (?:pleura|fissures?)",
        ],
    ),
    _c(
        "fracture",
        "Fracture",
        [r"fractur(?:e|es|ed)", r"fx"],
    ),
    _c(
        "acute bone abnormality",
        "Fracture",
        [r"acute (?:bony|bone|osseous) (?:abnormalit(?:y|ies)|findings?|injury|process)"],
        [
            r"(?:bony|osseous) structures(?: of the thorax)?{_GAP}\b(?:intact|unremarkable|normal)".replace(
                "{_GAP}", _CLAUSE_GAP
            ),
        ],
    ),
    _c(
        "support device",
        "Support Devices",
        [
            r"(?:central venous |venous |indwelling |picc |midline |swan[- ]ganz |dialysis |port[- ]?a[- ]?)?catheters?",
            r"(?:central |picc |jugular |subclavian |venous |ij |internal jugular |arterial |midline |dialysis )lines?",
            r"lvad|left ventricular assist device|intra-?aortic balloon pump|iabp",
            r"picc",
            r"(?:endotracheal|et|nasogastric|ng|og|orogastric|chest|feeding|tracheostomy|enteric|dobhoff) tubes?",
            r"tracheostomy",
            r"pacemakers?|pacer|aicd|icd|defibrillators?|cardioverter",
            r"(?:pacemaker|pacer|pacing|aicd|icd|defibrillator) (?:leads?|wires?|generator|device)",
            r"(?:power )?port(?:-a-cath| catheter|a ?cath)?\b(?! of)",
            r"stents?",
            r"(?:prosthetic|mechanical|replacement|bioprosthetic|artificial) (?:aortic |mitral |pulmonic |tricuspid )?valves?",
            r"(?:aortic|mitral) valve (?:replacement|prosthesis)",
            r"(?:loop )?recorder",
            r"(?:medical )?devices?",
            r"(?:orthopedic |surgical |fixation |spinal |fusion )?hardware",
            r"(?:surgical |vascular |cholecystectomy |postsurgical |metallic )?clips?",
            r"(?:catheter|line|tube|port|picc|xxxx) tips?",
            r"tips? (?:is |are )?(?:projecting|projects|terminat\w+|overl\w+|in|at|visualized|located"
            r"|positioned|near|within|over|low|high|mid|seen)",
            r"(?:ivc|vena cava) (?:filter|xxxx)",
            r"(?:vp |ventriculoperitoneal )?shunt(?: tubing| catheter)?|tips",
            r"(?:bone )?anchors?|stimulators?|pumps?",
            r"(?:cerclage|surgical) wires?",
            r"staples?|sutures?|suture material",
            r"implants?|(?:tissue )?expanders?",
            r"prosthes(?:is|es)",
            r"prosthetic(?: (?:right|left))?(?: \w+)? (?:head|joint|shoulder|hip|knee)",
            r"coils?",
            r"filter",
            r"(?:shoulder |humeral )?arthroplasty",
            r"radiopaque markers?|electrodes?|leads(?! to\b)",  # not the verb: "leads to"
        ],
        group="device",
    ),
    # ---- extended Open-I concepts (label None: abnormal but outside CheXpert-14) -----------
    _c(
        "calcified granuloma",
        None,
        [r"calcified (?:granulomas?|lymph nodes?)", r"granulomatous calcifications?"],
    ),
    _c(
        "granuloma",
        None,
        [
            r"granulomas?",
            r"granulomata",
            r"(?:old |prior |healed )?granulomatous(?: (?:disease|changes?|infection|process|sequelae?|calcifications?))?",
        ],
    ),
    _c(
        "calcification",
        None,
        [r"calcifi(?:cations?|ed)", r"calcinosis"],
    ),
    _c(
        "aortic atherosclerosis",
        None,
        [
            r"atherosclero(?:sis|tic)(?: (?:changes?|disease|calcifications?|vascular disease))?",
            r"calcified aort(?:a|ic (?:arch|knob|knuckle))",
            r"aortic (?:arch |knob )?(?:calcifications?|atherosclerosis)",
            r"atheromatous",
        ],
    ),
    _c(
        "tortuous aorta",
        None,
        [
            r"tortu(?:ous|osity)(?: of the)?(?: thoracic| descending)? ?(?:aorta|aortic)?",
            r"ectati?(?:c|sia)(?: aorta)?",
            r"unfold(?:ed|ing)(?: of the)?(?: thoracic)?(?: aorta)?",
            r"aorta (?:is )?(?:tortuous|ectatic|unfolded|dilated|prominent|enlarged)",
            r"(?:dilated|prominent|enlarged|ectatic) (?:thoracic )?aort(?:a|ic (?:arch|knob))",
            r"aortic (?:aneurysm|dilatation|ectasia)",
            r"aneurysm(?:al)?",
        ],
    ),
    _c("hiatal hernia", None, [r"hiatal hernia|hiatus hernia", r"hernia(?:tion)?s?"]),
    _c(
        "emphysema",
        None,
        [
            r"emphysema(?:tous)?(?: changes?)?",
            r"copd|chronic obstructive (?:pulmonary|lung) disease",
            r"bullae|bullous|bulla|blebs?",
        ],
    ),
    _c(
        "hyperinflation",
        None,
        [
            r"hyperinfla(?:tion|ted)",
            r"hyperexpan(?:sion|ded)",
            r"hyperaerat(?:ion|ed)",
            r"over ?(?:inflat|expan|aerat)(?:ion|ed)",
            r"(?:flattened|flattening of the|flat) (?:hemi)?diaphragms?",
            r"(?:hemi)?diaphragms? (?:are |is )?flattened",
            r"(?:increased|large) lung volumes",
            r"(?:lungs|lung volumes) (?:are |is )?(?:\w+ly )?(?:hyperinflated|hyperexpanded|large|increased)",
            r"hyperlucen(?:t|cy)",
            r"air trapping",
        ],
    ),
    _c(
        "low lung volumes",
        None,
        [
            r"(?:low|decreased|reduced|diminished|small) (?:lung )?volumes?(?! normal)",
            r"hypoinfla(?:tion|ted)",
            r"hypoventilat(?:ed|ion)",
            r"hypoexpan(?:sion|ded)",
            r"poor(?:ly)? (?:inspiration|inspiratory effort|inflated)",
            r"(?:lungs|lung volumes) (?:are |is )?(?:\w+ly )?(?:low(?! normal)|hypoinflated|decreased|small)",
            r"shallow inspiration",
        ],
    ),
    _c(
        "scarring",
        None,
        [
            r"scar(?:s|ring|red)?",
            r"fibros(?:is|ing)|fibrotic(?: changes?)?",
            r"cicatri(?:x|cial)",
            r"parenchymal bands?",
        ],
    ),
    _c(
        "interstitial markings",
        None,
        [
            r"(?:increased|prominent|coarse(?:ned)?|accentuated|chronic|interstitial)"
            r" (?:interstitial |bronchovascular |lung |pulmonary )?markings",
            r"(?:bronchovascular|interstitial) (?:crowding|prominence)",
            r"chronic (?:interstitial |lung )?(?:changes?|disease)",
            r"bronchitic changes?|peribronchial (?:thickening|cuffing)|bronchial wall thickening",
            r"interstitial lung disease",
            r"reticul(?:ar|onodular) (?:pattern|changes?)",
        ],
    ),
    _c(
        "costophrenic blunting",
        None,
        [
            r"blunt(?:ing|ed)(?: of)?(?: the)?(?: left| right| bilateral| posterior| lateral)*"
            r" costophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx)",
            r"costophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx) (?:are |is )?(?:\w+ly )?blunt(?:ed|ing)",
        ],
    ),
    _c("volume loss", None, [r"(?:lung |lobar )?volume loss"]),
    _c("bronchiectasis", None, [r"bronchiectasis|bronchiectatic"]),
    _c(
        "scoliosis",
        None,
        [
            r"(?:levo|dextro|rotatory |thoracolumbar |thoracic )?scolio(?:sis|tic)",
            r"(?:levo|dextro)convex",
            r"(?:spinal )?curvature",
        ],
    ),
    _c("kyphosis", None, [r"kypho(?:sis|tic)", r"kyphoscoliosis"]),
    _c(
        "degenerative spine",
        None,
        [
            r"degenerati(?:ve|on)(?: (?:disc|joint|spine|spinal|arthritic))?(?: changes?| disease)?",
            r"osteophyt(?:es|e|osis|ic)",
            r"spondylo(?:sis|tic)",
            r"(?:osteo)?arthriti(?:s|c)(?: changes?)?",
            r"djd|degenerative joint disease",
            r"dish|diffuse idiopathic skeletal hyperostosis",
            r"(?:disc|disk) space narrowing",
            r"endplate (?:changes?|sclerosis)",
        ],
    ),
    _c(
        "bone deformity",
        None,
        [
            r"deformit(?:y|ies)",
            r"(?:compression|wedge|wedging) (?:deformit(?:y|ies)|of)",
            r"(?:vertebral )?(?:body )?(?:height loss|wedging)",
            r"pectus (?:excavatum|carinatum)",
        ],
    ),
    _c(
        "bone lesion",
        None,
        [
            r"(?:lytic|blastic|sclerotic|osseous|bony|bone|skin|cutaneous|expansile) lesions?",
            r"(?:lytic|blastic|sclerotic|osseous|bony|bone) (?:opacit(?:y|ies)|densit(?:y|ies))",
            r"bone islands?",
        ],
    ),
    _c(
        "osteopenia",
        None,
        [r"osteopeni(?:a|c)", r"osteoporo(?:sis|tic)", r"demineraliz(?:ation|ed)"],
    ),
    _c(
        "elevated hemidiaphragm",
        None,
        [
            r"elevat(?:ed|ion of the)(?: left| right)? (?:hemi)?diaphragms?",
            r"(?:hemi)?diaphragms? (?:is |are )?(?:\w+ly )?elevated",
            r"eventration",
            r"diaphragmatic (?:eventration|elevation)",
        ],
    ),
    _c(
        "pulmonary artery enlargement",
        None,
        [
            r"(?:enlarged|prominent|dilated) (?:central )?pulmonary (?:arter(?:y|ies)|trunk|outflow tract)",
            r"pulmonary arter(?:y|ies) (?:are |is )?(?:\w+ly )?(?:enlarged|prominent|dilated)",
            r"pulmonary (?:arterial )?hypertension",
            r"(?:hilar|hila) (?:are |is )?(?:\w+ly )?(?:enlarged|prominent|fullness)",
            r"(?:enlarged|prominent|full) hil(?:a|ar|um)",
            r"hilar (?:enlargement|prominence|fullness)",
        ],
    ),
    _c(
        "lymphadenopathy",
        None,
        [r"(?:hilar |mediastinal )?(?:lymphadenopathy|adenopathy)", r"enlarged lymph nodes?"],
    ),
    _c("pericardial effusion", None, [r"pericardial effusions?"]),
    _c("epicardial fat", None, [r"(?:epicardial|pericardial) fat(?: pads?)?"]),
    _c("soft tissue swelling", None, [r"soft[- ]tissue (?:edema|swelling)"]),
    # "retrocardiac soft tissue density" (a hiatal hernia), "paratracheal soft tissue density"
    # (a mass or nodes): a soft-tissue density is not an airspace/lung opacity by itself
    _c("soft tissue density", None, [r"soft[- ]tissue (?:densit(?:y|ies)|opacit(?:y|ies))"]),
    _c("nipple shadow", None, [r"nipple shadows?"]),
    _c(
        "foreign body",
        None,
        [
            r"foreign bod(?:y|ies)",
            r"(?:nipple |body )?(?:jewelry|piercings?)",
            r"bullet fragments?|shrapnel|metallic fragments?",
        ],
    ),
    _c(
        "post-surgical change",
        None,
        [
            r"post[- ]?(?:surgical|operative) changes?",
            r"(?:lobectomy|pneumonectomy|mastectomy|thoracotomy|cholecystectomy|resection)",
            r"(?:median |midline )?sternotomy(?: wires?| sutures?| xxxx)?",
            r"sternal (?:wires?|sutures?|cerclage)",
            r"cabg|coronary artery bypass(?: graft(?:ing)?)?|bypass grafts?",
            r"(?:anterior |posterior )?(?:cervical |thoracic |lumbar )?(?:spinal |spine )?fusion",
        ],
        group="postsurgical",
    ),
    _c("breast implants", None, [r"breast (?:implants?|prosthes[ie]s)"]),
    _c("cyst", None, [r"cysts?|cystic"]),
    _c("tuberculosis", None, [r"tuberculo(?:sis|us)(?: disease)?|tb"]),
    _c(
        "pneumoperitoneum",
        None,
        [r"pneumoperitoneum|free (?:intraperitoneal |subdiaphragmatic )?air"],
    ),
    _c("subcutaneous emphysema", None, [r"subcutaneous (?:emphysema|air|gas)"]),
    _c("azygos lobe", None, [r"azygo?u?s (?:lobe|fissure)"]),
    _c(
        "technical limitation",
        None,
        [
            r"(?:limited|suboptimal|technically limited|nondiagnostic) (?:exam(?:ination)?|study|evaluation|inspiration)",
            r"patient rotation|rotated|rotation",
            r"underpenetrat(?:ed|ion)|overpenetrat(?:ed|ion)",
            r"(?:lordotic|ap) (?:positioning|projection|technique)",
            r"motion artifact",
        ],
    ),
    # ---- global normal statements ---------------------------------------------------------
    _c(
        "acute cardiopulmonary abnormality",
        None,
        [
            r"acute(?: or active)?(?: (?:radiographic |intrathoracic )?(?:cardiopulmonary|pulmonary|cardiac"
            r"|chest|intrathoracic|thoracic|radiographic|cardiothoracic|lung|cardiopulmonary or osseous"
            r"|cardiac, pulmonary or pleural))?"
            r" (?:abnormalit(?:y|ies)|findings?|process(?:es)?|disease|pathology|changes?|injury)",
        ],
        group="normal-statement",
    ),
    _c(
        "chest abnormality",
        None,
        [r"(?:radiographic |chest )?abnormalit(?:y|ies)", r"active (?:disease|process)"],
        [
            r"normal (?:chest|exam(?:ination)?|study|radiograph|chest (?:x-?ray|radiograph|film))",
            r"(?:negative|unremarkable) (?:chest|exam(?:ination)?|study|radiograph)",
            r"chest (?:is |appears? )?(?:normal|unremarkable|negative)",
        ],
        group="normal-statement",
    ),
]

CONCEPTS: dict[str, Concept] = {c.name: c for c in _CONCEPT_LIST}

#: Statements that rule out several concepts at once (fragment, concepts made absent).
#: "The lungs are clear" asserts no parenchymal opacity of any kind: no opacity,
#: consolidation, pneumonia or edema. It says nothing about the pleura, devices or bones.
MULTI_NORMAL: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        r"(?:lungs?|lung fields?|lung parenchyma)(?: (?:are|is|appear|appears|remain|remains))?"
        r"(?: (?:\w+ly|well|normally) (?:expanded|inflated|aerated))?(?: and)?"
        r"(?: (?:\w+ly|otherwise|grossly|now|still))? clear",
        ("lung opacity", "consolidation", "pneumonia", "edema"),
    ),
    (
        r"clear lungs?|lungs? (?:are |is )?(?:grossly )?clear",
        ("lung opacity", "consolidation", "pneumonia", "edema"),
    ),
)

#: Alternative label names users write (lower-case) -> CheXpert label.
_LABEL_ALIASES: dict[str, str] = {
    "normal": "No Finding",
    "no finding": "No Finding",
    "no findings": "No Finding",
    "no abnormality": "No Finding",
    "enlarged cardiomediastinum": "Enlarged Cardiomediastinum",
    "widened mediastinum": "Enlarged Cardiomediastinum",
    "cardiomegaly": "Cardiomegaly",
    "enlarged heart": "Cardiomegaly",
    "lung opacity": "Lung Opacity",
    "opacity": "Lung Opacity",
    "airspace opacity": "Lung Opacity",
    "lung lesion": "Lung Lesion",
    "nodule": "Lung Lesion",
    "mass": "Lung Lesion",
    "effusion": "Pleural Effusion",
    "pleural effusion": "Pleural Effusion",
    "pleural other": "Pleural Other",
    "pleural thickening": "Pleural Other",
    "support devices": "Support Devices",
    "support device": "Support Devices",
    "devices": "Support Devices",
    "lines and tubes": "Support Devices",
    "fractures": "Fracture",
}

_WORD = re.compile(r"[^a-z0-9]+")


def concept_label(name: str) -> str | None:
    """CheXpert label of an ontology concept (``None`` for extended concepts); KeyError if unknown."""
    return CONCEPTS[name].label


def normalize_label_name(text: str) -> str | None:
    """Map a label name or synonym (any case/spacing) to its CheXpert label, or ``None``."""
    key = _WORD.sub(" ", (text or "").lower()).strip()
    if not key:
        return None
    for lb in CHEXPERT_LABELS:
        if key == lb.lower():
            return lb
    if key in _LABEL_ALIASES:
        return _LABEL_ALIASES[key]
    if key.endswith("s") and key[:-1] in _LABEL_ALIASES:
        return _LABEL_ALIASES[key[:-1]]
    from cxreason.labeling.extract import extract_mentions

    ms = [m for m in extract_mentions(key) if m.label and m.status == "present"]
    if len(ms) == 1 and ms[0].start == 0 and ms[0].end == len(key):
        return ms[0].label
    return None
