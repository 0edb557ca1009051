"""`llmops --help` lists every command with a whole sentence, not a phrase cut at 45 characters."""

from click.testing import CliRunner

from llmops.entrypoints.cli.main import _commands, cli


def test_every_command_has_a_whole_sentence_summary():
    paths = []
    for path, command in _commands(cli):
        summary = command.get_short_help_str()
        assert summary.endswith("."), (path, summary)
        assert "..." not in summary, (path, summary)
        assert len(summary) <= 64, (path, summary)
        paths.append(path)
    assert {"ingest", "search", "ask", "ui", "prompts list", "keys revoke"} <= set(paths)


def test_help_lists_the_summaries_uncut():
    shown = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    commands = shown.split("Commands:")[1]
    assert "Find the passages nearest in meaning to a text." in commands
    assert "..." not in commands
