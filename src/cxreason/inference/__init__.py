"""cxreason.inference"""
