import typer

from cxreason import cli


def test_version_and_help(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip()
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("label", "bench", "score", "train", "model", "predict", "serve", "demo"):
        assert cmd in out


def test_exit_code_of_a_failing_command_is_returned(monkeypatch):
    app = typer.Typer()

    @app.command()
    def fail() -> None:
        raise typer.Exit(3)

    @app.command()
    def ok() -> None:
        pass

    monkeypatch.setattr(cli, "app", app)
    assert cli.main(["fail"]) == 3
    assert cli.main(["ok"]) == 0


def test_unknown_command_is_a_usage_error():
    assert cli.main(["no-such-command"]) == 2


def _commands(group, path=()):
    """(path, click command) for every command of the CLI tree (typer vendors click: groups
    are recognised by their ``commands``)."""
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_every_option_and_argument_has_help_and_arguments_are_upper_case():
    """CLI hygiene (issue 17): a user reading --help never meets an unexplained option."""
    root = typer.main.get_command(cli.app)
    missing, lower = [], []
    for path, cmd in _commands(root):
        for p in cmd.params:
            if p.name == "help":
                continue
            if not getattr(p, "help", None):
                missing.append(f"{' '.join(path)} {p.opts[0]}")
            if p.param_type_name == "argument" and (
                not p.metavar or p.metavar != p.metavar.upper()
            ):
                lower.append(f"{' '.join(path)} {p.name}")
    assert len(list(_commands(root))) >= 10
    assert not missing, f"options without help text: {missing}"
    assert not lower, f"arguments without an upper-case metavar: {lower}"


def test_label_help_shows_the_readme_form(capsys):
    assert cli.main(["label", "--help"]) == 0
    out = capsys.readouterr().out
    assert "INPUT --out LABELS.jsonl" in out and "eval CSV" in out
