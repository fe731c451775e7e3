"""Answer and verdict parsing on real PaLM outputs and model-style text; scoring; PaLM test accuracies."""
from __future__ import annotations

import time

import pytest

from mm import tasks
from mm.answers import answer_clause, parse_equation, parse_verdict
from mm.arith import EquationError, evaluate_equation, format_number
from mm.data import load_benchmark


def parse_answer(dataset: str, text: str, choices: list[str] | None = None) -> str | None:
    return tasks.get(dataset).parse_answer(text, choices)


def is_correct(dataset: str, predicted: str | None, gold: str) -> bool:
    return tasks.get(dataset).is_correct(predicted, gold)


def accuracy(dataset: str, predicted: list[str | None], golds: list[str]) -> float:
    return tasks.get(dataset).accuracy(predicted, golds)

# Real outputs, copied literally from data/raw (PaLM-540B unless noted).
# anli1 test row 0 (gold entailment; PaLM is wrong). The output runs on into an invented example.
ANLI_TEST_0 = (
    'The premise mentions that the first Ernest Jones store was opened in Oxford Street, London. '
    'Oxford Street is not on the continent of Europe. So the answer is contradiction.\n'
    '\n'
    'Premise: The 2016–17 season is the 127th season of competitive football in England.\n'
    'Hypothesis: The 2016–17 season is the 127th season of competitive football in the United Kingdom.'
    '\n'
    'Answer: The premise mentions that the 2016–17 season is the 127th season of competitive football '
    'in England. England is not the whole'
)
# anli1 test row 'Jungle Book': lower-case 'so the answer is'; upstream's case-sensitive split loses it.
ANLI_LOWER_SO = (
    'The premise mentions that the film is a live action adaptation of Rudyard Kipling\'s "The Jungle '
    'Book". The Jungle Book was written in 1894, so the answer is entailment.\n'
    '\n'
    'Premise: The 2016–17 season is the 117th season of competitive football in Italy.\n'
    'Hypothesis: The 2016–17 season is the 117th season of competitive football in Italy.\n'
    'Answer: The premise and the hypothesis are the same, so the answer is entailment.\n'
    '\n'
    'Premise: The 2016'
)
# anli1 test row 'Mulberry': 'The answer is', without 'So'; upstream loses it too.
ANLI_CAPITAL_THE = (
    'The premise mentions that Mulberry () is a 1986 South Korean drama film directed by Lee Doo-yong. '
    'The hypothesis mentions that Mulberry () is a 1986 South Korean drama film directed by Lee '
    'Doo-dong. The answer is contradiction.\n'
    '\n'
    'Premise: The 2016 Summer Olympics, officially known as the Games of the XXXI Olympiad and '
    'commonly known as Rio 2016, was an international multi-sport event held in Rio de Janeiro, '
    'Brazil, from 5 to 21 August 2016. More than 11,000 athletes'
)
# anli1 train_palm_only row 11626: the label word followed by an explanation.
ANLI_NEUTRAL_BECAUSE = (
    'The premise mentions that the word "cur" originally referred to a certain English purpose-bred, '
    'short-tailed cattle driving dog known only from historical records, the cur dog, but in modern '
    'usage it applies to any mixed-breed. The hypothesis mentions that the word "cuff" originally '
    'referred to a certain English purpose-bred, short-tailed cattle driving dog known only from '
    'historical records, the cuff dog, but in modern usage it applies to any mixed-breed. The answer '
    'is neutral because the premise and hypothesis are not related.\n'
    '\n'
    'Premise: The term cur refers to the lowest class of nameless dog or Pariah Dog,'
)
# anli1 train_palm_only row 12714: not a label.
ANLI_ANALOGY = (
    'The premise mentions that Make It Hot is the debut studio album by R&B singer Nicole Wray. The '
    "premise also mentions that the album was released in August 1998 through Missy Elliott's "
    'Elektra-distributed vanity label, The Goldmind. The premise also mentions that the album was '
    'produced by Missy Elliott and Timbaland. The premise also mentions that some editions of the '
    'release credit Nicole as "Nicole Ray", an artist name she only used here and on her single "I '
    'Can\'t See". The hypothesis mentions that Make It Hot is a 1998 album by R&B singer Nicole Wray, '
    'best known'
)
# anli1 train_palm_only row 756: cut off right after 'So the answer is'.
ANLI_CUT_OFF = (
    'The premise mentions that Pandemic is a 2014 science fiction thriller novel by Scott Sigler and '
    'the final novel in the "Infected" trilogy. The book was released in hardback, e-book, and '
    'audiobook on January 21, 2014. The hypothesis mentions that Pandemic is a popular 2014 science '
    'fiction thriller novel by Scott Sigler and the final novel in the "Infected" trilogy. The book '
    'was released in hardback, e-book, and audiobook on January 21, 2014. The hypothesis is a subset '
    'of the premise. So the answer is'
)
# anli1 train_palm_only row 1102: no answer phrase at all.
ANLI_NO_PHRASE = (
    'Achillea ageratum is sparingly used outside of native range due to heat.\n'
    '\n'
    "Premise: The 2016–17 season was Manchester United's 25th season in the Premier League, and their "
    '42nd consecutive season in the top flight of English football. It was the first season in which '
    'the club played in the UEFA Europa League since the 1995–96 season, and the first in which they '
    "played in Europe's secondary club competition since it was rebranded as the UEFA Europa League in "
    '2009.\n'
    'Hypothesis: Manchester United played in the'
)
# anli1 train_palm_only row 14359: nothing but an invented example.
ANLI_ONLY_RUN_ON = (
    '\n'
    '\n'
    'Premise: The 2018 FIFA World Cup was the 21st FIFA World Cup, an international football '
    "tournament contested by the men's national teams of the member associations of FIFA once every "
    'four years. It took place in Russia from 14 June to 15 July 2018. It was the first World Cup to '
    'be held in Eastern Europe, and the 11th time that it had been held in Europe. At an estimated '
    'cost of over $14.2 billion, it is the most expensive World Cup to date, and the most expensive '
    'single-sport event ever'
)
# cqa test row 0; the invented example after 'Q:' ends in a different answer.
CQA_TEST_0 = (
    'The answer must be the place where beavers get their supplies. Of the above choices, only wooded '
    'areas have the supplies that beavers need. So the answer is (c) wooded area.\n'
    '\n'
    'Q: What is the best way to get rid of a bad smell?\n'
    'Answer Choices:\n'
    '(a) air freshener\n'
    '(b) air conditioner\n'
    '(c) air pollution\n'
    '(d) air pollution\n'
    '(e) air pollution\n'
    'A: The answer must be something that gets rid of bad smells. Of the above choices, only air '
    'fresheners get rid of bad smells. So the answer is (a) air freshener.'
)
# cqa test row 35: a hedge between two choices (198 of 10,962 CQA outputs hedge like this).
CQA_EITHER = (
    'The answer must be a place with a squash court. Of the above choices, only country clubs and '
    'fitness centers have squash courts. So the answer is either (c) country club or (d) fitness '
    'center.\n'
    '\n'
    'Q: The man was a very good driver, he was a what?\n'
    'Answer Choices:\n'
    '(a) chauffeur\n'
    '(b) mechanic\n'
    '(c) taxi driver\n'
    '(d) truck driver\n'
    '(e) bus driver\n'
    'A: The answer must be a job that requires good driving. Of the above choices, only chauffeurs and '
    'taxi drivers require good driving. So the answer is either (a'
)
# cqa test row 51: capitalised choice text (upstream compares text case-sensitively).
CQA_CAPITALISED = (
    'The answer must be a place that is cold. Of the above choices, only Michigan is cold. So the '
    'answer is (c) Michigan.\n'
    '\n'
    'Q: What is the name of the famous painting that shows a man with a big nose and a mustache?\n'
    'Answer Choices:\n'
    '(a) mona lisa\n'
    '(b) american gothic\n'
    '(c) the scream\n'
    '(d) the last supper\n'
    '(e) the thinker\n'
    'A: The answer must be the name of a famous painting. Of the above choices, only American Gothic '
    'shows a man with a big nose and a mustache. So the answer is (b)'
)
# cqa test row 340: letter (e) but the text of (d), which is gold.
CQA_LETTER_TEXT_CLASH = (
    'The answer must be something that a soldier does at a rendezvous point. Of the above choices, '
    'only wait for orders makes sense. So the answer is (e) wait for orders.\n'
    '\n'
    'Q: The man was told to go to the store and buy some milk, what did he do?\n'
    'Answer Choices:\n'
    '(a) went to the store\n'
    '(b) bought some milk\n'
    '(c) went to the store and bought some milk\n'
    '(d) went to the store and bought some milk and eggs\n'
    '(e) went to the store and bought some milk and eggs and bread\n'
    'A: The answer must be'
)
# cqa test row 862: the text 'Farsi' is no choice; the letter (b) is gold.
CQA_NOT_A_CHOICE = (
    'The answer must be a language type. Of the above choices, only Farsi is a language type. So the '
    'answer is (b) Farsi.\n'
    '\n'
    'Q: What is the best way to get to the airport?\n'
    'Answer Choices:\n'
    '(a) taxi\n'
    '(b) bus\n'
    '(c) train\n'
    '(d) subway\n'
    '(e) airplane\n'
    'A: The answer must be a way to get to the airport. Of the above choices, only taxi makes the most '
    'sense. So the answer is (a) taxi.\n'
    '\n'
    'Q: What is the best way to get to the airport?\n'
    'Answer Choices:'
)
# cqa train row 5333 (after the valid split): no single answer.
CQA_ONE_OF_THESE = (
    'The answer must be something that holds shirts. Of the above choices, only suitcase, garment bag, '
    'drawer, and dresser hold shirts. So the answer is one of these four.\n'
    '\n'
    'Q: What is the name of the place where you can buy a new car?\n'
    'Answer Choices:\n'
    '(a) car dealership\n'
    '(b) car lot\n'
    '(c) car factory\n'
    '(d) car show\n'
    '(e) car wash\n'
    'A: The answer must be a place where you can buy a new car. Of the above choices, only car '
    'dealership and car lot are places where you can buy a new car. So'
)
# svamp test row 0.
SVAMP_TEST_0 = (
    'They put 10 seeds in each flower bed. There are 45 flower beds. So they planted 10 * 45 seeds. 10 '
    '* 45 is 450. The answer is (10 * 45).\n'
    '\n'
    'Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they '
    'are done, there will be 21 trees. How many trees did the grove workers plant today?\n'
    'A: There are originally 15 trees. Then there were 21 trees after some more were planted. So there'
)
# svamp test row 4: upstream's regex keeps only '(12 - 2)' and scores 10; the equation is 3.
SVAMP_TRAILING_OP = (
    'Mary needs 12 cups of flour. She already put in 2 cups. So she needs 12 - 2 = 10 more cups of '
    'flour. She needs 7 cups of salt. The answer is (12 - 2) - 7.\n'
    '\n'
    'Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they '
    'are done, there will be 21 trees. How many trees did the grove workers plant today?\n'
    'A: There are originally 15 trees. Then there were 21 trees after some more were planted.'
)
# svamp test row 145: no 'The answer is' before the invented example (which is cut off).
SVAMP_NO_PHRASE = (
    'Ed had 19 more marbles than Doug. So if Ed lost some marbles, he would have less than 19 more '
    'marbles than Doug. So Ed lost more than 19 marbles.\n'
    '\n'
    'Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they '
    'are done, there will be 21 trees. How many trees did the grove workers plant today?\n'
    'A: There are 15 trees originally. Then there were 21 trees after some more were planted. So there '
    'must have been 21 - 15 = 6. The'
)
# svamp test row 153: a repetition loop, no answer.
SVAMP_LOOP = (
    '457 students suggested mashed potatoes. 63 more students suggested mashed potatoes than bacon. So '
    '63 more students suggested mashed potatoes than bacon. So 63 more students suggested mashed '
    'potatoes than bacon. So 63 more students suggested mashed potatoes than bacon. So 63 more '
    'students suggested mashed potatoes than bacon. So 63 more students suggested mashed potatoes than '
    'bacon. So 63 more students suggested mashed potatoes than bacon. So 63 more students suggested '
    'mashed potatoes than bacon. So 63 more students suggested mashed potatoes than bacon. So 63 more '
    'students suggested mashed potatoes than bacon.'
)
# svamp test row 24: two equations.
SVAMP_TWO_EQUATIONS = (
    'Rebecca has 8 eggs and 6 marbles. She wants to split them into 4 groups. So each group will have '
    '8 / 4 = 2 eggs and 6 / 4 = 1.5 marbles. The answer is (8 / 4) and (6 / 4).\n'
    '\n'
    'Q: There are 120 students in a school. 1/3 of them are boys and 2/3 of them are girls. How many '
    'boys are there?\n'
    'A: There are 120 students. 1/3 of them are boys. 1'
)
# svamp train row 245 (after the valid split): cut off inside the equation.
SVAMP_TRUNCATED = (
    'Adam has 4 more apples than Jackie. So if Jackie has x apples, Adam has x + 4 apples. Together, '
    'Adam and Jackie have 14 apples. So x + x + 4 = 14. 2x + 4 = 14. 2x = 14 - 4. 2x = 10. x = 5. Adam '
    'has 5 + 4 = 9 apples. Bob has 6 more apples than Adam and Jackie together. So Bob has 9 + 6 = 15 '
    'apples. The answer is (9 + 6'
)
# data/raw/minds_mirror_samples/svamp_tree1/llm/*_CoT_0.json: gpt-3.5-turbo self-evaluations.
VERDICT_CORRECT = (
    'Evaluation:\n'
    '\n'
    'The given answer correctly states that Luke scored 84 points after playing 2 rounds of a trivia '
    'game. It also correctly states that since he gained the same number of points each round, we can '
    'divide the total points by the number of rounds to find the points per round. Finally, the answer '
    'represents these calculations in the form of an equation (84 / 2), which is accurate.\n'
    '\n'
    'Evaluation result: the given answer is correct.'
)
VERDICT_WRONG = (
    'Evaluation:\n'
    '\n'
    'The given answer correctly states that Faye is placing her pencils and crayons into 7 rows. It '
    'also correctly states that each row has 36 pencils and 30 crayons. However, it incorrectly '
    'calculates the total number of crayons as 7 * 30 = 210. The correct calculation should be 7 * 30 '
    '= 210 crayons.\n'
    '\n'
    'Evaluation result: the given answer is wrong.'
)
VERDICT_UNCERTAIN = (
    'Evaluation:\n'
    '\n'
    'The given answer correctly states that Jack received 3 emails in the afternoon and 6 emails in '
    'the morning. It also correctly calculates the total number of emails received in the day as 10. '
    'However, the answer incorrectly calculates the number of emails received in the evening as 10 - 3 '
    '- 6 = 1. This is incorrect because the question states that Jack received "some more" emails in '
    'the evening, but does not provide the exact number. Therefore, we cannot determine the exact '
    'number of emails Jack received in the evening based on the given information.\n'
    '\n'
    'Evaluation result: the given answer is uncertain.'
)

