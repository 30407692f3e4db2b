"""The Telegram edge, between the routers and the services: what talks to Telegram
without being a router (answering and the streaming presenter, keyboards and callback
data, FSM states, filters, middlewares, message editing, shared renderers, the notifier,
the Stars gateway, the outbox worker and the broadcast runner). Routers and runtime/
import it; it imports neither."""
