"""Which device sent a message, which user it belongs to, and whether it may say what it says.

MQTT tells a subscriber the topic, never who published; the broker's ACL (see
:mod:`pepline_mqtt.acl`) makes sure only a device's own account can publish on its topics.
The adapter enforces the same binding on its side, so that a broker without ACLs, or a
mistake in them, still cannot make one device speak for another user:

* a message is attributed to the one device whose topic filters match its topic; a topic no
  device is bound to (or, a configuration mistake, several) is refused;
* a message that names a device (a ``{device}`` level, a payload id) must name that device;
* a message that names a user (a ``{user}`` level, a payload field) must name its user.

Every refusal raises :class:`~pepline_mqtt.errors.Unauthorized`; the pipeline logs it and
dead-letters the message.
"""

from __future__ import annotations

from collections.abc import Iterable

from pepline_mqtt.config import DeviceBinding
from pepline_mqtt.errors import Unauthorized
from pepline_mqtt.topics import filter_matches
from pepline_shared.errors import InvalidJID
from pepline_shared.jid import bare_jid

__all__ = ["Bindings"]


class Bindings:
    def __init__(self, devices: Iterable[DeviceBinding]) -> None:
        self.devices = tuple(devices)
        self._by_name = {name: d for d in self.devices for name in (d.id, *d.aliases)}

    def for_topic(self, topic: str) -> DeviceBinding:
        """The device bound to ``topic``; :class:`Unauthorized` if none or several are."""
        bound = [d for d in self.devices if any(filter_matches(f, topic) for f in d.topics)]
        if not bound:
            raise Unauthorized(f"topic {topic!r} is not bound to any device")
        if len(bound) > 1:
            # Fail closed: attributing the message to either device could be wrong.
            ids = ", ".join(sorted(d.id for d in bound))
            raise Unauthorized(f"topic {topic!r} is bound to several devices ({ids})")
        return bound[0]

    def by_id(self, name: str) -> DeviceBinding | None:
        """The device with this id or alias (``None``: not one of ours)."""
        return self._by_name.get(name)

    def check_device(self, device: DeviceBinding, claimed: str | None, where: str) -> None:
        """``claimed`` (a device id read from ``where``) must be ``device`` itself."""
        if claimed is None:
            return
        if claimed != device.id and claimed not in device.aliases:
            raise Unauthorized(
                f"message names device {claimed!r} but its topic is bound to {device.id!r}",
                field=where,
            )

    def check_user(self, device: DeviceBinding, claimed: str | None, where: str) -> None:
        """``claimed`` (a user name read from ``where``) must name the device's user."""
        if claimed is None:
            return
        if claimed in device.user_names:
            return
        try:
            if bare_jid(claimed) == device.user:
                return
        except InvalidJID:
            pass
        raise Unauthorized(
            f"message claims user {claimed!r} but device {device.id!r} belongs to {device.user!r}",
            field=where,
        )
