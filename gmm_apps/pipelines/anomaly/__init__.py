"""Anomaly detection: learn normal from reference records, score and explain new ones."""

from .pipeline import AnomalyPipeline

__all__ = ["AnomalyPipeline"]
