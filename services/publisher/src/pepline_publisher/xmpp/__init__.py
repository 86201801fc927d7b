"""Where events become PEP publishes: one interface, the two authorization routes, a fake."""

from pepline_publisher.xmpp.base import PepSink, Publication, PublishError

__all__ = ["PepSink", "Publication", "PublishError"]
