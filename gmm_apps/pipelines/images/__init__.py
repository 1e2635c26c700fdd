"""Image colour segmentation: photos into colour regions with label maps, overlays and palettes."""

from .pipeline import ImagesPipeline

__all__ = ["ImagesPipeline"]
