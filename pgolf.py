"""The `pgolf` command: every subcommand of the toolkit under one Typer app."""
import typer

from crawler.prep.cli import register as register_prepare
from crawler.train_cli import register as register_train
from evaluator.ablation.cli import register as register_ablate
from evaluator.artifacts.cli import register as register_eval
from evaluator.check.cli import register as register_check
from evaluator.demo import register as register_demo
from evaluator.loopwise.cli import register as register_loops
from evaluator.record_cli import register as register_record
from evaluator.records.cli import register as register_records
from webapp.cli import register as register_webapp

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Micro Crawler toolkit for the OpenAI Parameter Golf challenge.")
register_prepare(app)
register_train(app)
register_eval(app)
register_check(app)
register_records(app)
register_record(app)
register_demo(app)
register_loops(app)
register_ablate(app)
register_webapp(app)


@app.callback()
def main() -> None:
    """Micro Crawler toolkit for the OpenAI Parameter Golf challenge."""

if __name__ == "__main__":
    app()
