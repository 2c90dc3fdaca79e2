"""cxreason.metrics"""
