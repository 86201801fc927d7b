"""12-factor configuration: every service reads its settings from ``PEPLINE_*`` variables.

The same variable names are used by the local stack, docker-compose and the k8s manifests.
Each service subclasses :class:`ServiceSettings` and adds its own fields.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KafkaSettings", "ServiceSettings", "Topics"]


class Topics(BaseSettings):
    """Kafka topic names, shared by every service so producers and consumers agree."""

    model_config = SettingsConfigDict(env_prefix="PEPLINE_TOPIC_", extra="ignore")

    raw: str = Field("pepline.events.raw", description="adapters' normalized events")
    publish: str = Field("pepline.events.publish", description="events ready for PEP")
    dlq: str = Field("pepline.dlq", description="dead-letter records with a reason")
    rules_state: str = Field("pepline.rules.state", description="compacted rule-engine state")
    fusion_state: str = Field("pepline.fusion.state", description="compacted fusion state")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PEPLINE_KAFKA_", extra="ignore")

    bootstrap: str = Field("127.0.0.1:19092", description="bootstrap servers, comma-separated")
    client_id: str = "pepline"


class ServiceSettings(BaseSettings):
    """Settings every service has: logging, probes/metrics port, Kafka and topics."""

    model_config = SettingsConfigDict(env_prefix="PEPLINE_", extra="ignore")

    log_level: str = "INFO"
    http_host: str = Field("0.0.0.0", description="health/readiness/metrics listener")  # noqa: S104
    http_port: int = Field(8080, ge=0, le=65535)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: Topics = Field(default_factory=Topics)
