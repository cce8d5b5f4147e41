"""trueloop.verify"""
