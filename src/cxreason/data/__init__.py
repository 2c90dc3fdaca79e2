"""cxreason.data"""
