"""trueloop.policy"""
