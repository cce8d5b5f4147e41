"""trueloop.report"""
