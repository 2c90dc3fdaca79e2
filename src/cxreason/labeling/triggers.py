"""Context triggers: negation, uncertainty, pseudo-triggers and scope terminators.

Each trigger has a kind and a direction. ``pre`` triggers govern mentions that follow them in
the same clause ("no pneumothorax or large pleural effusion": both negated); ``post`` triggers
govern mentions that precede them ("pneumonia cannot be excluded"). ``pseudo`` triggers look
like a trigger but are not one ("no change in cardiomegaly": still present; "no opacity to
suggest pneumonia": the negation continues through "to suggest"). ``term`` triggers end a scope
("no effusion, but there is atelectasis"). ``hyp`` triggers mark a hypothetical ("if there is
concern for a rib fracture"): such a mention is asserted neither way and is dropped.

High-probability hedges ("probable", "likely", "most consistent with") leave a mention
``present``: the radiologist commits to the finding, and the NLM indexers of Open-I index such
findings as positive. Low-probability hedges ("possible", "may represent", "cannot exclude",
"questionable", "concerning for", "differential includes", "versus") make it ``uncertain``.

Status conventions: ``absent`` for negation and for resolution ("resolved left effusion",
"interval clearing of the opacity", "the line has been removed"); ``uncertain`` for hedges;
persistence words ("unchanged", "stable", "persistent") leave a mention ``present``.
"""

from __future__ import annotations

import re

from cxreason.labeling.scan import WordScanner

NEG, UNC, PSEUDO, TERM = "neg", "unc", "pseudo", "term"
HYP, GEN, HIST, OPT = "hyp", "gen", "hist", "opt"
#: Kinds that make a mention not asserted (dropped from the labeler's mentions).
NOT_ASSERTED = frozenset({HYP, GEN, HIST, OPT})
#: Human-readable name of each not-asserted kind (``extract_annotated``'s ``context``).
CONTEXT_NAMES = {HYP: "hypothetical", GEN: "generic", HIST: "historical", OPT: "option"}
#: Largest number of words between a not-asserted trigger and a mention it governs.
NOT_ASSERTED_WINDOW_WORDS = 24


