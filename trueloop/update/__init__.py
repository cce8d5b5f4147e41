"""trueloop.update"""
