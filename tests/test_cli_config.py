"""--config FILE on every command: TOML and YAML, flags win, clear errors, nested groups."""

import json
import re
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from lossatlas.cli import app
from lossatlas.cli.config import ConfigGroup
from lossatlas.results import manifest

runner = CliRunner()


def invoke(*args, target=app):
    """(result, output as one line without the error panel's borders)."""
    result = runner.invoke(target, [str(a) for a in args])
    return result, " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


def test_train_reads_toml_and_the_command_line_wins(tmp_path):
    (tmp_path / "train.toml").write_text(
        'optimizer = "lbfgs-gss"\nepochs = 5\nseed = 3\nfloat64 = true\n'
        f'out = "{(tmp_path / "from-file").as_posix()}"\n'
    )
    result, out = invoke("train", "--config", tmp_path / "train.toml", "--epochs", 2)
    assert result.exit_code == 0, out
    settings = manifest.read(tmp_path / "from-file")["settings"]
    assert settings["epochs"] == 2 and settings["seed"] == 3  # flag over file, file over default
    assert settings["optimizer"] == "lbfgs-gss" and settings["float64"] is True


def test_yaml_sets_arguments_repeatable_flags_and_dashed_keys(tmp_path):
    (tmp_path / "trace.yaml").write_text(
        "analysis: trace\nmodel: xor\ndata: xor\nsamples: 60\nfloat64: true\n"
        f"out: {(tmp_path / 'spec').as_posix()}\n"
    )
    result, out = invoke("spectrum", f"--config={tmp_path / 'trace.yaml'}")
    assert result.exit_code == 0, out
    assert json.loads((tmp_path / "spec" / "trace.json").read_text())["products"] == 9
    (tmp_path / "path.yml").write_text(
        "landscape: two-wells\npoints: 11\nsteps: 3\nlr: 0.01\npenalty: [0.1, 35]\n"
    )
    result, out = invoke("path", "--config", tmp_path / "path.yml", "--out", tmp_path / "p")
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "p" / "path.json").read_text())
    assert summary["settings"]["penalties"] == [0.1, 35.0]
    # one value for a repeatable flag, and a flag's own spelling with a dash
    (tmp_path / "one.toml").write_text('landscape = "two-wells"\npenalty = 1\n"no-such" = 1\n')
    result, out = invoke("path", "--config", tmp_path / "one.toml")
    assert result.exit_code == 2 and "unknown key 'no-such'" in out
    (tmp_path / "one.toml").write_text(
        'landscape = "two-wells"\npenalty = 1\npoints = 5\nsteps = 1\nlr = 0.01\nmodel-arg = []\n'
    )
    result, out = invoke("path", "--config", tmp_path / "one.toml", "--out", tmp_path / "q")
    assert result.exit_code == 0, out
    assert json.loads((tmp_path / "q" / "path.json").read_text())["settings"]["penalties"] == [1.0]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", 'gird = "5"', "unknown key 'gird' for `lossatlas surface`; the valid keys "
         "are: checkpoint, chunk, classes, data, data-arg, device"),
        ("a.toml", 'seed = "one"', "`seed` must be an integer; got 'one' (str)"),
        ("a.toml", "float64 = 1", "`float64` must be true or false; got 1 (int)"),
        ("a.toml", "test = [1]", "`test` must be true or false"),
        ("a.toml", "checkpoint = [1.5, true]", "`checkpoint` must be a list of paths"),
        ("a.toml", "grid = ", "is not valid"),
        ("a.yaml", "- just\n- a list\n", "must hold key = value settings; got a list"),
        ("a.json", "{}", "must be a .toml, .yaml or .yml file"),
    ],
)  # fmt: skip
def test_bad_config_files_are_named_with_the_key_and_type(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    result, out = invoke("surface", "--config", tmp_path / name, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert message in out
    assert not (tmp_path / "o").exists()


def test_a_missing_file_or_value_is_an_error(tmp_path):
    result, out = invoke("train", "--config", tmp_path / "nowhere.toml")
    assert result.exit_code == 2 and "does not exist" in out
    result, out = invoke("train", "--config")
    assert result.exit_code == 2 and "`--config` needs a file" in out


def nested_app():
    """A root like lossatlas's with a group inside a group, as others' sub-commands are."""
    root = typer.Typer(cls=ConfigGroup)
    geometry = typer.Typer()
    deeper = typer.Typer()

    @root.command()
    def top(n: int = 1) -> None:
        """A top-level command."""
        print(f"top n={n}")

    @geometry.command()
    def xor(
        steps: Annotated[int, typer.Option(help="steps")] = 1,
        name: str = "a",
        exact: bool = False,
        weights: Annotated[list[float] | None, typer.Option()] = None,
    ) -> None:
        """A command of a group."""
        print(f"xor steps={steps} name={name} exact={exact} weights={weights}")

    @deeper.command()
    def inner(level: int = 0) -> None:
        """A command two groups down."""
        print(f"inner level={level}")

    geometry.add_typer(deeper, name="deeper")
    root.add_typer(geometry, name="geometry")
    return root


def test_nested_groups_get_their_command_s_settings(tmp_path):
    (tmp_path / "xor.toml").write_text('steps = 7\nname = "b"\nexact = true\nweights = [1, 2.5]\n')
    result, out = invoke("geometry", "xor", "--config", tmp_path / "xor.toml", "--name", "c",
                         target=nested_app())  # fmt: skip
    assert result.exit_code == 0, out
    assert "xor steps=7 name=c exact=True weights=[1.0, 2.5]" in out
    (tmp_path / "inner.yaml").write_text("level: 3\n")
    result, out = invoke("geometry", "deeper", "inner", "--config", tmp_path / "inner.yaml",
                         target=nested_app())  # fmt: skip
    assert result.exit_code == 0 and "inner level=3" in out
    (tmp_path / "bad.toml").write_text("steps = 1.5\n")
    result, out = invoke("geometry", "xor", "--config", tmp_path / "bad.toml", target=nested_app())
    assert result.exit_code == 2 and "`steps` must be an integer; got 1.5 (float)" in out
    result, out = invoke("top", "--config", tmp_path / "inner.yaml", target=nested_app())
    assert result.exit_code == 2 and "the valid keys are: n." in out
