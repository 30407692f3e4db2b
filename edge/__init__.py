"""The Telegram edge, between the routers and the services: what talks to Telegram
without being a router (the streaming presenter, keyboards and callback data, FSM
states, filters, middlewares, message editing, shared renderers, long admin messages)."""
