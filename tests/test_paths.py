from cxreason.paths import cache_dir


def test_cache_dir_env_root(monkeypatch, tmp_path):
    monkeypatch.setenv("CXREASON_CACHE", str(tmp_path / "root"))
    assert cache_dir("llm", tmp_path / "out" / ".llm_cache") == tmp_path / "root" / "llm"


def test_cache_dir_fallback(monkeypatch, tmp_path):
    monkeypatch.delenv("CXREASON_CACHE", raising=False)
    assert cache_dir("llm", tmp_path / "x") == tmp_path / "x"


def test_model_refs_paths_before_networks(monkeypatch, tmp_path):
    import pytest

    from cxreason import paths

    monkeypatch.delenv("CXREASON_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(paths.ModelNotFound, match="no config.json"):
        paths.resolve_model_ref("runs/tiny")
    (tmp_path / "runs" / "tiny" / "config.json").write_text("{}")
    assert paths.resolve_model_ref("runs/tiny") == "local"
    # a typo under an existing folder is a path, never a hub id, even with downloads allowed
    assert not paths.looks_like_hub_id("runs/tinyy")
    for allow in (False, True):
        with pytest.raises(paths.ModelNotFound, match="model folder not found: runs/tinyy"):
            paths.resolve_model_ref("runs/tinyy", allow_download=allow)
    with pytest.raises(paths.ModelNotFound, match="--allow-download"):
        paths.resolve_model_ref("Qwen/Qwen2.5-VL-3B-Instruct")
    assert paths.resolve_model_ref("Qwen/Qwen2.5-VL-3B-Instruct", allow_download=True) == "hub"
    monkeypatch.setenv("CXREASON_ALLOW_DOWNLOAD", "1")
    assert paths.downloads_allowed()
    for ref in ("./x", "/abs/x", "~/x", "a/b/c"):
        assert not paths.looks_like_hub_id(ref)


def test_set_hub_access_puts_the_hub_offline(monkeypatch):
    from huggingface_hub import constants

    from cxreason import paths

    monkeypatch.delenv("CXREASON_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    assert paths.set_hub_access(False) is False and constants.HF_HUB_OFFLINE is True
    assert paths.set_hub_access(True) is True and constants.HF_HUB_OFFLINE is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
