"""relay's HTTP side: the app factory, the server, health, the delivery log page."""
