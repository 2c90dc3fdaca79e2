"""Validity checks a reviewer runs on a built benchmark, each with its chance level and limit.

- **normality oracle**: knows only whether each study is abnormal (from our labels of the
  item's report; with MeSH, from the NLM indexers' ``normal``). Two forms: the fixed rule
  (binary: "Yes" iff abnormal; single/multiple: ``No Finding`` iff normal, else never
  ``No Finding``, uniform over the rest) and a learned one (a cross-validated probe on the
  normality bit crossed with the findings each option and question name,
  :func:`normality_tokens`); the larger counts. Binary must stay <= 0.60; single/multiple
  within chance + 0.05.
- **text probe**: :mod:`cxreason.bench.probe` on question + option text, cross-validated,
  within chance + 0.05.
- **id/answer independence**: for ``id``, ``study_id`` and image file names, the rule "pick the
  option whose words appear in the field" (within chance + 0.03) and a probe on the field's
  character 3-grams crossed with the option text (within chance + 0.05; gated for ``id``,
  reported for the dataset's own identifiers, see :data:`PROBE_GATED_FIELDS`).
- with MeSH: **answer agreement** with the indexers (>= 0.95 on binary, single, multiple) and
  **chains asserting a MeSH-absent finding** (<= 1% of kept chains).

Temporal items are reported, not gated, by the normality oracle: a normal new image does rule
out "worsening" (that is image content, not leakage).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from cxreason.bench import probe as P
from cxreason.bench.rules import CLOSED_TASKS
from cxreason.records import BenchItem
from cxreason.vocab import NO_FINDING, PRESENT

PROBE_MARGIN = 0.05
PROBE_ALPHA = 0.05
RULE_MARGIN = 0.03
BINARY_ORACLE_MAX = 0.60
MESH_AGREEMENT_MIN = 0.95
CHAIN_CONFLICT_MAX = 0.01
ORACLE_GATED = ("binary", "single", "multiple")
AGREEMENT_GATED = ("binary", "single", "multiple")
ID_FIELDS = ("id", "study_id", "images")
#: Fields whose probe is gated: the ones the benchmark writes. ``study_id`` and image file
#: names come from the dataset; their probes are reported (the number and naming of a study's
#: views follow the clinical workflow, e.g. one portable AP view for a sicker patient, and a
#: model sees those views as pixels anyway), their literal rule is gated.
PROBE_GATED_FIELDS = ("id",)
_WORD = re.compile(r"[a-z0-9]+")


def split_report(report: str) -> tuple[str, str]:
    """``FINDINGS: f IMPRESSION: i`` (``records.bench_report``) -> (f, i)."""
    findings, _, impression = report.partition(" IMPRESSION:")
    return findings.removeprefix("FINDINGS:").strip(), impression.strip()


def label_normality(items: Sequence[BenchItem]) -> dict[str, bool]:
    """study_id -> True when our labeler calls the item's report normal (No Finding present)."""
    from cxreason.labeling import label_report

    out: dict[str, bool] = {}
    for it in items:
        if it.study_id not in out:
            labels = label_report(*split_report(it.report)).labels
            out[it.study_id] = labels.get(NO_FINDING) == PRESENT
    return out


def mesh_normality(gold: dict[str, str]) -> dict[str, bool]:
    """study_id -> True for MeSH ``normal``; unindexed studies are left out."""
    from cxreason.labeling.mesh import is_indexed, mesh_labels

    out = {}
    for sid, cell in gold.items():
        if is_indexed(cell):
            pos, _ = mesh_labels(cell)
            out[sid] = NO_FINDING in pos
    return out


def _check(value: float, chance: float, limit: float, n: int, **extra) -> dict:
    return {
        "n": n,
        "value": round(value, 4),
        "chance": round(chance, 4),
        "limit": round(limit, 4),
        "ok": value <= limit + 1e-9,
        **extra,
    }


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p) (exact, in log space)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k, n + 1)
    ]
    m = max(terms)
    return min(1.0, math.exp(m) * sum(math.exp(t - m) for t in terms))


