"""The lines a training log is read by: one compiled pattern per kind of line or fact, in the wordings the records
print them (evaluator.records.logs applies them, in its order)."""
from __future__ import annotations

import re

# the longest line in the real records is 1,505 characters; past this a line is not interpreted, which also
# keeps the regexes (some backtrack over runs of spaces) linear in the log's size
MAX_LINE = 8192
# a unix-time or ISO timestamp some launchers put before every line; the line is read without it
TIME_PREFIX = re.compile(r"^(?:\[?\d{9,10}(?:\.\d+)?\]?|\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?\]?)\s+")

STEP_LINE = re.compile(r"^(?:step:|Step |step )?(\d+)/(\d+):?\s+(\S.*)$")
KEY_VALUE = re.compile(r"([A-Za-z_][\w/]*)[:=]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(ms|m|s)?(?![\w.])")
FINAL_METRIC = re.compile(
    r"^(?P<label>[A-Za-z][^\n]*?)\s+(?:val_loss[:=]\s*(?P<loss>-?\d+(?:\.\d+)?)\s+)?"
    r"val_bpb[:=]\s*(?P<bpb>-?\d+(?:\.\d+)?)(?P<rest>.*)$")
# a free-form score: a label naming BPB as a word (not val_bpb, not running_bpb) up to the line's first `:` or `=`,
# then one number, at most a stride after it; matched in two linear steps (one pattern backtracks quadratically)
LOOSE_LABEL = re.compile(r"^[^\w]*(?P<label>[A-Za-z][\w \-./()]*)$")
LOOSE_VALUE = re.compile(r"\s*(?P<bpb>\d+\.\d+)(?P<rest>[^\d]*(?:\bstride[=:]\s*\d+[^\d]*)?)$")
BPB_WORD = re.compile(r"\bbpb\b", re.IGNORECASE)
LABEL_NOISE = re.compile(r"\s+\w+[:=]\S+")
STOP = re.compile(r"^stopping_early:\s*(\S+)\s+train_time:\s*(\d+(?:\.\d+)?)ms\s+step:\s*(\d+)/(\d+)")
CODE_SIZE = re.compile(r"^Code size(?: \((uncompressed|compressed)\))?:\s*(\d+) bytes")
LAUNCHER_CODE = re.compile(r"^(?:Uploading \S+ \((\d+) bytes\)|\[modal\] Script size: (\d+) bytes)")
SERIALIZED = re.compile(r"^Serialized model(?: ([^:]+?))?:\s*(\d+) bytes")
TOTAL = re.compile(r"^Total submission size(?: ([^:]+?))?:\s*(\d+) bytes")
PIPED_SIZES = re.compile(r"^(?P<format>[\w+\-.]+) model:\s*(?P<model>\d+) bytes\s*\|\s*Total submission(?: size)?:\s*"
                          r"(?P<total>\d+) bytes")
BUDGET = re.compile(r"^budget:(\d+)/(\d+)")
ARTIFACT_CODE = re.compile(r"^artifact:.*\bcode:(\d+)")
SEED = re.compile(r"^\s*seed:\s*(\d+)\s*$")
COMPACT_PARAMS = re.compile(r"^params:(\d+)\b.*?\bws:(\d+).*?\bs:(\d+)\b")
WORLD_SIZE = re.compile(r"(?:^|\s)world_size:\s*(\d+)\b")
MODEL_PARAMS = re.compile(r"^model_params:\s*(\d+)")
ITERATIONS = re.compile(r"(?:^|\s)iterations:\s*(\d+)\b")
SEQ_LEN = re.compile(r"(?:^|\s)train_seq_len[:=]\s*(\d+)\b")
WALLCLOCK = re.compile(r"(?:^|\s)max_wallclock_seconds:\s*(\d+(?:\.\d+)?)")
TOKENIZER_PATH = re.compile(r"tokenizer_path[=:]\s*(\S+)")
TOKENIZER_KIND = re.compile(r"tokenizer_kind=(\w+)")
VOCAB = re.compile(r"(?:^|\s)vocab_size[=:]\s*(\d+)")
VAL_TOKENS = re.compile(r"^(?:val_tokens:\s*(\d+)|val_loader:.*\btokens:(\d+))")
GPTQ_RESERVE = re.compile(r"^gptq:reserving (\d+(?:\.\d+)?)(ms|s)\b")
TOTAL_EVAL = re.compile(r"^total_eval_time:\s*(\d+(?:\.\d+)?)s")
FILE_SEED = re.compile(r"(?:seed[_-]?|_)(\d{1,18})\.(?:log|txt)$", re.IGNORECASE)
TRAINING_END = re.compile(r"^(?:stopping_early|peak memory)")
# every non-step fact above names one of these words; most lines of a log name none (a quick rejection)
MAYBE_FACT = re.compile(r"seed|params|world_size|iterations|seq_len|wallclock|tokenizer|vocab|val_|gptq|Upload|\[modal\]|"
                         r"bytes|budget|artifact|total_eval")
