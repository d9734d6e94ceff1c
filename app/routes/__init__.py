"""One module per concern: predictions, health, model information."""
