"""trueloop.integrations"""
