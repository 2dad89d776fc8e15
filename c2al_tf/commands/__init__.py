"""Subcommands of ``c2al``: each module has ``register(subparsers)``; ``c2al_tf.cli`` lists them.

The package imports none of them, so ``python -m c2al_tf.commands.pipeline_cmd`` (a local
pipeline run's child process) starts without a second copy of that module."""
