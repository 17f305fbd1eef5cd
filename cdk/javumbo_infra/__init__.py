"""Javumbo's AWS infrastructure as CDK constructs (the app itself is ../app.py)."""
