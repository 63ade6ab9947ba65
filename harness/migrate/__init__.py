"""`harness migrate`: routes that turn an artifact that breaks on an upgrade into one the target
loads natively, each proven by ordinary cells (harness.plan.presaved) against the original's
reference from the producer's environment."""
