"""metanas.meta"""
