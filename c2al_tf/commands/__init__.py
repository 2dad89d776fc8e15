"""Subcommands of ``c2al``: each module has ``register(subparsers)``."""
from c2al_tf.commands import demo, evaluate, experiment, generate, inspect, mine, pipeline_cmd, train

ALL = [generate, inspect, mine, train, evaluate, experiment, pipeline_cmd, demo]
