"""One module per rule of the pre-PR check. Each defines

    RULE = Rule(id, title, order, reading)   # order: the row's place; reading: the rule as the README is read
    def check(ctx: Context) -> RuleResult    # RULE.findings() collects statuses and evidence; .result(summary)

and is found by evaluator.check.compliance without being listed anywhere else.
"""
