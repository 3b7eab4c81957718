"""Scenario files: shipped ones load; bad ones give one clear line per problem and touch nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from nef_agents.errors import ConfigError, ScenarioError
from nef_agents.scenario import load_scenario, parse_seeds, quick, scenario_from_dict

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))
GOOD = """
name = "t"
dimension = 2
x0 = [-1.2, 1.0]
budget = 100
[objective]
function = "rosenbrock"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    """Load ``path``, expecting a ScenarioError; check nothing was written next to it; return the message."""
    before = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert sorted(p.name for p in path.parent.iterdir()) == before
    msg = str(info.value)
    assert all(line.startswith(str(path)) for line in msg.splitlines()), msg
    return msg


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_round_trips_through_its_logged_form(path):
    """Each file in scenarios/ validates, and the dict logged in run_started validates back to the same scenario."""
    sc = load_scenario(path)
    assert sc.problems() and sc.budget >= 1 and sc.seeds
    again = scenario_from_dict(sc.to_context(), sc.source)
    assert again.model_dump() == sc.model_dump()


def test_shipped_scenarios_cover_the_required_experiments():
    """The six experiments the brief names are shipped."""
    names = {p.stem for p in SCENARIOS}
    assert {"rosenbrock", "ellipsoid-oscillation", "rastrigin-restarts", "penalty-balance", "bbob-sample",
            "custom-objective"} <= names


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    """A misspelt key names its path and suggests the right one."""
    msg = error_of(write(tmp_path, GOOD.replace("budget = 100", "budgte = 100\nbudget = 100")))
    assert "budgte: unknown key; did you mean 'budget'?" in msg
    msg = error_of(write(tmp_path, GOOD.replace('function = "rosenbrock"', 'function = "rosenbrock"\nparmas = {}')))
    assert "objective.parmas: unknown key; did you mean 'params'?" in msg


def test_wrong_type_names_key_expected_type_and_value(tmp_path):
    """budget = "many" says an integer was expected and shows the value."""
    msg = error_of(write(tmp_path, GOOD.replace("budget = 100", 'budget = "many"')))
    assert "budget: expected an integer, got 'many'" in msg


def test_several_problems_give_one_line_each(tmp_path):
    """Every schema problem is reported, one per line."""
    text = GOOD.replace("budget = 100", 'budget = 0\nseeds = "x"') + "[outputs]\nplots = 1\n"
    lines = error_of(write(tmp_path, text)).splitlines()
    assert len(lines) == 3
    assert any("budget: expected a value >= 1, got 0" in ln for ln in lines)
    assert any(": seeds: " in ln for ln in lines)
    assert any("outputs.plots: expected true or false, got 1" in ln for ln in lines)


def test_missing_objective_table_and_empty_objective(tmp_path):
    """No [objective] table, or one with no objective in it, each say what to give."""
    msg = error_of(write(tmp_path, 'budget = 10\nx0 = [1.0]\n'))
    assert "objective: missing [objective] table" in msg
    msg = error_of(write(tmp_path, 'budget = 10\nx0 = [1.0]\n[objective]\nparams = {}\n'))
    assert "objective: no objective: give exactly one of function" in msg


def test_dimension_and_x0_mismatch(tmp_path):
    """x0 with 2 numbers against dimension 3 is an error on x0."""
    msg = error_of(write(tmp_path, GOOD.replace("dimension = 2", "dimension = 3")))
    assert "x0: has 2 numbers but the dimension is 3" in msg


def test_lower_above_upper_names_the_index(tmp_path):
    """bounds[1] = [3, 1] is reported with its index and values."""
    msg = error_of(write(tmp_path, GOOD.replace("budget = 100", "budget = 100\nbounds = [[0.0, 1.0], [3.0, 1.0]]")))
    assert "bounds[1]: lower must be <= upper, got (3.0, 1.0)" in msg


