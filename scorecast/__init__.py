"""scorecast: event-driven streaming inference on Kafka, ONNX and Cassandra."""

from scorecast.settings import Settings

__all__ = ["Settings"]
__version__ = "0.1.0"
