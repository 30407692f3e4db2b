"""Which models a user may use right now, and with what limits."""

from __future__ import annotations

from services.catalog import Catalog, Model, Plan
from services.money.subscriptions import SubscriptionService


class AccessService:
    """A model is open if it is free or in any plan active for the user right now."""

    def __init__(self, catalog: Catalog, subscriptions: SubscriptionService) -> None:
        self._catalog = catalog
        self._subscriptions = subscriptions

    def active_plans(self, user_id: int) -> list[Plan]:
        return [active.plan for active in self._subscriptions.active_plans(user_id)]

    def open_model_keys(self, user_id: int) -> set[str]:
        keys = {model.key for model in self._catalog.models if model.free}
        for plan in self.active_plans(user_id):
            keys.update(plan.models)
        return keys

    def can_use(self, user_id: int, model: Model) -> bool:
        return model.free or model.key in self.open_model_keys(user_id)

    def input_limit(self, user_id: int, model: Model) -> int | None:
        """The request length limit in characters, or None; any active plan lifts it."""
        if model.free and not self.active_plans(user_id):
            return model.free_input_limit
        return None
