"""relay's configuration, at the bottom of the code: the settings (settings.py), their config
file source (file.py), the destination types they parse (destinations.py) and the collection of
their secrets (secrets.py). It imports nothing else of relay but relay.errors, so any layer may
read settings without loading platforms, the store or the web app."""

from relay.config.settings import DEFAULT_DESTINATION, Settings, load_settings
from relay.errors import ConfigError

__all__ = ["DEFAULT_DESTINATION", "ConfigError", "Settings", "load_settings"]
