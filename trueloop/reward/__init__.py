"""trueloop.reward"""
