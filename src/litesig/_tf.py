"""The one place TensorFlow is imported, lazily, with its start-up noise turned down."""

from __future__ import annotations

import os
from typing import Any

from .errors import MissingDependency


def import_tf(needed_for: str = "litesig convert") -> Any:
    """Import and return the tensorflow module, or raise MissingDependency naming the extra."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable float32 reference results
    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependency("tensorflow", "convert", needed_for) from None
    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras(needed_for: str = "litesig convert") -> Any:
    import_tf(needed_for)
    try:
        import keras
    except ImportError:
        raise MissingDependency("keras", "convert", needed_for) from None
    return keras