CHOICES_TEST_0 = ["british columbia", "body of water", "wooded area", "pay debts", "zoo"]
CHOICES_EITHER = ["swimming pool", "rich person's house", "country club", "fitness center", "park"]
CHOICES_CAPITALISED = ["arizona", "farm yard", "michigan", "german field", "dairy farm"]
CHOICES_CLASH = ["fight enemy", "go to war", "fight for freedom", "wait for orders", "follow instructions"]
CHOICES_NOT_A_CHOICE = ["books", "dard", "sky", "closed room", "television"]
CHOICES_ONE_OF_THESE = ["suitcase", "garment bag", "drawer", "dirty laundry basket", "dresser"]

REAL = [
    ("anli1", ANLI_TEST_0, None, "contradiction"),
    ("anli1", ANLI_LOWER_SO, None, "entailment"),
    ("anli1", ANLI_CAPITAL_THE, None, "contradiction"),
    ("anli1", ANLI_NEUTRAL_BECAUSE, None, "neutral"),
    ("anli1", ANLI_ANALOGY, None, None),
    ("anli1", ANLI_CUT_OFF, None, None),
    ("anli1", ANLI_NO_PHRASE, None, None),
    ("anli1", ANLI_ONLY_RUN_ON, None, None),
    ("cqa", CQA_TEST_0, CHOICES_TEST_0, "(c) wooded area"),
    ("cqa", CQA_EITHER, CHOICES_EITHER, None),
    ("cqa", CQA_CAPITALISED, CHOICES_CAPITALISED, "(c) michigan"),
    ("cqa", CQA_LETTER_TEXT_CLASH, CHOICES_CLASH, "(d) wait for orders"),
    ("cqa", CQA_NOT_A_CHOICE, CHOICES_NOT_A_CHOICE, "(b) dard"),
    ("cqa", CQA_ONE_OF_THESE, CHOICES_ONE_OF_THESE, None),
    ("svamp", SVAMP_TEST_0, None, "450"),
    ("svamp", SVAMP_TRAILING_OP, None, "3"),
    ("svamp", SVAMP_NO_PHRASE, None, None),
    ("svamp", SVAMP_LOOP, None, None),
    ("svamp", SVAMP_TWO_EQUATIONS, None, None),
    ("svamp", SVAMP_TRUNCATED, None, None),
]

