"""Layer 7: documented studies over normal runs (the length study, the HAN study) and their reports.

A study trains ordinary run folders through :func:`attnkit.training.pipeline.train_run`, scores
them through their tasks, and writes a report; it never has a training loop of its own.
"""
