"""BFCL tasks: the oracle scores 1 on every question, each corruption and any garbage scores 0
with its reason, splits are disjoint by question id, the data is found (or the error says how).

Unit tests read the fixtures in tests/data (45 BFCL questions, see BFCL_NOTICE.md); the slow
test reads the whole bfcl-eval wheel, downloading it with pip into the cache when it is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from trueloop.cli import main
from trueloop.envs.tool_prompt import has_tools_section, with_tools, without_tools
from trueloop.envs.tools import parse_calls
from trueloop.rollout.trace import trace_ids
from trueloop.tasks import TASKS, bfcl_data, make_task
from trueloop.tasks.base import split_of
from trueloop.tasks.bfcl import BFCL_TASKS, _category
from trueloop.tasks.bfcl_check import MAX_CHARS, verify_bfcl
from trueloop.tasks.bfcl_data import json_schema

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = sorted(BFCL_TASKS)
FULL_COUNTS = {"bfcl_simple": 400, "bfcl_multiple": 200, "bfcl_parallel": 200,
               "bfcl_parallel_multiple": 200, "bfcl_irrelevance": 240}


def fixture(name: str) -> Path:
    return DATA / f"{name}_sample.jsonl"


def every_problem(task) -> list:
    return [task.problem(i, s) for s in ("train", "test") for i in range(len(task.rows[s]))]


def call(name: str, **args) -> dict:
    return {"name": name, "arguments": args}


def block(*calls: dict) -> str:
    return f"<tool_call>{json.dumps(list(calls))}</tool_call>"


@pytest.mark.parametrize("name", NAMES)
def test_oracle_scores_one_on_every_fixture_question(name):
    task = make_task(name, path=fixture(name))
    problems = every_problem(task)
    assert len(problems) == 9 and not task.skipped
    for p in problems:
        v = task.verify(p, task.oracle(p))
        assert (v.correct, v.reward, v.reason) == (True, 1.0, "ok"), (p.meta["bfcl_id"], v)


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_disjoint_by_question_id(name):
    task = make_task(name, path=fixture(name))
    ids = {s: {p.meta["bfcl_id"] for p in every_problem(task) if p.meta["split"] == s}
           for s in ("train", "test")}
    assert ids["train"] and ids["test"] and not ids["train"] & ids["test"]
    for split, members in ids.items():
        assert all(split_of(f"{name}|{i}") == split for i in members)
    rows = [json.loads(line)["id"] for line in fixture(name).read_text().splitlines()]
    assert ids["train"] | ids["test"] == set(rows)


@pytest.fixture(scope="module")
def full_data() -> Path:
    """The bfcl-eval wheel (or installed copy); downloaded into the cache when absent."""
    try:
        return bfcl_data.find_source().root
    except ValueError:
        pass
    folder = bfcl_data.cache_dir() / "bfcl"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                           f"bfcl-eval=={bfcl_data.BFCL_VERSION}", "-d", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"bfcl-eval wheel not available ({done.stderr.strip()[-200:]})")
    return bfcl_data.find_source().root


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_oracle_scores_one_on_every_question_of_the_full_data(name, full_data):
    task = make_task(name, path=full_data)
    problems = every_problem(task)
    assert len(problems) == FULL_COUNTS[name] and not task.skipped
    wrong = [(p.meta["bfcl_id"], v.reason) for p in problems
             if not (v := task.verify(p, task.oracle(p))).correct]
    assert wrong == []


FUNCS = [
    {"name": "geo.distance", "description": "Distance along a route.", "parameters": {
        "type": "dict", "required": ["city", "miles"], "properties": {
            "city": {"type": "string"}, "miles": {"type": "float"},
            "count": {"type": "integer"}, "exact": {"type": "boolean"},
            "stops": {"type": "array", "items": {"type": "string"}},
            "point": {"type": "dict", "properties": {"lat": {"type": "float"}}},
            "legs": {"type": "array", "items": {"type": "dict"}},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "mode": {"type": "string"}, "unit": {"type": "string"}}}},
    {"name": "geo.area", "description": "Area of a region.", "parameters": {
        "type": "dict", "required": ["city"], "properties": {"city": {"type": "string"}}}},
]
GOLD = {"geo.distance": {"city": ["New York", "NYC"], "miles": [2.0], "count": [3, ""],
                         "exact": [True, ""], "stops": [["Boston", "Albany"], ""],
                         "point": [{"lat": [1.5], "lon": [2.5, ""]}, ""],
                         "ids": [[1, 2], [3]], "mode": ["fast"], "unit": ["", "mi"]}}
SIMPLE = {"category": "simple_python", "functions": FUNCS, "ground_truth": [GOLD]}
OK = {"city": "New York", "miles": 2.0, "ids": [1, 2], "mode": "fast"}

SIMPLE_TABLE = [  # (arguments of the one call, expected reason)
    (OK, "ok"),
    ({**OK, "city": "new-york", "miles": 2}, "ok"),  # BFCL's string normalisation; int for float
    ({**OK, "city": "NYC", "count": 3, "exact": True, "stops": ["boston", "ALBANY"],
      "point": {"lat": 1.5}, "unit": "mi"}, "ok"),  # every optional given, accepted values
    ({**OK, "city": "Boston"}, "wrong_value"),
    ({**OK, "stops": ["Albany", "Boston"]}, "wrong_value"),  # lists compare in order
    ({**OK, "point": {"lat": 9.5}}, "wrong_value"),
    ({**OK, "point": {"lat": 1.5, "zoom": 3}}, "wrong_value"),  # a dict key it does not accept
    ({k: v for k, v in OK.items() if k != "miles"}, "missing_required"),
    ({k: v for k, v in OK.items() if k != "mode"}, "missing_param"),  # not optional in the gold
    ({**OK, "miles": "2.0"}, "wrong_type"),
    ({**OK, "count": True}, "wrong_type"),  # a bool is not an integer
    ({**OK, "count": 3.0}, "wrong_type"),  # nor a float
    ({**OK, "ids": ["1", "2"]}, "wrong_type"),  # item types, one level deep
    ({**OK, "ids": [3]}, "ok"),
    ({**OK, "stops": [1, 2]}, "wrong_value"),  # an optional list's items: BFCL checks no types
    ({**OK, "speed": 5}, "unexpected_param"),
    ({**OK, "legs": []}, "unexpected_param"),  # documented, but not in the accepted call
]


@pytest.mark.parametrize(("args", "reason"), SIMPLE_TABLE)
def test_simple_call_rules(args, reason):
    v = verify_bfcl(SIMPLE, block(call("geo.distance", **args)))
    assert v.reason == reason and v.correct == (reason == "ok"), v
    assert v.reward == (1.0 if reason == "ok" else 0.0)


def test_one_object_per_block_and_text_around_are_read_too():
    one = f'Sure.\n<tool_call>{json.dumps(call("geo.distance", **OK))}</tool_call> done'
    assert verify_bfcl(SIMPLE, one).reason == "ok"


def test_wrong_function_and_wrong_count():
    assert verify_bfcl(SIMPLE, block(call("geo.area", city="NYC"))).reason == "wrong_function"
    two = block(call("geo.distance", **OK), call("geo.distance", **OK))
    assert verify_bfcl(SIMPLE, two).reason == "wrong_count"
    multiple = {"category": "multiple", "functions": FUNCS,
                "ground_truth": [{"geo.area": {"city": ["Paris"]}}]}
    assert verify_bfcl(multiple, block(call("geo.area", city="paris"))).reason == "ok"
    assert verify_bfcl(multiple, block(call("geo.distance", **OK))).reason == "wrong_function"


PARALLEL = {"category": "parallel", "functions": FUNCS[1:], "ground_truth": [
    {"geo.area": {"city": ["Paris", "Rome"]}}, {"geo.area": {"city": ["Paris"]}}]}


def test_parallel_calls_match_in_any_order():
    paris, rome = call("geo.area", city="Paris"), call("geo.area", city="Rome")
    assert verify_bfcl(PARALLEL, block(rome, paris)).reason == "ok"
    # Paris fits both accepted calls; a greedy matcher (BFCL's) gives it to the first and
    # rejects this valid order, a maximum matching does not
    assert verify_bfcl(PARALLEL, block(paris, rome)).reason == "ok"
    assert verify_bfcl(PARALLEL, block(paris)).reason == "wrong_count"  # a dropped call
    assert verify_bfcl(PARALLEL, block(paris, paris, rome)).reason == "wrong_count"
    v = verify_bfcl(PARALLEL, block(rome, call("geo.area", city="Oslo")))
    assert v.reason == "wrong_value" and not v.correct


IRRELEVANCE = {"category": "irrelevance", "functions": FUNCS, "ground_truth": None}


@pytest.mark.parametrize(("text", "reason"), [
    ("No function fits. <tool_call>[]</tool_call>", "ok"),
    ("", "no_answer"),  # BFCL would accept: emptiness earns nothing here
    ("I cannot answer that with these functions.", "no_answer"),
    (block(call("geo.area", city="NYC")), "called_irrelevant"),
    ("<tool_call>[]</tool_call>" + block(call("geo.area", city="NYC")), "called_irrelevant"),
    ("<tool_call>not json</tool_call>", "malformed_call"),
])
def test_irrelevance_rewards_only_the_explicit_no_call(text, reason):
    v = verify_bfcl(IRRELEVANCE, text)
    assert v.reason == reason and v.correct == (reason == "ok")


GARBAGE = [
    "",
    "<tool_call>",
    "<tool_call>{not json}</tool_call>",
    "<tool_call>" + "[" * 50_000 + "</tool_call>",  # nesting past the JSON parser's recursion
    "<tool_call>null</tool_call>",
    '<tool_call>{"name": 5, "arguments": {}}</tool_call>',
    '<tool_call>{"name": "geo.distance", "arguments": [1, 2]}</tool_call>',
    '<tool_call>[1, "x", {"arguments": {}}]</tool_call>',
    '<tool_call>{"name": "geo.distance", "arguments": {"city": ' + "9" * 5000 + "}}</tool_call>",
    block(call("geo.distance", **{**OK, "city": {"a": [[[[{"b": []}]]]] * 50}})),
    block(*[call("geo.distance", **OK)] * 2000),
    block(call("geo.distance", **OK)) + "x" * MAX_CHARS,
    "\x00\ufffd<tool_call>\udcff</tool_call>",
]


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_gets_a_wrong_verdict_never_an_exception(text):
    for truth in (SIMPLE, PARALLEL, IRRELEVANCE):
        v = verify_bfcl(truth, text)
        assert not v.correct and v.reward == 0.0 and v.reason != "ok", (truth["category"], v)


def test_hermes_parser_reads_a_list_of_calls_in_one_block():
    calls = parse_calls('<tool_call>[{"name": "a", "arguments": {"x": 1}}, {"name": "b"}]'
                        '</tool_call><tool_call>{"name": "c", "arguments": {}}</tool_call>')
    assert [(c.name, c.arguments, c.error) for c in calls] == [
        ("a", {"x": 1}, None), ("b", {}, None), ("c", {}, None)]
    assert parse_calls("<tool_call>[]</tool_call>") == []
    assert [c.error is not None for c in parse_calls('<tool_call>[{"name": "a"}, 3]')] == [
        False, True]


def test_prompt_lists_the_tools_as_json_schema_and_asks_for_tool_calls():
    p = make_task("bfcl_multiple", path=fixture("bfcl_multiple")).problem(0)
    system, user = p.messages
    assert system.role == "system" and user.role == "user" and user.content == p.prompt
    tools = json.loads(system.content.split("<tools>")[1].split("</tools>")[0])
    assert [t["name"] for t in tools] == [t["function"]["name"] for t in p.tools]
    assert len(tools) > 1 and "<tool_call>[" in system.content
    types = json.dumps(tools)
    assert '"type": "dict"' not in types and '"type": "float"' not in types
    assert "ground_truth" not in json.dumps([m.content for m in p.messages])


TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTOOLS:{{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_tokenizer():
    from bpe_chat import build_bpe_chat_tokenizer

    return build_bpe_chat_tokenizer()


def test_rollouts_use_the_templates_tools_section_when_it_has_one():
    from bpe_chat import build_bpe_policy

    task = make_task("bfcl_simple", path=fixture("bfcl_simple"))
    p = task.problem(0)
    assert p.tools and list(p.tools) == [json_schema(f) for f in p.truth["functions"]]
    assert "tools" not in p.meta  # one place: Problem.tools
    policy = build_bpe_policy()
    env, oracle = task.make_env(p), task.oracle(p)

    def first_prompt() -> str:  # the ids a rollout starts from (trace_ids = run_episodes' layout)
        ids, trained = trace_ids(policy, env, [oracle])
        return policy.tokenizer.decode([i for i, t in zip(ids, trained, strict=True) if not t])

    assert not has_tools_section(policy.tokenizer)  # ChatML without tools, as SmolLM2's
    plain = first_prompt()
    assert "<tools>" in plain and "TOOLS:" not in plain
    policy.tokenizer.chat_template = TOOLS_TEMPLATE
    assert has_tools_section(policy.tokenizer)
    text = first_prompt()
    assert "TOOLS:" in text and "<tools>" not in text and "expert in composing" not in text
    assert p.tools[0]["function"]["name"] in text and p.prompt in text


@pytest.mark.parametrize("question", [
    [{"role": "user", "content": "Find the area."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Find the area."}]])
def test_the_tools_text_comes_off_exactly_and_a_questions_own_system_message_stays(question):
    tools = [{"type": "function", "function": {"name": "area", "parameters": {}}}]
    messages = with_tools(question, tools)
    assert messages[0].role == "system" and "<tools>" in messages[0].content
    assert without_tools(messages, tools) == question
    other = [{"type": "function", "function": {"name": "volume", "parameters": {}}}]
    assert without_tools(messages, other)[0]["content"] == messages[0].content  # not ours: kept


def test_cli_sample_prints_prompts_and_renders_them_for_a_model(capsys, tmp_path,
                                                                 chat_tokenizer):
    chat_tokenizer.save_pretrained(tmp_path)
    rc = main(["tasks", "sample", "bfcl_simple", "--n", "2", "--path",
               str(fixture("bfcl_simple")), "--model", str(tmp_path)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and len(rows) == 2
    for row in rows:
        assert row["messages"][0]["role"] == "system" and "<tools>" in row["rendered"]
        assert row["rendered"].endswith("<|im_start|>assistant\n")


def test_missing_data_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUELOOP_CACHE", str(tmp_path))
    monkeypatch.setattr(bfcl_data.importlib.util, "find_spec", lambda name: None)
    _category.cache_clear()
    with pytest.raises(ValueError, match="pip download --no-deps bfcl-eval==2026.3.23"):
        make_task("bfcl_simple")
    with pytest.raises(ValueError, match="neither the bfcl-eval wheel"):
        make_task("bfcl_simple", path=tmp_path)


def test_bad_lines_are_recorded_and_skipped(tmp_path):
    good = fixture("bfcl_simple").read_text().splitlines()[0]
    row = json.loads(good)
    params = {"type": "dict", "properties": {"x": {"type": "complex"}}, "required": []}
    unknown = {**row, "id": "simple_python_9001",
               "function": [{**row["function"][0], "parameters": params}]}
    two_turns = {**row, "id": "simple_python_9002", "question": row["question"] * 2}
    no_gold = {k: v for k, v in row.items() if k != "ground_truth"} | {"id": "simple_python_9003"}
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join([good, "{oops", json.dumps(unknown), json.dumps(two_turns),
                               json.dumps(no_gold), "[1]"]) + "\n")
    task = make_task("bfcl_simple", path=path)
    assert len(task.rows["train"]) + len(task.rows["test"]) == 1
    assert [s.split(":")[1] for s in task.skipped] == ["2", "6", "3", "4", "5"]
    assert "complex" in task.skipped[2] and "one turn" in task.skipped[3]


def test_wheel_folder_and_rows_file_give_the_same_problems(tmp_path):
    rows = [json.loads(line) for line in fixture("bfcl_parallel").read_text().splitlines()]
    questions = "".join(json.dumps({k: v for k, v in r.items() if k != "ground_truth"}) + "\n"
                        for r in rows)
    answers = "".join(json.dumps({"id": r["id"], "ground_truth": r["ground_truth"]}) + "\n"
                      for r in rows)
    wheel = tmp_path / "bfcl_eval-test.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("bfcl_eval/data/BFCL_v4_parallel.json", questions)
        z.writestr("bfcl_eval/data/possible_answer/BFCL_v4_parallel.json", answers)
    z = zipfile.ZipFile(wheel)
    z.extractall(tmp_path / "unpacked")
    expected = [p.to_json() for p in every_problem(
        make_task("bfcl_parallel", path=fixture("bfcl_parallel")))]
    for path in (wheel, tmp_path / "unpacked", tmp_path / "unpacked" / "bfcl_eval" / "data"):
        assert [p.to_json() for p in every_problem(make_task("bfcl_parallel", path=path))] == \
            expected


def test_registered_and_test_path_refused():
    assert set(BFCL_TASKS) <= set(TASKS)
    with pytest.raises(ValueError, match="splits BFCL by question id"):
        make_task("bfcl_simple", path=fixture("bfcl_simple"), test_path="x.jsonl")
