"""metanas.execution"""
