"""The final save under FSDP writes weights that ``from_pretrained`` loads.

No GPU here, and accelerate runs FSDP only on GPUs, so the FSDP save path is tested in its two
parts: (1) transformers' real ``Trainer.save_model`` under a SHARDED_STATE_DICT plugin writes no
weights, and :func:`save_final_model` does; (2) a model really sharded with FSDP2 over two CPU
processes (gloo) gathers, with the call accelerate's ``get_state_dict`` makes for FSDP2, into a
full state dict that ``save_pretrained`` writes and ``from_pretrained`` loads bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch

RECIPES_DIR = "recipes"


def _sft_trainer(bench, model, out):
    from pathlib import Path

    from trl import SFTConfig

    from cxreason.train.config import parse_args
    from cxreason.train.sft import build_sft_trainer

    recipes = Path(__file__).resolve().parents[2] / RECIPES_DIR
    argv = [
        "--config", str(recipes / "tiny/sft.yaml"), "--bench", str(bench),
        "--model_name_or_path", str(model), "--output_dir", str(out),
        "--report_to", "none", "--max_steps", "1", "--save_strategy", "no", "--warmup_steps", "0",
    ]  # fmt: skip
    trainer, _ = build_sft_trainer(*parse_args(SFTConfig, argv))
    return trainer


def test_final_save_under_sharded_fsdp_writes_loadable_weights(
    tiny_bench, tiny_model_dir, tmp_path, monkeypatch
):
    from safetensors.torch import load_file
    from torch.distributed.fsdp import StateDictType

    from cxreason.train.callbacks import finish_run, fsdp_plugin, save_final_model
    from cxreason.train.model import load_model_and_processor

    trainer = _sft_trainer(tiny_bench, tiny_model_dir, tmp_path / "run")
    trainer.train()
    plugin = SimpleNamespace(state_dict_type=StateDictType.SHARDED_STATE_DICT)
    monkeypatch.setattr(trainer, "is_fsdp_enabled", True)
    monkeypatch.setattr(trainer.accelerator.state, "fsdp_plugin", plugin, raising=False)
    assert fsdp_plugin(trainer) is plugin

    trainer.save_model(str(tmp_path / "plain"))  # what transformers does by itself
    assert not (tmp_path / "plain" / "model.safetensors").exists()

    save_final_model(trainer, tmp_path / "ours")
    assert plugin.state_dict_type == StateDictType.SHARDED_STATE_DICT  # restored
    loaded, _ = load_model_and_processor(tmp_path / "ours", dtype="float32")
    for (k, a), (_, b) in zip(
        trainer.model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    initial = load_file(tiny_model_dir / "model.safetensors")
    saved = load_file(tmp_path / "ours" / "model.safetensors")
    assert any(not torch.equal(saved[k], initial[k]) for k in initial)  # the trained weights

    finish_run(trainer, tmp_path / "final", plot=False)  # the stage's own end-of-run path
    assert (tmp_path / "final" / "model.safetensors").exists()
    assert (tmp_path / "final" / "processor_config.json").exists()


_FSDP2_WORKER = textwrap.dedent(
    """
    import os, sys, torch, torch.distributed as dist
    import torch.multiprocessing as mp

    def worker(rank, world, model_dir, out, port):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
        torch.manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        ref = {k: v.clone() for k, v in model.state_dict().items()}
        mesh = init_device_mesh("cpu", (world,))
        wrap = set(model._no_split_modules or [])  # accelerate's TRANSFORMER_BASED_WRAP
        for m in model.modules():
            if type(m).__name__ in wrap:
                fully_shard(m, mesh=mesh)
        fully_shard(model, mesh=mesh)
        p = next(model.parameters())
        assert type(p).__name__ == "DTensor" and p.to_local().numel() < p.numel()
        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)  # accelerate's call
        sd = get_model_state_dict(model, options=opts)
        if rank == 0:
            assert set(sd) == set(ref) and all(torch.equal(sd[k], ref[k]) for k in ref)
            model.save_pretrained(out, state_dict=sd)
            torch.save(ref, os.path.join(out, "reference.pt"))
        dist.barrier()
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(2, sys.argv[1], sys.argv[2], int(sys.argv[3])), nprocs=2)
    """
)


@pytest.mark.slow
def test_fsdp2_sharded_model_gathers_into_weights_from_pretrained_loads(tiny_model_dir, tmp_path):
    import socket

    from transformers import AutoModelForImageTextToText

    script = tmp_path / "fsdp2_worker.py"
    script.write_text(_FSDP2_WORKER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "gathered"
    res = subprocess.run(
        [sys.executable, str(script), str(tiny_model_dir), str(out), str(port)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0 and "gloo" in res.stderr.lower() and "not" in res.stderr.lower():
        pytest.skip(f"torch.distributed gloo unavailable: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr[-3000:]
    ref = torch.load(out / "reference.pt")
    state = AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32).state_dict()
    for k, v in ref.items():
        assert torch.equal(state[k], v), k
