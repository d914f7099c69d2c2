"""The local runner: template.yaml's unchanged Lambda handlers behind local gateways, timers and queues."""
