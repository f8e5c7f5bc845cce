"""mribench: which pretrained CNN and transfer-learning strategy is best for brain-tumour MRI,
and at what cost."""

__version__ = "0.1.0"

NOTICE = "mribench is a research tool, not a medical device: do not use its predictions for diagnosis."
