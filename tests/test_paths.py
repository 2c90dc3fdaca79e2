from cxreason.paths import cache_dir


def test_cache_dir_env_root(monkeypatch, tmp_path):
    monkeypatch.setenv("CXREASON_CACHE", str(tmp_path / "root"))
    assert cache_dir("llm", tmp_path / "out" / ".llm_cache") == tmp_path / "root" / "llm"


def test_cache_dir_fallback(monkeypatch, tmp_path):
    monkeypatch.delenv("CXREASON_CACHE", raising=False)
    assert cache_dir("llm", tmp_path / "x") == tmp_path / "x"
