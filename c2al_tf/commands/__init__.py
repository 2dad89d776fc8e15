"""Subcommands of ``c2al``: each module has ``register(subparsers)``."""
from c2al_tf.commands import demo, evaluate, generate, inspect, train

ALL = [generate, inspect, train, evaluate, demo]
