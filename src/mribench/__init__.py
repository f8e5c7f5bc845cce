"""mribench: which pretrained CNN and transfer-learning strategy is best for brain-tumour MRI,
and at what cost."""

__version__ = "0.1.0"
