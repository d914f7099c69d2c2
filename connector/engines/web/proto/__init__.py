"""WhatsApp protobufs: `WAProto_pb2` is generated from Baileys' schema by `python -m ...proto.build`."""
