"""Where notifications go: the Apprise services runner.yaml configures (services.py) and
sending one message to them, every delivery kept as a row (deliver.py)."""
