"""scorecast: event-driven streaming inference on Kafka, ONNX and Cassandra."""

from typing import TYPE_CHECKING

from scorecast.settings import Settings

if TYPE_CHECKING:
    from scorecast.producer import DeliveryError, EventProducer, LabelProducer

__all__ = ["DeliveryError", "EventProducer", "LabelProducer", "Settings"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The producer SDK imports the schemas package, whose errors import scorecast.errors: loading it on first
    # use keeps `import schemas...` free of an import cycle through this file.
    if name in ("DeliveryError", "EventProducer", "LabelProducer"):
        from scorecast import producer

        return getattr(producer, name)
    raise AttributeError(f"module 'scorecast' has no attribute {name!r}")
