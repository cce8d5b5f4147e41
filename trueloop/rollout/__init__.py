"""trueloop.rollout"""
