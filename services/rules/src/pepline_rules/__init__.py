"""pepline rules service: Declarative per-user rules that derive XEP-0108 activity and XEP-0107
mood.
"""
