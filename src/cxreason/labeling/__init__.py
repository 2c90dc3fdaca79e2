"""cxreason.labeling"""
