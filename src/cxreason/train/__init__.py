"""cxreason.train"""
