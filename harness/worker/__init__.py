"""Code that runs ON a training host: the training entry point, its event log, host facts."""
