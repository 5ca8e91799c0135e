"""Every Redis key of evolution-manager, named here and nowhere else.

Redis Cluster runs a script or a MULTI/EXEC only when all its keys hash to one slot. The one key a script or
transaction of this service touches is an instance's hash, tagged with the instance name, so instances spread
over the shards. The indexes span instances: each is a key of its own (its own slot), written and read in
separate commands, never inside a script or a transaction::

    wb:svc:evolution-manager:{<name>}:instance        hash: the instance (registry.py)
    wb:svc:evolution-manager:instances                set: every name
    wb:svc:evolution-manager:company:<company_id>     set: the names of one company
    wb:svc:evolution-manager:instance-id:<ins_…>      string: the name of an ``ins_`` id
    wb:svc:evolution-manager:reply:<correlation_id>:<index>   string: one reply element's outcome (deliveries.py)
    wb:svc:evolution-manager:outcomes:unknown                 hash: unknown outcomes awaiting an operator
    wb:svc:evolution-manager:sent:<ins_…>:h<hour>             set: WhatsApp ids sent that hour (echoes.py)
    wb:svc:evolution-manager:sending:<ins_…>:<sha256>         string: a text being sent to a chat (echoes.py)
"""

from __future__ import annotations

from dataclasses import dataclass

from eventbus import Keys

from evolution_manager import SERVICE


@dataclass(frozen=True)
class ServiceKeys:
    bus: Keys

    def _key(self, *parts: str) -> str:
        return self.bus.service(SERVICE, *parts)

    def instance(self, name: str) -> str:
        """The instance's hash: the key of the status scripts and of the registration's WATCH/MULTI. Names
        that may be registered start with a letter or digit and hold no brace (``NAME_PATTERN``), so the tag
        is the whole name; a name from a webhook that is not registered only ever meets a single-key read."""
        return self._key(f"{{{name}}}", "instance")

    def all_instances(self) -> str:
        return self._key("instances")

    def company(self, company_id: str) -> str:
        return self._key("company", company_id)

    def instance_id(self, instance_id: str) -> str:
        return self._key("instance-id", instance_id)

    def reply(self, correlation_id: str, index: int) -> str:
        return self.reply_record(f"{correlation_id}:{index}")

    def reply_record(self, element: str) -> str:
        """``element`` is ``<correlation_id>:<index>`` (deliveries.element)."""
        return self._key("reply", element)

    def unknown_outcomes(self) -> str:
        return self._key("outcomes", "unknown")

    def sent_messages(self, instance_id: str, hour: int) -> str:
        """The ids sent in ``hour`` (hours since the epoch, UTC)."""
        return self._key("sent", instance_id, f"h{hour}")

    def sending(self, instance_id: str, digest: str) -> str:
        return self._key("sending", instance_id, digest)
