"""The phone as a Signal device inside the edge: it decrypts what senders fan out to device 0, and sends.

Every account's device 0 is always reachable (a phone is online): the relay hands it each stanza meant
for it, and it decrypts with our own Signal library over its private keys from the edge state. What it
read is in `received` (the Message protobuf, DeviceSentMessage wrappers kept), what it could not (or a
text without the 32-byte message secret WhatsApp Web always adds) in `errors`, so tests can check a
sender's fan-out to phones (its own phone gets a DeviceSentMessage). It sends too: a history sync
notification to a companion, as the phone does after linking (history.py).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.errors import ProtocolError, WebEngineError
from connector.engines.web.protos import parse, serialize, wa
from connector.engines.web.signal import PreKeyBundle, SignalAddress, SignalRepository, pad, unpad
from tests.fakes.whatsapp_edge.state import Account, Device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhoneMessage:
    id: str
    sender: Jid  # the sending device (phone-number form)
    chat: Jid  # the 1:1 chat or group it was sent to
    message: wa.Message


class PhoneEndpoint:
    def __init__(self, account: Account) -> None:
        assert account.phone_keys is not None
        keys = {(KeyNamespace.PRE_KEY.value, str(k)): v for k, v in account.phone_keys.pre_keys.items()}
        self.account = account
        self.keys = InMemoryKeyStore("phone", account.phone, backing={("phone", account.phone): keys})
        self.signal = SignalRepository(self.keys, account.phone_keys.creds)
        self.received: list[PhoneMessage] = []
        self.errors: list[str] = []
        self._ids = itertools.count(1)

    async def receive(self, sender: Device, chat: Jid, node: Node) -> None:
        """Decrypt a message stanza meant for this phone (the relay knows who sent it)."""
        address = SignalAddress.from_jid(sender.lid)  # one session per device, whatever form it wrote
        message_id = node.str_attr("id") or ""
        merged = wa.Message()
        for enc in node.findall("enc"):
            data = enc.content_bytes() or b""
            try:
                if enc.str_attr("type") == "skmsg":
                    plaintext = await self.signal.group_decrypt(chat, address, data)
                else:
                    plaintext = (
                        await self.signal.decrypt(address, enc.str_attr("type") or "", data)
                    ).plaintext
                message = parse(wa.Message, unpad(plaintext), "message")
                distribution = message.senderKeyDistributionMessage
                if message.HasField("senderKeyDistributionMessage"):
                    payload = distribution.axolotlSenderKeyDistributionMessage
                    await self.signal.group_process_distribution(distribution.groupId, address, payload)
                merged.MergeFrom(message)
            except (WebEngineError, ProtocolError) as exc:
                self.errors.append(f"{message_id} from {sender.jid}: {exc.message}")
                log.warning("phone %s cannot decrypt %s: %s", self.account.phone, message_id, exc)
                return
        inner = merged.deviceSentMessage.message if merged.HasField("deviceSentMessage") else merged
        ordinary = inner.HasField("conversation") or inner.HasField("extendedTextMessage")
        if ordinary and len(inner.messageContextInfo.messageSecret) != 32:
            # WhatsApp Web adds a 32-byte message secret to ordinary messages (reactions, edits, votes and
            # reports of them are keyed on it); a client that leaves it out is not one WhatsApp expects
            self.errors.append(f"{message_id} from {sender.jid}: no 32-byte messageContextInfo.messageSecret")
        self.received.append(PhoneMessage(message_id, sender.jid, chat, merged))

    async def encrypt_for(self, device: Device, bundle: PreKeyBundle, message: wa.Message) -> Node:
        """A `<message>` from this phone to one of its companions, encrypted (a new session each time)."""
        address = SignalAddress.from_jid(device.lid)
        await self.signal.inject_bundle(address, bundle)
        encrypted = await self.signal.encrypt(address, pad(serialize(message)))
        attrs: dict[str, AttrValue] = {
            "from": self.account.pn,
            "id": f"3A{self.account.phone[-4:]}{next(self._ids):012X}",
            "t": str(int(time.time())),
            "type": "text",
            "category": "peer",
        }
        enc = Node("enc", {"v": "2", "type": encrypted.type}, encrypted.ciphertext)
        return Node("message", attrs, [enc])
