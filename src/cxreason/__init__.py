"""cxreason: reasoning vision-language models for chest X-rays."""

__version__ = "0.1.0"