def _probe_check(res: P.ProbeResult, limit: float, **extra) -> dict:
    """A learned probe's check. Beyond ``limit`` it fails only when it also beats chance
    significantly (one-sided binomial test, p < :data:`PROBE_ALPHA`): on a small task one
    item is a large step and a probe that learned nothing still lands above chance + 0.05 by
    luck (at n = 64 that is one run in six); such a value is reported as "within noise"."""
    chk = _check(res.accuracy, res.chance, limit, res.n, ci95=res.to_dict()["ci95"], **extra)
    p = binomial_tail(round(res.accuracy * res.n), res.n, min(max(res.chance, 1e-9), 1 - 1e-9))
    chk["p_above_chance"] = round(p, 4)
    if not chk["ok"] and p >= PROBE_ALPHA:
        chk["ok"], chk["within_noise"] = True, True
    return chk


def _closed(items: Sequence[BenchItem]) -> dict[str, list[BenchItem]]:
    out: dict[str, list[BenchItem]] = {}
    for it in items:
        if it.task in CLOSED_TASKS and it.options and it.answer in it.options:
            out.setdefault(it.task, []).append(it)
    return out


def _chance(items: Sequence[BenchItem]) -> float:
    return sum(1.0 / len(it.options or {"A": ""}) for it in items) / len(items)


# ---------------------------------------------------------------------------------------------
# normality oracle
def oracle_rule_score(it: BenchItem, normal: bool) -> float:
    """Expected accuracy of the fixed normality rule on one item."""
    opts = it.options or {}
    if it.task == "binary":
        guess = "No" if normal else "Yes"
        return float(opts[it.answer] == guess)
    nf = [k for k, t in opts.items() if t == NO_FINDING]
    if normal and nf:
        return float(it.answer in nf)
    pool = [k for k in opts if not (not normal and k in nf)] or list(opts)
    return (it.answer in pool) / len(pool)


def normality_tokens(it: BenchItem, letter: str, normal: bool) -> list[str]:
    """What the learned oracle sees of one option: the study's normality crossed with the
    option's text, the finding(s) it names, and (binary) the finding the question names. No
    other text cue: those are the text probe's business."""
    text = (it.options or {})[letter]
    b = f"n{int(normal)}"
    toks = [f"{b}|text:{text}", f"{b}|q:{it.question}|{text}"]
    if it.task in ("single", "multiple"):
        labels = [t.strip() for t in text.split(",")]
        toks += [f"{b}|lab:{lb}" for lb in labels] + [f"{b}|nlab:{len(labels)}"]
    return toks


def normality_oracle(
    items: Sequence[BenchItem], normal: dict[str, bool], learned: bool = True
) -> dict:
    """Per closed task: the fixed rule and the learned oracle (items of known normality)."""
    out = {}
    for task, its in _closed(items).items():
        its = [it for it in its if it.study_id in normal]
        if not its:
            continue
        chance = _chance(its)
        rule = sum(oracle_rule_score(it, normal[it.study_id]) for it in its) / len(its)
        value, extra = rule, {"rule": round(rule, 4)}
        extra["ci95"] = [round(x, 4) for x in P.wilson(rule * len(its), len(its))]
        n_normal = sum(normal[it.study_id] for it in its)
        if learned and min(n_normal, len(its) - n_normal) >= P.MIN_DF:
            # (with one normality class, or nearly, the bit carries nothing to learn from)

            def feats(it, letter, _n=normal):
                return normality_tokens(it, letter, _n[it.study_id])

            res = P.cross_validated(P.examples_from(its, feats))
            extra["learned"] = round(res.accuracy, 4)
        limit = BINARY_ORACLE_MAX if task == "binary" else chance + PROBE_MARGIN
        extra["share_normal"] = round(n_normal / len(its), 4)
        extra["gated"] = task in ORACLE_GATED
        if "learned" in extra and res.accuracy > value:  # the learned form decides
            extra.pop("ci95")
            out[task] = _probe_check(res, limit, **extra)
        else:
            out[task] = _check(value, chance, limit, len(its), **extra)
        if not extra["gated"]:
            out[task]["ok"] = True
    return out


