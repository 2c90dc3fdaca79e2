"""How well the offline RadRScore agrees with the paper's own GPT-4o judge, item by item.

Data: ``../shared/data/radrscore_judged`` (README there): Open-I single/multiple-choice items,
the outputs of two systems (ChestX-Reasoner-7B and GPT-4o) and the judge's per-item
factuality, completeness and effectiveness. For each part this prints and writes

- Spearman and Pearson correlation with the judge, per system and pooled over both, with
  95% cluster-bootstrap CIs (an item's two outputs are resampled together);
- the system-level means (ours and the judge's), the difference between the systems with its
  paired-bootstrap CI, and whether the signs agree;
- baselines: output length (words) and a lexical overlap rule (content-word precision against
  the report, recall of the reference, share of sentences overlapping a reference step);
- the largest disagreements (by rank) with both texts.

Items are split once into a ``dev`` part (60%, iterate on it) and a ``check`` part (40%, look
at it rarely) by a hash of the item id (``cxreason.metrics.agreement.judged_part``).

    .venv/bin/python benchmarks/judge_agreement.py [DATA] [--part dev|check|all]
        [--out DIR] [--no-semantic] [--scored DIR] [--show 12]

``--scored DIR`` reads ``DIR/<system>/per_item.jsonl`` from an earlier ``cxreason score`` run
with ``--name chestx_reasoner --name gpt4o`` (e.g. the LLM-judge backend) instead of scoring.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from cxreason.metrics import agreement as ag
from cxreason.metrics import radrscore as rr
from cxreason.metrics import score as sc
from cxreason.records import iter_jsonl, write_json

SYSTEMS = ("chestx_reasoner", "gpt4o")
PARTS = ("factuality", "completeness", "effectiveness")
_WORD = re.compile(r"[a-z]+")
_STOP = frozenset(
    "a an the of and or in on at to for with is are was were be been there this that these those"
    " it its as by from which we i our any no not".split()
)


def load(data: Path) -> tuple[list, dict, dict]:
    """(bench items, {system: {id: output}}, {system: {id: judge parts}})."""
    items = sc.load_bench(data / "bench.jsonl")
    ids = {it.id for it in items}
    preds = {s: sc.load_predictions(data / f"pred_{s}.jsonl", ids) for s in SYSTEMS}
    judge = {s: {o["id"]: o for _, o in iter_jsonl(data / f"judge_{s}.jsonl")} for s in SYSTEMS}
    return items, preds, judge


def ours(items, preds, semantic: bool, scored: Path | None) -> dict[str, dict[str, dict]]:
    """{system: {id: per-item row}}: scored here (offline) or read from a ``score`` run."""
    out = {}
    for s in SYSTEMS:
        if scored is not None:
            rows = [o for _, o in iter_jsonl(scored / s / "per_item.jsonl")]
        else:
            emb = None
            if semantic:
                from cxreason.metrics.embed import default_embedder

                emb = default_embedder()
            have = [it for it in items if it.id in preds[s]]
            rows = sc.score_predictions(have, preds[s], embedder=emb)
        out[s] = {r["id"]: r for r in rows}
    return out


# -- baselines -----------------------------------------------------------------------------------
def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def lexical_parts(think: str, item) -> dict[str, float]:
    """A content-word overlap rule: precision vs the report, recall of the reference, share of
    sentences with >= half their words in some reference step."""
    w, rep, ref = _words(think), _words(item.report), _words(rr.reference_text(item))
    steps = [_words(s) for s in rr.reference_steps(item)]
    sents = [_words(s) for s in rr.split_steps(think)]
    sents = [s for s in sents if s]
    eff = np.mean([max(len(s & r) for r in steps) / len(s) >= 0.5 for s in sents]) if sents else 0
    return {
        "factuality": len(w & rep) / len(w) if w else 0.0,
        "completeness": len(ref & w) / len(ref) if ref else 1.0,
        "effectiveness": float(eff),
    }


def baseline_rows(items, preds) -> dict[str, dict[str, dict[str, dict]]]:
    """{baseline: {system: {id: parts}}} for the length and lexical rules."""
    out: dict = {"length": {}, "lexical": {}}
    for s in SYSTEMS:
        out["length"][s], out["lexical"][s] = {}, {}
        for it in items:
            think = rr.extract_think(preds[s].get(it.id)) or ""
            n = float(len(think.split()))
            out["length"][s][it.id] = dict.fromkeys(PARTS, n)
            out["lexical"][s][it.id] = lexical_parts(think, it)
    return out


# -- agreement --------------------------------------------------------------------------------
def pairs(rows, judge, ids, part, systems=SYSTEMS):
    """(ours, judge, item id, system) for items where both have a value."""
    out = []
    for s in systems:
        for i in ids:
            j, r = judge[s].get(i), rows[s].get(i)
            if j is None or r is None or j.get(part) is None or r.get(part) is None:
                continue
            out.append((float(r[part]), float(j[part]), i, s))
    return out


def correlations(rows, judge, ids, n_resamples, seed) -> dict:
    """{part: {system|pooled: {spearman, pearson}}}."""
    res: dict = {}
    for part in PARTS:
        res[part] = {}
        for name, systems in [*((s, (s,)) for s in SYSTEMS), ("pooled", SYSTEMS)]:
            p = pairs(rows, judge, ids, part, systems)
            x, y, keys = [a for a, *_ in p], [b for _, b, *_ in p], [k for *_, k, _ in p]
            res[part][name] = {
                m: ag.correlation_ci(x, y, keys, m, n_resamples, seed)
                for m in ("spearman", "pearson")
            }
    return res


def system_difference(rows, judge, ids, n_resamples, seed) -> dict:
    """Per part: means per system (ours, judge) and gpt4o - chestx_reasoner on shared items."""
    a, b = SYSTEMS
    res = {}
    for part in PARTS:
        pa = {i: (o, j) for o, j, i, _ in pairs(rows, judge, ids, part, (a,))}
        pb = {i: (o, j) for o, j, i, _ in pairs(rows, judge, ids, part, (b,))}
        common = sorted(set(pa) & set(pb))
        entry = {"n": len(common)}
        for who, k in (("ours", 0), ("judge", 1)):
            va = [pa[i][k] for i in common]
            vb = [pb[i][k] for i in common]
            entry[who] = {
                a: float(np.mean(va)),
                b: float(np.mean(vb)),
                "difference": ag.paired_difference_ci(va, vb, n_resamples, seed),
            }
        d_ours = entry["ours"]["difference"]["value"]
        d_judge = entry["judge"]["difference"]["value"]
        entry["sign_agrees"] = bool(np.sign(d_ours) == np.sign(d_judge))
        res[part] = entry
    return res


def disagreements(rows, judge, ids, items, preds, n: int) -> list[dict]:
    """The ``n`` pooled (item, system, part) cases whose ranks differ most, with both texts."""
    by_id = {it.id: it for it in items}
    out = []
    for part in PARTS:
        p = pairs(rows, judge, ids, part)
        if len(p) < 3:
            continue
        ro = ag.rankdata([x for x, *_ in p]) / len(p)
        rj = ag.rankdata([y for _, y, *_ in p]) / len(p)
        for (o, j, i, s), a, b in zip(p, ro, rj, strict=True):
            out.append({"part": part, "id": i, "system": s, "ours": o, "judge": j, "gap": a - b})
    out.sort(key=lambda d: -abs(d["gap"]))
    picked = out[:n]
    for d in picked:
        it = by_id[d["id"]]
        d["reasoning"] = rr.extract_think(preds[d["system"]].get(d["id"])) or ""
        d["against"] = it.report if d["part"] == "factuality" else rr.reference_text(it)
    return picked


# -- output ---------------------------------------------------------------------------------------
def _f(c: dict) -> str:
    v, (lo, hi) = c["value"], c["ci95"]
    return "nan" if np.isnan(v) else f"{v:.3f} [{lo:.2f}, {hi:.2f}]"


def markdown(res: dict) -> str:
    lines = [
        f"# RadRScore vs the paper's GPT-4o judge ({res['part']} part, {res['n_items']} items)",
        "",
        f"- metric: {res['metric']}",
        f"- 95% CIs: cluster bootstrap over items, {res['n_resamples']} resamples, seed {res['seed']}",
        "",
        "## Item-level correlation with the judge (Spearman / Pearson)",
        "",
        "| part | system | n | Spearman | Pearson | Spearman, length rule | Spearman, lexical rule |",
        "|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        for name in (*SYSTEMS, "pooled"):
            c = res["correlation"][part][name]
            bl = [res["baselines"][b][part][name]["spearman"] for b in ("length", "lexical")]
            lines.append(
                f"| {part} | {name} | {c['spearman']['n']} | {_f(c['spearman'])} | "
                f"{_f(c['pearson'])} | {_f(bl[0])} | {_f(bl[1])} |"
            )
    a, b = SYSTEMS
    lines += [
        "",
        f"## System level: {b} − {a} (items judged for both)",
        "",
        f"| part | n | ours {a} | ours {b} | ours Δ [95% CI] | judge {a} | judge {b} | "
        "judge Δ [95% CI] | same sign |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        e = res["system_difference"][part]
        o, j = e["ours"], e["judge"]
        lines.append(
            f"| {part} | {e['n']} | {o[a]:.3f} | {o[b]:.3f} | {_f(o['difference'])} | "
            f"{j[a]:.3f} | {j[b]:.3f} | {_f(j['difference'])} | "
            f"{'yes' if e['sign_agrees'] else '**no**'} |"
        )
    lines += ["", "## Largest disagreements (pooled rank gap)", ""]
    for d in res["disagreements"]:
        lines += [
            f"### {d['part']} · {d['id']} · {d['system']}: ours {d['ours']:.2f}, "
            f"judge {d['judge']:.2f}",
            "",
            f"- reasoning: {_clip(d['reasoning'])}",
            f"- {'report' if d['part'] == 'factuality' else 'reference'}: {_clip(d['against'])}",
            "",
        ]
    return "\n".join(lines)


def _clip(text: str, n: int = 700) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "…"


def run(args) -> dict:
    items, preds, judge = load(args.data)
    if args.part != "all":
        items = [it for it in items if ag.judged_part(it.id) == args.part]
    ids = [it.id for it in items]
    rows = ours(items, preds, args.semantic, args.scored)
    base = baseline_rows(items, preds)
    nr, seed = args.n_resamples, args.seed
    corr = correlations(rows, judge, ids, nr, seed)
    res = {
        "data": str(args.data),
        "part": args.part,
        "n_items": len(ids),
        "metric": f"offline RadRScore (semantic={args.semantic})"
        if args.scored is None
        else f"per_item.jsonl under {args.scored}",
        "n_resamples": nr,
        "seed": seed,
        "correlation": corr,
        "system_difference": system_difference(rows, judge, ids, nr, seed),
        "baselines": {name: correlations(b, judge, ids, nr, seed) for name, b in base.items()},
        "disagreements": disagreements(rows, judge, ids, items, preds, args.show),
    }
    res["targets"] = {
        "pooled_spearman_ge_0.5": {p: corr[p]["pooled"]["spearman"]["value"] >= 0.5 for p in PARTS},
        "system_sign_agrees": {p: res["system_difference"][p]["sign_agrees"] for p in PARTS},
    }
    return res


def summary(res: dict) -> str:
    """One line per part: pooled Spearman and system-difference sign."""
    out = []
    for p in PARTS:
        c = res["correlation"][p]["pooled"]["spearman"]
        e = res["system_difference"][p]
        out.append(
            f"{res['part']:>5} {p:<13} pooled Spearman {_f(c)}  "
            f"Δ ours {e['ours']['difference']['value']:+.3f} judge "
            f"{e['judge']['difference']['value']:+.3f} "
            f"{'same sign' if e['sign_agrees'] else 'OPPOSITE SIGN'}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path("../shared/data/radrscore_judged"))
    ap.add_argument("--part", choices=("dev", "check", "all"), default="dev")
    ap.add_argument("--out", type=Path, default=None, help="write agreement.json|md here")
    ap.add_argument("--no-semantic", dest="semantic", action="store_false")
    ap.add_argument("--scored", type=Path, default=None)
    ap.add_argument("--show", type=int, default=12, help="disagreements to list")
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.data / "bench.jsonl").is_file():
        print(f"error: {args.data}/bench.jsonl not found", file=sys.stderr)
        return 2
    res = run(args)
    print(summary(res))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "agreement.json", res)
        (args.out / "agreement.md").write_text(markdown(res), encoding="utf-8")
        print(f"wrote {args.out / 'agreement.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
