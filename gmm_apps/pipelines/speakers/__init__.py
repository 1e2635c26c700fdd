"""Speaker identification and verification with a UBM and MAP-adapted GMMs."""

from .pipeline import SpeakersPipeline

__all__ = ["SpeakersPipeline"]
