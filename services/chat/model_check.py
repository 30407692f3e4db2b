"""Models that exist: each provider's `GET /models` says which catalog models it still
serves; the others are shown as unavailable, admins are told once, and users on them are
moved to another model of the same plan (or the free default) when they next write.

No Telegram types here: `runtime/model_check.py` runs the check daily and
`handlers/model_moves.py` tells a moved user.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from services.catalog import Catalog, Model
from services.chat.llm import LLMGateway, ProviderError, normalize_id
from services.limits.access import AccessService
from services.models import Conversations, UserRecord
from services.operator.alerts import AlertService
from services.storage.base import DamagedRecordError, Storage

logger = logging.getLogger(__name__)

STATE = "model_check"  # the state marker's name (DATA_DIR/model_check.json)


class UserSettings(Protocol):
    """What the check needs of UsersService."""

    async def get(self, user_id: int) -> UserRecord | None: ...

    async def set_model(self, user: UserRecord, model_key: str) -> None: ...


class ConversationModels(Protocol):
    """What the check needs of ConversationService: the current conversation's model."""

    async def all(self, owner: int) -> Conversations: ...

    async def set_current_model(self, owner: int, model_key: str) -> None: ...


@dataclass(slots=True, frozen=True)
class Move:
    """A user was moved off a model its provider no longer serves."""

    old: Model
    new: Model
    provider: str  # the provider's display name


@dataclass(slots=True)
class CheckReport:
    """One round: what each provider answered and what changed."""

    listed: dict[str, int] = field(default_factory=dict)  # provider -> ids listed
    skipped: dict[str, str] = field(default_factory=dict)  # provider -> why not counted
    kept: list[str] = field(default_factory=list)  # unreachable: the previous answer stays
    gone: list[Model] = field(default_factory=list)  # newly not served
    back: list[Model] = field(default_factory=list)  # served again


