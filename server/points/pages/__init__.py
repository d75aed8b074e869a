"""Request handlers of the points console, one module per screen."""
