"""LLMClient against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import threading
import time

import pytest
from bench_llm_server import FakeLLMServer, ServerThread

from cxreason.bench.llm_client import LLMClient, LLMError, cache_key, parse_retry_after

MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture()
def server():
    fake = FakeLLMServer()
    with ServerThread(fake) as st:
        yield st


def _client(st: ServerThread, tmp_path, **kw) -> LLMClient:
    kw.setdefault("backoff_base_s", 0.01)
    return LLMClient(st.base_url, "test-model", cache_dir=tmp_path / "cache", **kw)


def test_chat_and_cache(server, tmp_path):
    c = _client(server, tmp_path)
    assert c.chat(MSG) == "echo: hello"
    assert c.chat(MSG) == "echo: hello"  # second from the disk cache
    assert server.fake.hits == 1
    assert c.stats["cache_hits"] == 1
    # a new client on the same cache does not hit the server either
    c2 = _client(server, tmp_path)
    assert c2.chat_many([MSG])[0].cached is True
    assert server.fake.hits == 1
    # a different model or temperature is a different key
    assert cache_key("m", MSG, 0.0, False) != cache_key("m2", MSG, 0.0, False)
    assert cache_key("m", MSG, 0.0, False) != cache_key("m", MSG, 0.7, False)


def test_retries_429_5xx_malformed(server, tmp_path):
    server.fake.faults.extend(["429", "500", "malformed", "503"])
    c = _client(server, tmp_path)
    t0 = time.time()
    assert c.chat(MSG) == "echo: hello"
    assert server.fake.hits == 5
    assert c.stats["retries"] == 4
    assert time.time() - t0 >= 0.2  # Retry-After: 0.2 honoured


def test_gives_up_and_non_retryable(server, tmp_path):
    server.fake.faults.extend(["500"] * 3)
    c = _client(server, tmp_path, max_retries=2)
    with pytest.raises(LLMError, match="HTTP 500"):
        c.chat(MSG)
    assert server.fake.hits == 3
    server.fake.faults.append("400")
    res = c.chat_many([[{"role": "user", "content": "x"}]])
    assert res[0].text is None and "HTTP 400" in res[0].error
    assert server.fake.hits == 4  # 400 is not retried
    # failures are not cached: the next call reaches the server and succeeds
    assert c.chat(MSG) == "echo: hello"


def test_timeout_is_retried(server, tmp_path):
    server.fake.faults.append("slow")
    c = _client(server, tmp_path, timeout_s=0.5)
    assert c.chat(MSG) == "echo: hello"
    assert server.fake.hits == 2


def test_bounded_concurrency(tmp_path):
    fake = FakeLLMServer(delay_s=0.1)
    with ServerThread(fake) as st:
        c = _client(st, tmp_path, max_concurrency=3)
        msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
        # many caller threads, one client: still at most 3 in flight
        out: list = []
        threads = [threading.Thread(target=lambda m=m: out.append(c.chat(m))) for m in msgs[:6]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res = c.chat_many(msgs)
    assert [r.text for r in res] == [f"echo: q{i}" for i in range(12)]
    assert fake.max_in_flight == 3
    assert fake.hits == 12  # the first 6 were cached for chat_many


def test_api_key_from_env(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-test")
    _client(server, tmp_path, api_key_env="MY_TEST_KEY").chat(MSG)
    monkeypatch.delenv("MY_TEST_KEY")
    _client(server, tmp_path / "other", api_key_env="MY_TEST_KEY").chat(MSG)
    assert server.fake.auth_headers == ["Bearer sk-test", None]


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_connection_refused_is_an_error(tmp_path):
    c = LLMClient("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_base_s=0.01)
    with pytest.raises(LLMError, match="transport error"):
        c.chat(MSG)


def test_extra_params_join_the_key_only_when_given():
    assert cache_key("m", MSG, 0.0, False, None) == cache_key("m", MSG, 0.0, False, {})
    with_seed = cache_key("m", MSG, 0.0, False, {"seed": 1, "max_tokens": 8})
    assert with_seed != cache_key("m", MSG, 0.0, False)
    assert with_seed != cache_key("m", MSG, 0.0, False, {"seed": 2, "max_tokens": 8})
