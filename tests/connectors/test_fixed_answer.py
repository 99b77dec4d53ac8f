"""`fixed-answer` answers its model text whatever it is sent: a stand-in judge."""

from service.connectors.base import Target
from service.connectors.fixed_answer import FixedAnswerConnector
from service.redteam.metrics import METRICS, Case, score_answer


async def test_answers_its_model_text_whatever_the_prompt():
    async with FixedAnswerConnector(Target("judge", "", "not refuse", token="")) as connector:
        assert await connector.predict("Hello", "Be a judge.") == "not refuse"
        assert await connector.predict("Something else entirely") == "not refuse"


async def test_a_written_line_break_becomes_one_so_it_can_play_a_judge():
    target = Target("judge", "", "not refuse\\nIt answered the question.", token="")
    async with FixedAnswerConnector(target) as connector:

        async def judge(system_prompt: str, prompt: str) -> str:
            return await connector.predict(prompt, system_prompt)

        score = await score_answer(METRICS["refusal"], Case("Q?", "A."), judge)
    assert (score.success, score.explanation) == (True, "It answered the question.")  # type: ignore[union-attr]
