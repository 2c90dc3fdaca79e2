"""Peak memory of an SFT run vs the number of radiograph-sized images (lazy batch-time decoding).

Makes N synthetic 3000 x 3000 grey PNG files (smooth anatomy-like shading with ellipses; test
fixtures, not medical images), a bench of N binary items over them, and runs
``cxreason train sft`` (tiny recipe, tiny model) in a fresh process per setting for as many steps
as it takes to read every image once. Each process reports its own peak resident set size
(``VmHWM``). Settings, side by side in one run:

- ``lazy``: cxreason as shipped, at ``--small`` and ``--large`` image counts (default 100 and
  400). Claim: peak RSS < 2.5 GiB at 400 images, and the two peaks differ by < 20%.
- ``eager`` (baseline, ``--eager N``, default 100): the same items prepared the way the training
  code did before (every image decoded at full resolution and put into a ``datasets`` table with
  ``Dataset.from_list``), preparation only, no training.

    python benchmarks/sft_image_memory.py --out runs/sft_image_memory

Writes OUT/sft_image_memory.json. Exit 0 iff both claims hold.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_items import cardiomegaly_item  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
GIB = 1024**3


def peak_rss_bytes() -> int:
    """This process's peak resident set size (``VmHWM`` of /proc/self/status), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_image(path: Path, seed: int, size: int = 3000) -> None:
    """A SYNTHETIC ``size`` x ``size`` grey PNG: smooth shading plus a few bright ellipses."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = 40 + 120 * np.exp(-(((x - 0.5) / 0.35) ** 2)) * (0.6 + 0.4 * y)
    img = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        cx, cy, rx, ry = rng.uniform(0.2, 0.8, 2).tolist() + rng.uniform(0.05, 0.2, 2).tolist()
        box = [size * (cx - rx), size * (cy - ry), size * (cx + rx), size * (cy + ry)]
        draw.ellipse(box, fill=int(rng.integers(150, 240)))
    img.save(path, compress_level=1)


def make_bench(root: Path, n: int, size: int) -> Path:
    """``root/bench_{n}.jsonl``: n binary items, one ``size`` px image each (made once, reused)."""
    from cxreason.records import write_jsonl

    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        path = img_dir / f"r{i:04d}.png"
        if not path.exists():
            make_image(path, seed=i, size=size)
        items.append(cardiomegaly_item(i, f"images/{path.name}"))
    bench = root / f"bench_{n}.jsonl"
    write_jsonl(bench, items)
    return bench


def child_lazy(bench: str, model: str, out: str, steps: int, batch: int) -> dict:
    """Run ``cxreason train sft`` in this process; its peak RSS and wall time."""
    from cxreason.train import cli

    t0 = time.time()
    code = cli.main([
        "sft", "--config", str(RECIPES / "tiny/sft.yaml"), "--bench", bench,
        "--model_name_or_path", model, "--output_dir", out, "--train_split", "all",
        "--max_steps", str(steps), "--per_device_train_batch_size", str(batch),
        "--save_strategy", "no", "--report_to", "none", "--logging_steps", str(steps),
        "--max_items", "100000",
    ])  # fmt: skip
    return {"exit": code, "seconds": round(time.time() - t0, 1), "peak_rss": peak_rss_bytes()}


def child_eager(bench: str) -> dict:
    """The pre-lazy preparation: decode every image, then ``Dataset.from_list`` (no training)."""
    from datasets import Dataset

    from cxreason.data.images import load_image
    from cxreason.prompts import chat_messages
    from cxreason.records import BenchItem, read_records

    t0 = time.time()
    rows = []
    for it in read_records(bench, BenchItem):
        images = [load_image(Path(bench).parent / p).convert("RGB") for p in it.images]
        rows.append(
            {"prompt": chat_messages(it.question, it.options, 1, "direct"), "images": images}
        )
    table = Dataset.from_list(rows)
    return {"rows": len(table), "seconds": round(time.time() - t0, 1), "peak_rss": peak_rss_bytes()}


def run_child(args: list[str]) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/sft_image_memory"))
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--large", type=int, default=400)
    ap.add_argument("--eager", type=int, default=100, help="baseline image count (0 = skip)")
    ap.add_argument("--size", type=int, default=3000, help="image side, px")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        kind, *rest = a.child
        if kind == "lazy":
            bench, model, out, steps, batch = rest
            print(json.dumps(child_lazy(bench, model, out, int(steps), int(batch))))
        else:
            print(json.dumps(child_eager(rest[0])))
        return 0

    from cxreason.train.model import init_tiny

    t0 = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    model = init_tiny(a.out / "model", seed=0)
    runs = []
    for n in (a.small, a.large):
        bench = make_bench(a.out / "data", n, a.size)
        steps = math.ceil(n / a.batch)  # every image read once
        res = run_child(
            ["lazy", str(bench), str(model), str(a.out / f"sft_{n}"), str(steps), str(a.batch)]
        )
        runs.append({"mode": "lazy", "images": n, "steps": steps, **res})
        print(f"lazy  {n:4d} images, {steps} steps: peak RSS {res['peak_rss'] / GIB:.2f} GiB "
              f"({res['seconds']} s)")  # fmt: skip
    if a.eager:
        bench = make_bench(a.out / "data", a.eager, a.size)
        res = run_child(["eager", str(bench)])
        runs.append({"mode": "eager (baseline, preparation only)", "images": a.eager, **res})
        print(f"eager {a.eager:4d} images (preparation only): peak RSS "
              f"{res['peak_rss'] / GIB:.2f} GiB ({res['seconds']} s)")  # fmt: skip
    small, large = runs[0]["peak_rss"], runs[1]["peak_rss"]
    figures = {
        "image_side_px": a.size,
        "runs": runs,
        "large_over_small": large / small,
        "large_peak_gib": large / GIB,
        "claims": {
            f"peak RSS at {a.large} images < 2.5 GiB": large < 2.5 * GIB,
            f"peak RSS at {a.large} vs {a.small} images differs by < 20%": abs(large / small - 1)
            < 0.2,
        },
        "total_seconds": round(time.time() - t0, 1),
    }
    (a.out / "sft_image_memory.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=2))
    return 0 if all(figures["claims"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