class ModelCheck:
    """Which catalog models their providers still list; who is moved where."""

    def __init__(
        self,
        catalog: Catalog,
        llm: LLMGateway,
        access: AccessService,
        alerts: AlertService,
        storage: Storage | None = None,
    ) -> None:
        self._catalog = catalog
        self._llm = llm
        self._access = access
        self._alerts = alerts
        self._storage = storage  # where the last answer is kept (None: not kept)
        # model key -> the model_id its provider did not list (persisted: admins are told
        # once per model and id, also across restarts; unreachable providers keep it)
        self._missing: dict[str, str] = {}
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def missing(self) -> Mapping[str, str]:
        return self._missing

    # State ---------------------------------------------------------------------------------
    async def load(self) -> None:
        """The last known answer (for providers unreachable at start-up)."""
        if self._storage is None:
            return
        try:
            state = await self._storage.load_state(STATE)
        except (OSError, DamagedRecordError) as error:  # a hint only: start afresh
            logger.warning("Model check state unreadable (%s); ignored", error)
            return
        if state is None:
            return
        missing = state.get("missing")
        if isinstance(missing, dict):
            self._missing = {
                key: model_id
                for key, model_id in missing.items()
                if (model := self._catalog.model(key)) is not None and model.model_id == model_id
            }
        self._apply()

    async def _save(self) -> None:
        if self._storage is None:
            return
        state = {"missing": dict(self._missing), "checked_at": time.time()}
        try:
            await self._storage.save_state(STATE, state)
        except OSError as error:  # only the "told once" marker is lost
            logger.warning("Model check state not saved: %s", error)

    def _apply(self) -> None:
        configured = set(self._llm.configured)
        self._llm.set_not_served(
            {
                key: model.provider
                for key in self._missing
                if (model := self._catalog.model(key)) is not None and model.provider in configured
            }
        )

    # The check -----------------------------------------------------------------------------
    async def run_once(self) -> CheckReport:
        """Ask every configured provider for its model list and update what is served."""
        providers = self._llm.configured
        answers = await asyncio.gather(*(self._listing(name) for name in providers))
        report = CheckReport()
        before = dict(self._missing)
        missing = {
            key: model_id
            for key, model_id in before.items()
            if (model := self._catalog.model(key)) is not None and model.provider in providers
        }
        for provider, answer in zip(providers, answers, strict=True):
            models = [model for model in self._catalog.models if model.provider == provider]
            if isinstance(answer, ProviderError):
                if answer.kind in ("unreachable", "proxy_unreachable"):  # the last answer stays
                    report.kept.append(provider)
                else:  # no list (404, 405, an error): not held against its models
                    for model in models:
                        missing.pop(model.key, None)
                report.skipped[provider] = f"{answer.kind}: {answer}"
                continue
            report.listed[provider] = len(answer)
            for model in models:
                if normalize_id(model.model_id) in answer:
                    missing.pop(model.key, None)
                else:
                    missing[model.key] = model.model_id
        self._missing = missing
        self._apply()
        for key, model_id in missing.items():
            if before.get(key) != model_id:
                report.gone.append(self._catalog.models_by_key[key])
        for key in before:
            model = self._catalog.model(key)
            if key not in missing and model is not None and model.provider in report.listed:
                report.back.append(model)
        if missing != before:
            await self._save()
        await self._tell_admins(report)
        logger.info(
            "Model check: %s; not served: %s",
            ", ".join(f"{name} {count} ids" for name, count in report.listed.items()) or "-",
            ", ".join(sorted(missing)) or "none",
        )
        return report

    async def _listing(self, provider: str) -> frozenset[str] | ProviderError:
        try:
            return await self._llm.list_models(provider)
        except ProviderError as error:
            alert = self._llm.alert_text(provider, error.kind)  # region, proxy: name the fix
            if alert is not None:
                await self._alerts.alert(f"provider:{provider}:{error.kind}", alert)
            if error.kind in ("unreachable", "proxy_unreachable"):
                logger.warning("Model list of %s not read (%s); kept as it was", provider, error)
            else:
                logger.info(
                    "%s has no model list (%s); its models count as served", provider, error
                )
            return error

    async def _tell_admins(self, report: CheckReport) -> None:
        for model in report.gone:
            await self._alerts.alert(
                f"model_gone:{model.key}:{model.model_id}", self.gone_alert(model)
            )
        for model in report.back:
            await self._alerts.alert(
                f"model_back:{model.key}",
                f"{model.name} ({model.model_id}) is listed by "
                f"{self._llm.provider_name(model.provider)} again: available in /model again.",
            )

    def gone_alert(self, model: Model) -> str:
        provider = self._llm.provider_name(model.provider)
        plans = self._catalog.plans_with_model(model.key)
        where = (
            "the free models"
            if model.free
            else (", ".join(plan.name for plan in plans) or "no plan on sale")
        )
        return (
            f"{model.name} is not served by {provider} any more: its GET /models no longer "
            f"lists {model.model_id!r}. /model shows it as unavailable with that reason; users "
            f"on it are moved to another model of {where} (or the free default) when they next "
            f"write. Fix: put the id {provider} serves now into its model_id in catalog.toml "
            f"(key {model.key!r}) and restart."
        )

    # Moving users --------------------------------------------------------------------------
    def replacement(self, user_id: int, model: Model) -> Model:
        """An available model of a plan that has `model`, that the user may use; else the
        free default."""
        if not model.free:
            plans = sorted(
                (plan for plan in self._catalog.plans if model.key in plan.models),
                key=lambda plan: (plan.retired, plan.price_rub),
            )
            for plan in plans:
                for key in plan.models:
                    other = self._catalog.model(key)
                    if (
                        other is not None
                        and other.key != model.key
                        and self._llm.is_available(other)
                        and self._access.can_use(user_id, other)
                    ):
                        return other
        return self._llm.default_model()

    async def settle(
        self,
        user: UserRecord,
        users: UserSettings,
        conversations: ConversationModels | None = None,
    ) -> Move | None:
        """Move the user off a model its provider no longer serves (their own model and
        their current conversation's); the Move says what to tell them, once."""
        if not self._llm.not_served:  # nearly always: nothing to do
            return None
        lock = self._locks.get(user.id)
        if lock is None:
            lock = self._locks[user.id] = asyncio.Lock()
        async with lock:
            stored = await users.get(user.id)
            if stored is not None:  # a concurrent update may have moved them already
                user.model_key = stored.model_key
            current = None
            if conversations is not None:
                listing = await conversations.all(user.id)
                current = listing.get(listing.current)
            key = current.model_key if current and current.model_key else user.model_key
            model = self._catalog.model(key)
            if model is None or self._llm.unavailable_reason(model) != "not_served":
                return None
            target = self.replacement(user.id, model)
            if target.key == model.key or not self._llm.is_available(target):
                return None  # nothing to move to: the refusal explains it
            own = self._catalog.model(user.model_key)
            if own is None or own.key == model.key or not self._llm.is_available(own):
                await users.set_model(user, target.key)
            if conversations is not None and current is not None and current.model_key:
                await conversations.set_current_model(user.id, target.key)
            logger.info("User %s moved from %s to %s (not served)", user.id, model.key, target.key)
            return Move(model, target, self._llm.provider_name(model.provider))