CHOICES = ["ignore", "enforce", "authoritarian", "yell at", "avoid"]
STYLED = [  # what a student or another teacher may write
    ("anli1", "So the answer is neutral.", "neutral"),
    ("anli1", "THE ANSWER IS Entailment", "entailment"),
    ("anli1", "the answer is: contradiction!", "contradiction"),
    ("anli1", "So the answer is neutral. Then again, the answer is entailment.", "neutral"),  # first one wins
    ("anli1", "So the answer is entails.", None),  # the PaLM files only ever use the three label words
    ("anli1", "So the answer is not clear.", None),
    ("cqa", "So the answer is (b).", "(b) enforce"),
    ("cqa", "So the answer is (B) enforce.", "(b) enforce"),
    ("cqa", "So the answer is b) enforce", "(b) enforce"),
    ("cqa", "So the answer is yell at.", "(d) yell at"),
    ("cqa", "So the answer is Authoritarian", "(c) authoritarian"),
    ("cqa", "So the answer is (e) avoid, not (a) ignore.", None),
    ("cqa", "So the answer is a bad idea.", None),
    ("cqa", "So the answer is (f) nothing.", None),
    ("svamp", "The answer is 42.", "42"),
    ("svamp", "The answer is (84 / 2).", "42"),
    ("svamp", "The answer is (84 / 2) = 42.", "42"),
    ("svamp", "The answer is 84 / 2 = 42 points.", "42"),
    ("svamp", "The answer is $ 2.50.", "2.5"),
    ("svamp", "The answer is 1,200 apples.", "1200"),
    ("svamp", "The answer is -(3 - 5). So he has 2.", "2"),
    ("svamp", "The answer is (10 - (3 + 6))\nQ: 15 trees. The answer is (21 - 15).", "1"),
    ("svamp", "The answer is (3 / 0).", None),
    ("svamp", "The answer is (9 ** 9 ** 9).", None),
    ("svamp", "The answer is __import__('os').system('ls').", None),
    ("svamp", "The answer is (1).real.", None),
    ("svamp", "The answer is x + 4.", None),
    ("svamp", "The answer is " + "(1 + 1) + " * 30 + "1.", None),
]


