"""Customer segmentation from a transaction log."""

from .pipeline import CustomersPipeline

__all__ = ["CustomersPipeline"]
