"""Open-vocabulary detectors behind the Detector interface (models.types); built through models.registry."""