@pytest.mark.parametrize(("dataset", "text", "choices", "expected"), REAL)
def test_parse_answer_on_real_palm_outputs(dataset: str, text: str, choices: list[str] | None, expected: str) -> None:
    assert parse_answer(dataset, text, choices) == expected


@pytest.mark.parametrize(("dataset", "text", "expected"), STYLED)
def test_parse_answer_on_model_style_text(dataset: str, text: str, expected: str | None) -> None:
    assert parse_answer(dataset, text, CHOICES if dataset == "cqa" else None) == expected


@pytest.mark.parametrize("dataset", ["anli1", "cqa", "svamp"])
def test_parse_answer_none_without_phrase(dataset: str) -> None:
    assert parse_answer(dataset, "The premise says nothing about it, so it is entailment (a) 42.", CHOICES) is None
    assert parse_answer(dataset, "", CHOICES) is None


def test_parse_answer_uses_model_text_not_invented_examples() -> None:
    invented_only = "I am not sure.\n\nQ: There are 15 trees.\nA: So 21 - 15 = 6. The answer is (21 - 15)."
    assert parse_answer("svamp", invented_only) is None
    assert parse_answer("anli1", "Hmm.\nPremise: x\nHypothesis: y\nAnswer: So the answer is neutral.") is None


@pytest.mark.parametrize("blank", ["\n", "\n \t", "\r\n"])
def test_answer_clause_is_linear_in_blank_lines(blank: str) -> None:
    """A completion of 100,000 blank lines is parsed at once (the quadratic cut took minutes)."""
    text = "So the answer is (2 + 3)." + blank * 100_000
    start = time.perf_counter()
    assert answer_clause(text) == "(2 + 3)."
    assert answer_clause(text + "Q: an invented example. The answer is 7.") == "(2 + 3)."
    assert answer_clause("Hmm." + blank * 100_000 + "Premise: invented. So the answer is neutral.") is None
    assert time.perf_counter() - start < 1


