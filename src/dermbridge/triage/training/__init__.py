"""Training pipeline for the triage model (needs the ``train`` extra: torch and friends).

Nothing in the web process imports this package; runtime inference uses onnxruntime only.
"""
