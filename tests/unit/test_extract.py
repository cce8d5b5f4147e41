"""Final-answer extraction: hidden channels, think blocks, boxes, explicit statements."""

from __future__ import annotations

import pytest

from trueloop.verify.extract import HIDDEN_FLAG, boxed_contents, extract_answer, strip_hidden


@pytest.mark.parametrize("hidden", [
    "\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad",  # zero-width / format (Cf)
    "\U000e0041", "\U000e007f",  # tag block
    "\ufe0f", "\U000e0100",  # variation selectors
    "\u202e", "\u2067", "\u200f",  # bidi controls
    "\ue000", "\U000f0000",  # private use
])
def test_hidden_characters_are_counted_removed_and_flagged(hidden):
    ex = extract_answer(f"x{hidden}y \\boxed{{4{hidden}2}}")
    assert ex.answer == "42"
    assert ex.hidden_chars == 2
    assert HIDDEN_FLAG in ex.flags


def test_plain_text_has_no_hidden_flag():
    ex = extract_answer("caf\u00e9 \u03c0 \\boxed{7}")
    assert ex.hidden_chars == 0 and ex.flags == frozenset()


def test_strip_hidden_counts_each_occurrence():
    assert strip_hidden("a\u200bb\u200bc\u202e") == ("abc", 3)


def test_nfkc_normalises_fullwidth_digits():
    assert extract_answer("\\boxed{\uff11\uff12}").answer == "12"


@pytest.mark.parametrize("text, answer, reason", [
    ("<think>\\boxed{5}</think> so \\boxed{7}", "7", None),
    ("<THINK>\\boxed{5}</THINK> so \\boxed{7}", "7", None),
    ("<think>a</think><think>\\boxed{5}</think>\\boxed{7}", "7", None),
    ("<think>\\boxed{5}", None, "no_answer"),
    ("\\boxed{7} <think>\\boxed{5}", "7", None),
    ("reasoning \\boxed{5}</think> \\boxed{7}", "7", None),
])
def test_think_blocks_are_ignored(text, answer, reason):
    ex = extract_answer(text)
    assert (ex.answer, ex.reason) == (answer, reason)


@pytest.mark.parametrize("text, boxes", [
    ("\\boxed{\\frac{1}{2}}", ["\\frac{1}{2}"]),
    ("\\boxed{\\{1,2\\}}", ["\\{1,2\\}"]),
    ("\\boxed 5 and \\fbox{6}", ["5", "6"]),
    ("\\boxed{\\boxed{5}}", ["5"]),
    ("\\boxed{a}\\boxed{b", ["a"]),
    ("\\boxedx{3}", []),
])
def test_boxed_contents(text, boxes):
    assert boxed_contents(text) == boxes


@pytest.mark.parametrize("text, answer", [
    ("Final Answer: 12", "12"),
    ("The final answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("work\n#### 1,000", "1,000"),
    ("So the answer is 3.5.", "3.5"),
    ("Answer: **B**", "B"),
    ("The answer is 5 and the final answer is 7", "7"),  # Final Answer outranks "the answer is"
    ("\\boxed{9}. The answer is 8.", "9"),  # a box outranks every statement
    ("The answer is 5, since 2+3=5.", "5"),  # prose after the answer is cut
    ("The answer is 5 because it is.", "5"),
    ("The answer is 1, 2", "1, 2"),
    ("The answer is 1,000 dollars.", "1,000 dollars"),
])
def test_explicit_statements(text, answer):
    assert extract_answer(text).answer == answer


def test_differing_candidates_are_multiple_answers_identical_are_fine():
    ex = extract_answer("\\boxed{3} or \\boxed{5}")
    assert ex.reason == "multiple_answers" and ex.answer is None
    assert ex.candidates == ("3", "5")
    assert extract_answer("\\boxed{3} so \\boxed{ 3 }").answer == "3"


def test_empty_boxes_from_an_echoed_instruction_are_no_answer():
    assert extract_answer("Put your final answer in \\boxed{}.").reason == "no_answer"


def test_last_number_fallback_only_when_enabled():
    text = "3 apples plus 4 apples is 7 apples"
    assert extract_answer(text).reason == "no_answer"
    assert extract_answer(text, last_number_fallback=True).answer == "7"


@pytest.mark.parametrize("text, answer, reason", [
    ("\\boxed{" + "{" * 500_000 + "}" * 10, None, "no_answer"),  # a box that never closes
    ("}" * 1_000_000 + "\\boxed{1", "1", None),  # no box: the last number
    ("\\boxed{" * 100_000, None, "no_answer"),
    ("The answer is 7. " * 50_000, "7", None),  # 50k identical statements agree
    ("<think>" * 100_000 + " \\boxed{5}", None, "no_answer"),  # all inside an open think
], ids=["open-braces", "close-braces", "open-boxes", "statements", "think-tags"])
def test_megabyte_adversarial_inputs_get_their_verdict(text, answer, reason):
    # how long they take (linear, not quadratic) is measured by benchmarks/extract.py
    ex = extract_answer(text, last_number_fallback=True)
    assert (ex.answer, ex.reason) == (answer, reason)
