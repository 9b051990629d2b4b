"""metanas.strategies"""
