"""metanas.evaluation"""
