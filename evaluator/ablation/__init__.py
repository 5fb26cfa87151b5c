"""Ablations: a TOML file of arms, the runner that trains and evaluates them, and their comparison."""