#: (kind, direction, fragments). direction: "pre", "post" or "both".
_TRIGGERS: list[tuple[str, str, list[str]]] = [
    (
        PSEUDO,
        "pre",
        [
            r"no (?:(?:significant|appreciable|definite|substantial|marked|interval|other|much) ){0,3}"
            r"(?:change|increase|decrease|worsening|progression|improvement|enlargement)"
            r"(?: in| of| from)?(?: the)?(?: size of| extent of| appearance of)?(?: the)?",
            r"not only",
            r"age[- ]indeterminate|age[- ]undetermined",
            r"gram[- ]negative",
            r"without (?:(?:significant|appreciable|definite|substantial|marked|interval|much) ){0,3}"
            r"change(?: in| of)?",
            r"most (?:suggestive of|consistent with|compatible with|likely)",
            r"unchanged|stable|persistent|persists|again (?:seen|noted|demonstrated)|redemonstrated",
        ],
    ),
    (PSEUDO, "both", [r"to suggest|to indicate|suggest(?:ive|ing)? of (?:acute|active)"]),
    (
        NEG,
        "pre",
        [
            r"no (?:radiographic |definite |convincing |visible |obvious |focal |other )?"
            r"(?:evidence|signs?|findings?|features?) (?:of|to suggest|for|of an?)",
            r"no",
            r"not",
            # contractions of "not": "I don't see any effusion", "there isn't a pneumothorax"
            r"(?:do|does|did|is|are|was|were|has|have|had|ca|could|need)n[\u2019']t",
            r"nor",
            r"without(?: (?:evidence|signs?|findings?) of)?",
            r"negative for",
            r"free of",
            r"clear of",
            r"absence of",
            r"rather than",
            r"(?:interval )?(?:resolution|clearing|removal|resolving) of",
            r"interval (?:resolved|removed|cleared)",
            r"fails? to (?:reveal|demonstrate|show)",
            r"ruled out",
            r"there is no|there are no|with no",
            r"there (?:is|are|was|were) no (?:(?:radiographic|definite|convincing|visible|obvious"
            r"|focal|other|distinct|clear|significant|apparent) )?(?:evidence|signs?|findings?"
            r"|features?|indications?) (?:of|to suggest|for)",
            r"negative",
            r"ruling out|rules out|excluding|excludes|eliminat(?:es|ing)",
            r"(?:can|could|we|i) (?:safely |confidently |therefore |thus )?(?:rule out|exclude)",
            r"(?:the )?lack(?:s|ing)?(?: of)?(?: any)?",
        ],
    ),
    (
        NEG,
        "post",
        [
            r"(?:is|are|was|were|has been|have been)? ?(?:not|no longer) (?:be )?(?:seen|identified|"
            r"visualized|visible|present|evident|demonstrated|appreciated|noted|detected|apparent"
            r"|appreciable|identifiable)",
            r"(?:is|are) absent",
            # "an indwelling catheter on the right does not appear present"
            r"(?:does|do|did)(?: not|n[\u2019']t) (?:appear|seem)(?: to be)? (?:present|visible"
            r"|evident|seen)",
            r"(?:has|have) (?:resolved|cleared|been removed|been resolved)",
            r"(?:is|are|was|were) (?:negative|excluded|ruled out|eliminated)",
            r"(?:can|could) be (?:safely |confidently )?(?:ruled out|excluded|eliminated)",
            r"no longer",
        ],
    ),
    (
        UNC,
        "pre",
        [
            r"possib(?:le|ly)",
            r"(?:please )?correlate(?: clinically)? (?:for|with)(?: any)?",
            r"clinical (?:signs?|symptoms?) (?:or symptoms )?of|symptoms of",
            r"(?:may|might|could) (?:also )?(?:represent|reflect|be|indicate|relate to|correspond to|"
            r"account for|also represent|be due to|be related to)",
            r"questionabl[ey]",
            r"question of",
            r"suspicious (?:for|of)",
            r"suspicion (?:for|of)",
            r"suspect(?:ed)?",
            r"suggest(?:s|ive of|ing|ed)?",
            r"concern(?:ing)? (?:(?:findings?|features?) )?(?:for|of)",
            r"worrisome for",
            r"differential (?:diagnosis )?(?:includes?|considerations? (?:includes?|are))",
            r"differential",
            r"(?:to )?rule out|r/o",
            r"consider(?:ed)?",
            r"equivocal",
            r"uncertain",
            r"perhaps",
            r"(?:developing|early|evolving|atypical)",
        ],
    ),
    (
        UNC,
        "post",
        [
            r"(?:is|are)(?: also)? (?:possible|suspected|questioned|not excluded|not ruled out)",
            r"not (?:entirely |completely )?(?:excluded|ruled out)",
            r"(?:may|might|could) be (?:present|seen)",
            r"suspected|questioned",
            r"(?:is|are) (?:in|included in|within|part of) the differential(?: diagnosis)?",
            r"(?:is|are) (?:a |another )?(?:consideration|possibility)",
            r"\?",
        ],
    ),
    (NEG, "both", [r"resolved|removed|cleared|absent"]),
    # hypotheticals ("if there is concern for a fracture"): the mention is not asserted at all
    (
        HYP,
        "pre",
        [
            r"if (?:there (?:is|are|be)|any)|in case of|should there be",
            r"(?:whether|if)(?: or not)?(?: there (?:is|are|was|were|be))?(?: any)?",
            # a purpose or a search: "to determine whether", "we assess the lungs for"
            r"to (?:determine|assess|evaluate|check|see|find|identify|investigate|confirm|verify"
            r"|exclude|detect|look for|establish|distinguish|differentiate|ascertain|rule out"
            r"|search for|screen for|examine|inspect|analy[sz]e|review)(?: for| whether| if)?",
            # the object may carry an aside: "I evaluated the heart silhouette, particularly near
            # the left atrium border, for any increased density"
            r"(?:assess|evaluat|check|look|search|examin|inspect|review|scan|screen|analy[sz]"
            r"|investigat)\w* (?:(?!no |not |there )[a-z'-]+,? ){0,10}?for(?: (?:any|the|a|an"
            r"|possible|potential|signs? of|evidence of|features? of|(?:the )?presence of))*",
            r"(?:the )?(?:possibility|likelihood) of",
            # a step of the method, not a finding: "identifying atelectasis requires", "assessing
            # signs of reduced lung volume", "recognition of osteophytes focuses on"
            r"(?:(?:we|i) (?:will |then |first |next |now |also |must |should |can )?)?"
            r"(?:assess|evaluate|inspect|examine|investigate|review|check|consider|analy[sz]e"
            r"|identify|look at)(?: (?:for|whether|if))?(?: (?:any|the|a|an|possible|potential"
            r"|signs? of|evidence of|features? of|(?:the )?presence of))*",
            r"(?:identif(?:ying|ication of)|recogni(?:tion of|[sz]ing)|detect(?:ion of|ing)"
            r"|analy[sz](?:is of|ing)|assess(?:ing|ment of)|evaluat(?:ing|ion of)"
            r"|investigat(?:ing|ion of)|checking|inspecting|examining|searching|looking)"
            r"(?: (?:for|at|whether|if))?(?: (?:any|the|a|an|possible|potential|signs? of"
            r"|evidence of|features? of|(?:the )?presence of))*",
            # what a method step is after: "the investigation seeks an abnormal curvature", "the
            # focus should be on any localized increase in density"
            r"(?:seek(?:s|ing)?|focus(?:es|ed|ing)? (?:should be |is )?on(?: (?:identifying|finding"
            r"|detecting|locating))?)(?: (?:any|the|a|an|possible|potential|signs? of|evidence of"
            r"|features? of|(?:the )?presence of))*",
            r"(?:several |the |these |various |each of the |all |some )*(?:potential|possible"
            r"|given|listed|provided|following|suspected) (?:issues|findings|conditions"
            r"|abnormalities|options|possibilities|pathologies|diagnoses|features|observations)"
            r"(?: (?:such as|including|like|listed|provided|given|mentioned|in the options))?:?",
        ],
    ),
    (HYP, "post", [r"if (?:present|any|seen)"]),
    (
        HYP,
        "both",
        [
            r"would",
            r"(?:would|should)n[\u2019']t",
            r"should (?:appear|be|show|look)",
            # what a finding will look like: "an opacity near the heart border will be indicative"
            r"will (?:be|appear|show|look|present|manifest)",
            # what a view might show, not what it shows: "the frontal film may show an opacity"
            r"(?:may|might|could) (?:also )?(?:show|reveal|demonstrate|display)",
        ],
    ),
    # generic statements about a finding, not about this image
    (
        GEN,
        "both",
        [
            r"typically|usually|commonly|classically|characteristically",
            r"(?:often|generally|frequently) (?:\w+ )?(?:appears?|presents?|shows?|manifests?"
            r"|seen|visible|causes?|results?|involves?|associated|occurs?|showing|appearing"
            r"|presenting|manifesting|represents?|indicates?|reflects?)",
            r"(?:is |are )?characteri[sz]ed by|(?:is|are) defined as|refers? to",
            # an option's definition: "B) Calcinosis of aorta: This describes calcification"
            r"(?:this|which|it) (?:describes|denotes|means)",
            r"(?:is|are) (?:a |an )?(?:common|typical|classic|known|characteristic)"
            r" (?:sign|finding|feature|cause|manifestation)s? of",
            r"(?:can|may|might|could) (?:appear|present|manifest|show up|look)(?: as| like)?",
            r"can (?:also )?(?:indicate|represent|reflect|be|cause|suggest|show|occur|lead to"
            r"|result in|mimic|signify|point to|involve|include)",
            r"(?:may|might|could) (?:also )?(?:result in|lead to|cause|produce)",
            r"in general|by definition",
            r"(?:common|typical|possible|other|various) (?:causes|instances|examples|etiologies"
            r"|reasons|conditions|diseases)(?: (?:of|for|where|that|which|might|may|could|can"
            r"|include|includes|such as))*",
        ],
    ),
    # history, not this image
    (
        HIST,
        "pre",
        [
            r"(?:(?:past|prior|previous|remote|known|clinical) )?(?:medical |clinical )?"
            r"history of|h/o|hx of"
        ],
    ),
    # discussion of an answer option ("for option A, which mentions ...", "B) Edema:")
    (
        OPT,
        "pre",
        [
            r"options? (?:[a-e]\b|\([a-e]\))(?: ?[:\-])?",
            r"(?:the )?(?:first|second|third|fourth|last|final|next|remaining|other) options?",
            r"[a-e]\)",
            r"which (?:mentions|refers to|lists|describes|states|proposes|specifies|posits)",
            r"(?:the )?options?(?: (?:provided|given|listed|presented|available))? (?:include"
            r"|includes|are|is|mentions?|lists?|describes?|suggests?|proposes?|states?)",
            r"(?:the )?(?:option|choice) of",
            r"(?:potential|possible|suggested|proposed|listed) (?:finding|diagnosis|option)s?"
            r"(?: of)?",
        ],
    ),
    (
        UNC,
        "both",
        [
            r"versus|vs\.?",
            r"(?:cannot|can not|can't|could not|difficult to|not) (?:be )?(?:completely |entirely "
            r"|definitely |totally )?(?:exclude|excluded|rule out|ruled out)",
        ],
    ),
    (
        TERM,
        "both",
        [
            r"but",
            r"however",
            r"although|though|while",
            r"which",
            r"with the exception of|except(?: for)?|aside from|apart from|other than|besides",
            r"there (?:is|are|has been|have been)(?= (?!no\b))",
            r"(?:is|are) (?:seen|noted|identified|demonstrated|visualized|appreciated|present)",
            r"(?:seen|noted|identified|demonstrated|visualized|appreciated)(?=\s*,)",
            r"otherwise",
            r"likely represents?",
            r"[;:]",
        ],
    ),
]

# The early/developing hedge words are too weak on their own; keep them out of the scanner.
_DISABLED = {r"(?:developing|early|evolving|atypical)"}


_PUNCT = {";": (TERM, "both"), ":": (TERM, "both"), "(": (TERM, "both"), "?": (UNC, "post")}


def _compile() -> tuple[WordScanner, list[tuple[str, str]]]:
    entries = [
        (frag, kind, direction)
        for kind, direction, frags in _TRIGGERS
        for frag in frags
        if frag not in _DISABLED and frag not in (r"[;:]", r"\?")
    ]
    # Longest fragments first so that "no evidence of" wins over "no", "cannot exclude" over "not".
    entries.sort(key=lambda e: -len(e[0]))
    return WordScanner([f for f, _, _ in entries]), [(k, d) for _, k, d in entries]


TRIGGER_SCANNER, TRIGGER_INFO = _compile()
#: Punctuation triggers (not word-initial): clause ends (; : and an opening parenthesis)
#: and a question mark (hedges what precedes it).
PUNCT_RE = re.compile(r"[;:?(]")
PUNCT_INFO = _PUNCT
