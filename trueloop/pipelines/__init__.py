"""Orchestrators: the pipelines that chain library stages (prior pretraining, rescoring,
the demos, the audit pipeline). Nothing in a library stage imports from here."""
