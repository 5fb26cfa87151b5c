"""The evaluator as the web app sees it: the one door from webapp/ into the evaluator (with crawler.contract for
the shared names). What the app asks is built in evaluator/serving/: the records under its roots (catalog), the arms
it compares (arms, corpus), an upload checked before it is kept (upload_checks), an evaluation job run and reported
in typed messages (evaluation, job_protocol), a record's loop-wise files (loop_files); with them come the typed reports and
reading helpers its pages render. tests/webapp/test_webapp_imports.py holds the web app to importing nothing else
from crawler/ or evaluator/.

Nothing here imports torch, numpy or matplotlib at import time: the web process starts without them.
"""
from crawler.errors import PgolfError, first_line
from evaluator import units
from evaluator.ablation.arm_comparison import ArmSeeds, ArmStats, arm_stats, compare_arms
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.runner import RunResult
from evaluator.artifacts.eval_report import EvalReport
from evaluator.check.compliance import ComplianceReport, compliance_report
from evaluator.check.findings import Evidence, RuleResult, Status, worst
from evaluator.csv_table import csv_table
from evaluator.loopwise.loops_report import ExitRow, LoopsReport
from evaluator.loopwise.output_files import PLOTS
from evaluator.records.comparison import RecordComparison
from evaluator.records.logs import parse_log
from evaluator.records.metric_kinds import KIND_ORDER, KIND_WORDS
from evaluator.records.record import Record, read_readme
from evaluator.records.seeds import SeedTable, seed_row
from evaluator.records.train_log import TrainLog
from evaluator.records.untrusted_files import RecordFileError, list_files, read_capped
from evaluator.serving.arms import all_arms, load_ablations
from evaluator.serving.catalog import CatalogEntry, RecordCatalog
from evaluator.serving.corpus import CHALLENGE_TRACKS, FINEWEB, arm_corpus, corpus_warning, record_corpus
from evaluator.serving.evaluation import LOOPS_PASSES, failure, one_line, run_evaluation
from evaluator.serving.job_protocol import (LOADING_STAGE, LOOPS_STAGE, DoneMessage, EvaluationRequest,
                                            FailedMessage, JobResult, LoopsResult, PlanMessage, ProgressMessage,
                                            decode_message, encode_message)
from evaluator.serving.loop_files import (LOOPS_JSON, RecordLoopsError, has_record_loops, record_loops_report,
                                          record_plot, record_plots)
from evaluator.serving.upload_checks import UploadedFile, UploadLimits, UploadRefused, check_upload, config_options
