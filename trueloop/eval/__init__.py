"""trueloop.eval"""
