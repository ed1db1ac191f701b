"""The oracle runner: every question of the bank asked through the real stdio server with the tool calls a
well-behaved agent makes (evals/plans.py), in the compact format and again with format "raw", each answer read
off the text and graded."""

from __future__ import annotations

from dataclasses import dataclass

from mcp import Client, StdioServerParameters

from .bank import Question
from .graders import grade
from .plans import PLANS
from .session import FORMATS, Session, ToolFailed


@dataclass(frozen=True)
class Outcome:
    question: Question
    fmt: str
    answer: str | None
    correct: bool
    calls: int
    tokens: int
    tools: tuple[str, ...] = ()
    problem: str | None = None


async def ask(session: Session, question: Question) -> Outcome:
    problem = None
    try:
        answer = await PLANS[question.kind](session, question)
    except ToolFailed as exc:
        answer, problem = None, str(exc)
    cost = session.take_cost()
    return Outcome(question, session.fmt, answer, grade(question.grader, question.expected, answer), cost.calls,
                   cost.tokens, tuple(cost.tools), problem)


async def run_oracle(server: StdioServerParameters, questions: list[Question],
                     formats: tuple[str, ...] = FORMATS) -> list[Outcome]:
    outcomes = []
    async with Client(server) as client:
        for fmt in formats:
            session = await Session.open(client, fmt)
            for question in questions:
                outcomes.append(await ask(session, question))
    return outcomes
