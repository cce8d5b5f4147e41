"""trueloop.audit"""