def test_parse_answer_cqa_without_choices_keeps_the_letter() -> None:
    assert parse_answer("cqa", "So the answer is (d) math problem.") == "(d) math problem"
    assert parse_answer("cqa", "So the answer is (D).") == "(d)"
    assert parse_answer("cqa", "So the answer is math problem.") is None


def test_unknown_dataset_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown dataset 'gsm8k'.*svamp"):
        tasks.get("gsm8k")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SVAMP_TEST_0, "(10 * 45)"),
        (SVAMP_TRAILING_OP, "(12 - 2) - 7"),
        (SVAMP_TRUNCATED, "(9 + 6"),  # kept for display, though it does not evaluate
        (SVAMP_TWO_EQUATIONS, None),
        (SVAMP_NO_PHRASE, None),
        ("The answer is 42.", "42"),
    ],
)
def test_parse_equation_returns_raw_equation(text: str, expected: str | None) -> None:
    assert parse_equation(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VERDICT_CORRECT, "correct"),
        (VERDICT_WRONG, "wrong"),
        (VERDICT_UNCERTAIN, "uncertain"),  # its body says 'incorrect', which is no verdict
        ("Evaluation result: the given answer is wrong", "wrong"),
        ("evaluation RESULT: The Given Answer Is Uncertain!", "uncertain"),
        ("Evaluation result: correct.", "correct"),
        ("Evaluation result:wrong", "wrong"),
        ("Evaluation result: **correct**", "correct"),
        ("Evaluation result: the given answer is incorrect.", "wrong"),
        ("Evaluation result: correct.\nOn reflection...\nEvaluation result: the given answer is wrong.", "wrong"),
        ("The evaluation result is: the given answer is correct.", "correct"),
        ("**Evaluation Result:** The given answer is **wrong**.", "wrong"),
        ("Evaluation result - the proposed solution is incorrect", "wrong"),
        ("evaluation result is uncertain", "uncertain"),
        ("Evaluation result: the given answer is not correct.", None),
        ("The given answer is correct.", None),
        ("Evaluation result: the given answer is plausible.", None),
        ("Evaluation result: the given answer is correctly computed but", None),
        ("", None),
    ],
)
def test_parse_verdict_table(text: str, expected: str | None) -> None:
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    ("dataset", "predicted", "gold", "expected"),
    [
        ("svamp", "450", "450", True),
        ("svamp", "2.50001", "2.5", True),
        ("svamp", "2.6", "2.5", False),
        ("svamp", "0.00005", "0", True),
        ("svamp", "1000050", "1000000", True),  # relative tolerance for big numbers
        ("svamp", "1000500", "1000000", False),
        ("svamp", "", "1", False),
        ("cqa", "(d) math problem", "(d) math problem", True),
        ("cqa", "(d)", "(d) math problem", True),
        ("cqa", "(a) math problem", "(d) math problem", True),  # the gold text listed twice (48 questions)
        ("cqa", "(a) homework", "(d) math problem", False),
        ("cqa", "(a)", "(d) math problem", False),
        ("cqa", "math problem", "(d) math problem", False),
        ("anli1", "neutral", "neutral", True),
        ("anli1", "Neutral", "neutral", True),
        ("anli1", "entailment", "neutral", False),
        ("anli1", None, "neutral", False),
        ("svamp", None, "0", False),
        ("cqa", None, "(a) x", False),
    ],
)
def test_is_correct_table(dataset: str, predicted: str | None, gold: str, expected: bool) -> None:
    assert is_correct(dataset, predicted, gold) is expected


