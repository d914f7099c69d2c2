"""Evolution API v2 compatibility: Evolution's routes, bodies and errors, thin over wagate's services.

A CRM built on Evolution API (https://github.com/EvolutionAPI/evolution-api) switches to wagate by
changing its base URL: `{wagate}/evolution` (AWS and `wagate serve`), or `/` on a port of its own with
`wagate serve --evolution-port` for clients that cannot add a path. Nothing here stores or sends on its
own: an Evolution instance IS a wagate session of the caller's tenant (its name is the session's name),
and every call goes to the same services /v1 uses.

    resolver.py     the Powertools resolver: path rewrite, Evolution's error shape, route registration
    errors.py       Evolution's error body `{"status", "error", "response": {"message"}}` and status codes
    access.py       the `apikey` header: a tenant admin key is Evolution's global key, an instance token
                    is a key scoped to that instance's session; instance names -> sessions
    shapes.py       wagate message <-> Evolution's message record (findMessages, MESSAGES_UPSERT webhooks)
    send_dtos.py    Evolution's send bodies read as its JSON schemas do, into wagate send requests
    instances.py    a session as Evolution shows an instance: state, QR object, Instance row, token, name
    webhooks.py     an instance's webhook: one wagate CRM webhook limited to its session
    events.py       wagate's events as Evolution's webhook bodies (the formatter compose.py gives the
                    webhook service); what is kept per instance: store/evolution.py
    routes/         one module per Evolution router (instance, webhook, message, chat, group); each
                    registers itself in routes/__init__.py's ROUTERS
"""

# Where the template mounts this surface (template.yaml's EvolutionFunction routes). The handler routes on
# what follows it, so `wagate serve` can also serve it under another prefix or at `/` on its own port.
ROUTE_PREFIX = "/evolution"