# ---------------------------------------------------------------------------------------------
# text probe and id/answer independence
def text_probe(items: Sequence[BenchItem]) -> dict:
    out = {}
    for task, its in _closed(items).items():
        res = P.cross_validated(P.examples_from(its, P.text_tokens))
        out[task] = _probe_check(res, res.chance + PROBE_MARGIN)
    return out


def _field_text(it: BenchItem, field: str) -> str:
    v = getattr(it, field)
    return (" ".join(v) if isinstance(v, list) else str(v)).lower()


def field_rule(it: BenchItem, field: str) -> str:
    """The option whose words appear most (as a share of its words) in the field's text."""
    text = set(_WORD.findall(_field_text(it, field)))
    joined = "".join(sorted(text))

    def score(t: str) -> float:
        words = _WORD.findall(t.lower())
        slug = "".join(words)
        hit = sum(w in text for w in words) / max(1, len(words))
        return hit + (slug in joined or slug in _field_text(it, field).replace("-", ""))

    opts = it.options or {}
    best = max(opts, key=lambda k: (score(opts[k]), -ord(k[0])))
    return best


def id_independence(items: Sequence[BenchItem], probes: bool = True) -> dict:
    """Per field and closed task: the literal rule and (optionally) the field probe."""
    out: dict = {}
    for field in ID_FIELDS:
        rep = {}
        for task, its in _closed(items).items():
            chance = _chance(its)
            rule = sum(field_rule(it, field) == it.answer for it in its) / len(its)
            chk = {"rule": _check(rule, chance, chance + RULE_MARGIN, len(its))}
            if probes:
                res = P.cross_validated(P.examples_from(its, P.field_tokens(field, its)))
                chk["probe"] = _probe_check(
                    res, res.chance + PROBE_MARGIN, gated=field in PROBE_GATED_FIELDS
                )
                if field not in PROBE_GATED_FIELDS:
                    chk["probe"]["ok"] = True
            rep[task] = chk
        out[field] = rep
    return out


# ---------------------------------------------------------------------------------------------
# independent labels (Open-I MeSH)
def chain_label_conflicts(items: Sequence[BenchItem], gold: dict[str, str]) -> dict:
    """Kept chains (of indexed studies) asserting a CheXpert finding MeSH calls absent."""
    from cxreason.bench.chaincheck import mesh_absent_assertions

    n = bad = 0
    ids = []
    for it in items:
        if not it.reasoning:
            continue
        conflicts = mesh_absent_assertions(it.reasoning_steps, gold.get(it.study_id, ""))
        if conflicts is None:
            continue
        n += 1
        if conflicts:
            bad += 1
            ids.append(it.id)
    rate = bad / n if n else 0.0
    out = _check(rate, 0.0, CHAIN_CONFLICT_MAX, n, conflicts=bad, ids=ids)
    out["chance"] = None  # no chance level: a rate of errors
    return out


def mesh_checks(items: Sequence[BenchItem], gold: dict[str, str], learned: bool = True) -> dict:
    from cxreason.bench.audit import mesh_agreement

    agree = mesh_agreement(items, gold)
    for task, rep in agree.items():
        rep["limit_min"] = MESH_AGREEMENT_MIN
        rep["ok"] = task not in AGREEMENT_GATED or (rep["rate"] or 0) >= MESH_AGREEMENT_MIN
    return {
        "agreement": agree,
        "normality_oracle": normality_oracle(items, mesh_normality(gold), learned),
        "chains": chain_label_conflicts(items, gold),
    }


def validity_checks(
    items: Sequence[BenchItem], gold: dict[str, str] | None = None, probes: bool = True
) -> dict:
    """Every check above (MeSH ones only with ``gold``): ``{name: ..., "ok": bool}``."""
    out = {
        "normality_oracle": normality_oracle(items, label_normality(items), probes),
        "id_independence": id_independence(items, probes),
    }
    if probes:
        out["text_probe"] = text_probe(items)
    if gold is not None:
        out["mesh"] = mesh_checks(items, gold, probes)
    out["ok"] = all_ok(out)
    return out


def all_ok(rep) -> bool:
    """False when any nested check has ``ok: False``."""
    if isinstance(rep, dict):
        if rep.get("ok") is False:
            return False
        return all(all_ok(v) for k, v in rep.items() if k != "ok")
    return True
