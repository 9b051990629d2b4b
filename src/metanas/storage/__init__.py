"""metanas.storage"""
