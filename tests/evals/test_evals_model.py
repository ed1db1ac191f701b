"""The evaluation's model runner: its agent loop end to end over the real stdio server and sandbox, with the
model's HTTP transport replaced by recorded Messages API responses (no key, no network); and without a key it
says "not run" and writes nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from epic_mcp.sandbox import data_set
from evals import cli
from evals.bank import question_bank
from evals.model import anthropic_client, final_answer, run_model
from evals.sandbox import local_sandbox

RECORDING = json.loads((Path(__file__).resolve().parents[1] / "data" / "evals-model-recording.json")
                       .read_text())


class RecordedModel:
    """Answers the Messages API from the recording, in order, after checking what the loop sent."""

    def __init__(self, questions: dict[str, str]) -> None:
        self.exchanges = list(RECORDING["exchanges"])
        self.questions = questions
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        body = json.loads(request.content)
        self.requests.append(body)
        exchange = self.exchanges.pop(0)
        expect = exchange["expect"]
        last = body["messages"][-1]
        if "question" in expect:
            assert body["messages"] == [{"role": "user", "content": self.questions[expect["question"]]}]
        else:
            result = next(block for block in last["content"] if block["tool_use_id"] == expect["tool_result"])
            assert expect["contains"] in result["content"] and result["is_error"] is expect["is_error"]
            assert body["messages"][-2]["role"] == "assistant"
        assert body["model"] == "claude-test" and "Today is" in body["system"]
        assert {"get_latest_values", "search_patients", "patient_summary"} <= {t["name"] for t in body["tools"]}
        return httpx2.Response(200, json=exchange["response"])


@pytest.mark.e2e
def test_the_agent_loop_runs_end_to_end_against_the_recorded_model(sandbox_data: Path) -> None:
    asked = [e["expect"]["question"] for e in RECORDING["exchanges"] if "question" in e["expect"]]
    with local_sandbox(data=sandbox_data) as target:
        bank = {q.id: q for q in question_bank(data_set(target.today), target.today)}
        questions = [bank[name] for name in asked]
        recorded = RecordedModel({q.id: q.text for q in questions})
        model = anthropic_client(api_key="recorded-no-key", max_retries=0,
                                 http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(recorded)))
        outcomes, answered_by = asyncio.run(run_model(model, "claude-test", target.server, questions,
                                                      target.today))
    assert recorded.exchanges == [] and answered_by == RECORDING["model"]
    assert [(o.answer, o.correct) for o in outcomes] == [
        ("21.0 U/L", True), ("erXuFYUfucBZaryVksYEcMg3", True), ("no", False)]
    assert [o.calls for o in outcomes] == [1, 1, 1] and all(o.tokens > 0 for o in outcomes)
    assert [o.model_tokens for o in outcomes] == [9000 + 60 + 9200 + 25, 8900 + 40 + 9400 + 30, 8950 + 45 + 9100 + 20]
    assert outcomes[0].tools == ("get_latest_values",)


def test_the_final_answer_is_what_follows_the_last_answer_line() -> None:
    assert final_answer("thinking\nANSWER: 6.2 %") == "6.2 %"
    quoted = final_answer("ANSWER: draft\nmore\n**Answer:** Seen on 2026-10-15\nfor COPD.")
    assert quoted == "Seen on 2026-10-15\nfor COPD."
    assert final_answer("It is 6.2 %.") is None


def test_without_a_key_the_model_runner_says_not_run_and_writes_nothing(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (tmp_path / "docs").mkdir()
    assert cli.main(["--model", "claude-sonnet-4-5"], root=tmp_path) == cli.NOT_RUN
    said = capsys.readouterr().out
    assert "not run" in said and "pass" not in said and "%" not in said
    assert list((tmp_path / "docs").iterdir()) == []
