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