def test_unknown_baseline_and_unknown_function(tmp_path):
    """A misspelt baseline and built-in get a suggestion."""
    text = GOOD.replace("budget = 100", 'budget = 100\nbaselines = ["gd", "scipy:LBFGSB"]').replace('"rosenbrock"', '"rosenbruck"')
    msg = error_of(write(tmp_path, text))
    assert "baselines[1]: unknown baseline 'scipy:LBFGSB'; did you mean 'scipy:L-BFGS-B'?" in msg
    assert "objective.function: unknown built-in function 'rosenbruck'; did you mean 'rosenbrock'?" in msg


def test_bad_engine_option_names_its_table(tmp_path):
    """An option an engine does not have is reported under framework.options.<engine>."""
    msg = error_of(write(tmp_path, GOOD + "[framework]\nengine = \"gd\"\n[framework.options.gd]\nlearning_rat = 0.1\n"))
    assert "framework.options.gd:" in msg and "learning_rat" in msg


def test_toml_syntax_error_names_file_and_line(tmp_path):
    """A TOML syntax error reports file:line."""
    path = write(tmp_path, 'name = "x"\nbudget = \n')
    msg = error_of(path)
    assert msg.startswith(f"{path}:2: TOML syntax error")


IMPORT = """
dimension = 2
x0 = [0.0, 0.0]
budget = 50
[objective]
import = "{spec}"
"""


@pytest.mark.parametrize("spec, expected", [
    ("no_such_module_xyz:f", "objective.import: module 'no_such_module_xyz' not found"),
    ("mod_ok:missing", "objective.import: module 'mod_ok' has no attribute 'missing'"),
    ("mod_ok:CONSTANT", "objective.import: 'mod_ok:CONSTANT' is a int, not a callable"),
    ("mod_broken:f", "objective.import: importing module 'mod_broken' failed: ZeroDivisionError"),
    ("mod_ok", "objective.import: expected \"package.module:callable\", got 'mod_ok'"),
])
def test_import_failures_each_have_their_own_message(tmp_path, spec, expected):
    """Module not found, attribute missing, not callable, import crash and bad format are told apart."""
    (tmp_path / "mod_ok.py").write_text("CONSTANT = 3\ndef f(x):\n    return float(x @ x)\n")
    (tmp_path / "mod_broken.py").write_text("1 / 0\n")
    msg = error_of(write(tmp_path, IMPORT.format(spec=spec)))
    assert expected in msg


def test_import_resolves_next_to_the_scenario_file_from_any_cwd(tmp_path, monkeypatch):
    """A module beside the scenario imports although the working directory is elsewhere."""
    (tmp_path / "mod_here_abc.py").write_text("def f(x):\n    return float(x @ x)\n")
    path = write(tmp_path, IMPORT.format(spec="mod_here_abc:f"))
    monkeypatch.chdir(Path(__file__).parent)
    sc = load_scenario(path)
    assert sc.problems()[0]["import"] == "mod_here_abc:f"


def test_missing_file_is_a_scenario_error(tmp_path):
    """A path that does not exist says so."""
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_scenario_error_is_a_config_and_value_error(tmp_path):
    """Callers catching ValueError or ConfigError see scenario errors."""
    with pytest.raises(ValueError):
        load_scenario(write(tmp_path, "budget = 1\n"))
    assert issubclass(ScenarioError, ConfigError)


@pytest.mark.parametrize("given, seeds", [
    ("0-4", [0, 1, 2, 3, 4]), ("0,2,5", [0, 2, 5]), ([3, 1], [3, 1]), ({"start": 2, "stop": 5}, [2, 3, 4]), (7, [7]),
])
def test_seed_forms(given, seeds):
    """Seeds as a range string, a comma list, a list, a {start, stop} table or one integer."""
    assert parse_seeds(given) == seeds


def test_quick_cuts_budget_seeds_and_bbob_list_to_the_first_problem():
    """--quick keeps one seed, budget <= 500 and the first problem of a bbob list."""
    sc = load_scenario(next(p for p in SCENARIOS if p.stem == "bbob-sample"))
    assert len(sc.problems()) > 1
    q = quick(sc)
    assert q.budget == min(sc.budget, 500) and q.seeds == sc.seeds[:1]
    assert q.problems() == sc.problems()[:1]
    assert q.source == sc.source
