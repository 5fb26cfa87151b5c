"""Pre-PR compliance report for a record folder: one row per rule, PASS / WARN / FAIL (SKIP where a rule does not
apply), each with its evidence (file:line and the numbers) and the reading of the rule.

Rules follow the challenge README ("Submission Process" and the FAQ): required files; code bytes + compressed model
bytes <= 16,000,000 (decimal); training and evaluation each <= 600 s on 8xH100; enough seeds; a 0.005-nat
improvement at p < 0.01 over a baseline; and every claim in submission.json backed by the logs and the files.
FAIL means the evidence contradicts a rule; WARN means it cannot be confirmed from what the folder holds, or only
under one reading. Each rule is one module in rules/ (see its docstring for how to add one); findings.py is the
collector they share, compliance.py runs them (compliance_report).

This package imports nothing here: importing one of its modules runs this file first, so a re-export would import
the package's modules back into each other.
"""
