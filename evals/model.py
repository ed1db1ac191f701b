"""The model runner: a real agent loop over MCP with the user's model, through Anthropic's official SDK (the
`evals` extra). The server's tools are listed over MCP and given to the model; each tool call the model makes is
executed through the MCP client and its text sent back; the loop ends when the model answers. The final ANSWER
line is graded by the same graders as the oracle's answers.

The SDK reads the key from ANTHROPIC_API_KEY itself; this module only checks that it is there (and never prints
it). Tests replace the HTTP transport with recorded responses, so the loop runs offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from mcp import Client, StdioServerParameters

from bench.tokens import count_tokens

from .bank import Question
from .graders import grade
from .oracle import Outcome
from .session import result_text

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

KEY_VARIABLE = "ANTHROPIC_API_KEY"
MAX_TURNS = 12
MAX_OUTPUT_TOKENS = 2048
SYSTEM = """\
You answer questions about patients in an Epic FHIR server, using only the tools you are given: look the \
answer up, never guess. Today is {today}. When you have the answer, end your reply with one line \
"ANSWER: <answer>" in the form the question asks for; if the record does not hold it, write "ANSWER: unknown"."""


@dataclass
class Usage:
    """What one question cost: tool calls, tokens of the tool text (cl100k_base, as for the oracle), and the
    model's own billed tokens (input and output, from the API's usage)."""

    calls: int = 0
    tool_tokens: int = 0
    model_tokens: int = 0
    turns: int = 0
    tools: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelOutcome(Outcome):
    model_tokens: int = 0


def final_answer(text: str) -> str | None:
    """What follows the last 'ANSWER:' in the model's reply (to the end: a quoted note may span lines)."""
    found = list(re.finditer(r"(?im)^\s*\**\s*answer\s*\**\s*:\s*\**\s*", text))
    return text[found[-1].end():].strip() if found else None


def tool_specs(listed: Any) -> list[dict[str, Any]]:
    """MCP tools as the Messages API takes them."""
    return [{"name": tool.name, "description": tool.description or tool.title or tool.name,
             "input_schema": tool.input_schema} for tool in listed.tools]


def echo(block: Any) -> dict[str, Any] | None:
    """An assistant content block as it is sent back in the conversation."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return None


async def answer(model: AsyncAnthropic, model_name: str, mcp: Client, tools: list[dict[str, Any]],
                 question: Question, today: date, usage: Usage) -> tuple[str | None, str]:
    """Run the loop for one question: (the final answer, the model that answered)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question.text}]
    answered_by = model_name
    for _ in range(MAX_TURNS):
        response = await model.messages.create(model=model_name, max_tokens=MAX_OUTPUT_TOKENS,
                                               system=SYSTEM.format(today=today.isoformat()),
                                               tools=cast(Any, tools), messages=cast(Any, messages))
        usage.turns += 1
        usage.model_tokens += response.usage.input_tokens + response.usage.output_tokens
        answered_by = response.model
        sent_back = [block for block in map(echo, response.content) if block is not None]
        messages.append({"role": "assistant", "content": sent_back})
        uses = [block for block in response.content if block.type == "tool_use"]
        if not uses:
            reply = "\n".join(block.text for block in response.content if block.type == "text")
            return final_answer(reply), answered_by
        results = []
        for use in uses:
            result = await mcp.call_tool(use.name, use.input)
            text = result_text(result)
            usage.calls += 1
            usage.tools.append(use.name)
            usage.tool_tokens += count_tokens(text)
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": text,
                            "is_error": bool(result.is_error)})
        messages.append({"role": "user", "content": results})
    return None, answered_by


async def run_model(model: AsyncAnthropic, model_name: str, server: StdioServerParameters,
                    questions: list[Question], today: date) -> tuple[list[ModelOutcome], str]:
    """Every question through the agent loop; returns the outcomes and the model version that answered."""
    outcomes = []
    answered_by = model_name
    async with Client(server) as mcp:
        tools = tool_specs(await mcp.list_tools())
        for question in questions:
            usage = Usage()
            said, answered_by = await answer(model, model_name, mcp, tools, question, today, usage)
            problem = None if said is not None else f"no ANSWER line after {usage.turns} turns"
            outcomes.append(ModelOutcome(question, "model", said, grade(question.grader, question.expected, said),
                                         usage.calls, usage.tool_tokens, tuple(usage.tools), problem,
                                         model_tokens=usage.model_tokens))
    return outcomes, answered_by


def anthropic_client(**options: Any) -> AsyncAnthropic:
    """The official SDK's client (it reads ANTHROPIC_API_KEY); options such as http_client go to it."""
    from anthropic import AsyncAnthropic

    return AsyncAnthropic(**options)
