"""The evaluator as the web app sees it: the one door from webapp/ into the evaluator (with crawler.contract for
the shared names). What the app asks: the records under its roots (catalog), the arms it compares (arms, corpus),
an upload checked before it is kept (uploads), an evaluation job run and reported in typed messages (evaluation,
jobs), a record's loop-wise files (loop_files); and the typed reports and reading helpers its pages render.
`tests/test_architecture.py` holds the web app to importing nothing else from crawler/ or evaluator/.

Nothing here imports torch, numpy or matplotlib at import time: the web process starts without them.
"""
from crawler.errors import PgolfError, first_line
from evaluator import units
from evaluator.ablation.compare import ArmSeeds, SettingDiff, arm_stats, compare_arms
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.runner import RunResult
from evaluator.artifacts.eval_report import AuditReport, EvalReport, PassScore, SizeReport
from evaluator.check import ComplianceReport, RuleResult, compliance_report
from evaluator.check.findings import Evidence, Status, worst
from evaluator.csv_table import csv_table
from evaluator.loops.report import ExitRow, LoopsReport
from evaluator.records import safe_json
from evaluator.records.compare import RecordComparison
from evaluator.records.files import JSON_LIMIT, LOG_LIMIT, RecordFileError, list_files, read_capped
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.metric_kinds import KIND_ORDER, KIND_WORDS
from evaluator.records.record import Record, read_readme
from evaluator.records.seeds import SeedTable, seed_row
from evaluator.service.arms import all_arms, load_ablations
from evaluator.service import catalog
from evaluator.service.catalog import CatalogEntry, RecordCatalog, record_entry
from evaluator.service.corpus import CHALLENGE_TRACKS, FINEWEB, arm_corpus, corpus_warning, record_corpus
from evaluator.service import evaluation
from evaluator.service.evaluation import LOOPS_PASSES, failure, one_line, run_evaluation
from evaluator.service.jobs import (LOADING_STAGE, LOOPS_STAGE, DoneMessage, EvaluationRequest, FailedMessage,
                                   JobResult, LoopsResult, PlanMessage, ProgressMessage, decode_message,
                                   encode_message)
from evaluator.service.loop_files import (LOOPS_DIR, PLOTS, RecordLoopsError, has_record_loops, record_loops_report,
                                          record_plot, record_plots)
from evaluator.service.uploads import UploadedFile, UploadLimits, UploadRefused, check_upload, config_options
