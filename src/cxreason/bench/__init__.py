"""cxreason.bench"""
