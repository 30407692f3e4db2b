"""Which models a user may use right now, and with what limits."""

from __future__ import annotations

from services.catalog import Catalog, Model, Plan


class AccessService:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def active_plans(self, user_id: int) -> list[Plan]:
        """Plans active for the user now (subscriptions come in a later module)."""
        return []

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
