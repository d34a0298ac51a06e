"""Stream processors: drift and concept-drift signals, champion/challenger promotion signals, alerting."""
