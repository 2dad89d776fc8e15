"""Subcommands of ``c2al``: each module has ``register(subparsers)``."""
from c2al_tf.commands import demo, generate, inspect

ALL = [generate, inspect, demo]
