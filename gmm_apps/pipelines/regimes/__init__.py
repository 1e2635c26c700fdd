"""Market regimes: dated regime labels with filtered and smoothed probabilities."""

from .pipeline import RegimesPipeline

__all__ = ["RegimesPipeline"]
