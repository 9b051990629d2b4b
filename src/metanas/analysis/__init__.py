"""metanas.analysis"""
