"""The chat platforms, one folder each, declared in registry.py; base.py is what they share
(the sink interface), render.py what every card shows."""