def test_accuracy_counts_none_as_wrong() -> None:
    assert accuracy("svamp", ["1", None, "3", "5"], ["1", "2", "3", "4"]) == 0.5
    assert accuracy("anli1", [], []) == 0.0
    with pytest.raises(ValueError, match="predictions"):
        accuracy("svamp", ["1"], ["1", "2"])


def _upstream_correct(dataset: str, row: dict) -> bool:
    """Upstream's score of its own parse, `palm_label`: the gold text (case-sensitive), or the equation's value."""
    if dataset == "svamp":
        try:
            return format_number(evaluate_equation(row["palm_label"])) == row["answer"]
        except EquationError:
            return False
    gold_text = row["answer"] if dataset == "anli1" else row["answer"].split(") ", 1)[1]
    return row["palm_label"] == gold_text


# dataset, our accuracy, upstream's (palm_label) accuracy, test rows only we score right, only upstream scores right.
# Our parse scores more rows right, never fewer: ANLI 10 outputs say 'so the answer is' (lower case) or 'The answer
# is', which upstream's split on 'So the answer is' misses; CQA upstream compares the text case-sensitively
# ('Michigan' != 'michigan', 12 rows) and ignores the letter (4 rows with a misspelt choice, e.g. '(d) field' for
# 'feild'); SVAMP upstream's regex keeps only the first parenthesised group of '(12 - 2) - 7' (7 rows).
PALM_TEST = [("anli1", 0.664, 0.656, 8, 0), ("cqa", 0.7854, 0.772, 16, 0), ("svamp", 0.775, 0.740, 7, 0)]


@pytest.mark.parametrize(("dataset", "ours", "upstream", "only_ours", "only_upstream"), PALM_TEST)
def test_palm_test_accuracy_reproduces_upstream_up_to_its_parse_misses(
    dataset: str, ours: float, upstream: float, only_ours: int, only_upstream: int
) -> None:
    test = load_benchmark(dataset)["test"]
    predicted = [parse_answer(dataset, row["palm_output"], row["choices"] or None) for row in test]
    assert accuracy(dataset, predicted, test["answer"]) == pytest.approx(ours, abs=5e-4)
    mine = [is_correct(dataset, p, row["answer"]) for p, row in zip(predicted, test, strict=True)]
    theirs = [_upstream_correct(dataset, row) for row in test]
    assert sum(theirs) / len(theirs) == pytest.approx(upstream, abs=5e-3)
    assert sum(m and not t for m, t in zip(mine, theirs, strict=True)) == only_ours
    assert sum(t and not m for m, t in zip(mine, theirs, strict=True)) == only_upstream
