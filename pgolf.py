"""The `pgolf` command: every subcommand of the toolkit under one Typer app."""
import typer

from crawler.cli import register as register_crawler

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Micro Crawler toolkit for the OpenAI Parameter Golf challenge.")
register_crawler(app)


@app.callback()
def main() -> None:
    """Micro Crawler toolkit for the OpenAI Parameter Golf challenge."""

if __name__ == "__main__":
    app()
