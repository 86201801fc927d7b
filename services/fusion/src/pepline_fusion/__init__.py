"""pepline fusion service: Picks one current location per user from many sources and applies the
user's privacy policy.
"""
