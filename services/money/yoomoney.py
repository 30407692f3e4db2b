"""YooMoney wallet: Quickpay links, the operation-history API, and matching money to payments."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from services.errors import UserFacingError
from services.models import Payment
from services.money.payments import CreditResult, MoneyArrival, PaymentService
from services.operator.alerts import AlertService
from services.shared.throttle import Cooldown, MemoryCooldown

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 1_000  # a loop guard: 100,000 operations in one check
CHECK_BUTTON_COOLDOWN = 15.0  # seconds between "check payment" presses per user
MAX_BACKOFF = 600.0


class YooMoneyError(UserFacingError):
    """The API answered with an error; `kind` is auth, rate_limited, api or network. A
    user who pressed "check payment" reads that it could not be checked now."""

    TEXT_KEYS = frozenset({"pay_check_failed"})

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__("pay_check_failed", f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class CheckTooSoonError(UserFacingError):
    """The user pressed "check payment" again within the cooldown."""

    TEXT_KEYS = frozenset({"pay_check_too_soon"})

    def __init__(self, wait: float) -> None:
        super().__init__("pay_check_too_soon", f"wait {wait:.0f} s", seconds=f"{wait:.0f}")
        self.wait = wait


@dataclass(slots=True, frozen=True)
class Operation:
    operation_id: str
    status: str
    direction: str
    amount: float
    label: str


def quickpay_url(
    *, wallet: str, amount: float, label: str, targets: str, success_url: str | None
) -> str:
    """The Quickpay form link; YooMoney takes its commission from the receiver."""
    params = {
        "receiver": wallet,
        "quickpay-form": "button",
        "paymentType": "AC",
        "sum": f"{amount:.2f}",
        "label": label,
        "targets": targets,
    }
    if success_url:
        params["successURL"] = success_url
    return "https://yoomoney.ru/quickpay/confirm?" + urlencode(params)


def notification_hash_ok(fields: Mapping[str, str], secret: str) -> bool:
    """Check `sha1_hash` exactly as YooMoney builds it, in constant time."""
    names = (
        "notification_type",
        "operation_id",
        "amount",
        "currency",
        "datetime",
        "sender",
        "codepro",
    )
    parts = [fields.get(name, "") for name in names] + [secret, fields.get("label", "")]
    expected = hashlib.sha1("&".join(parts).encode()).hexdigest()
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged hash).
    received = fields.get("sha1_hash", "").lower().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(expected.encode("ascii"), received)


class YooMoneyClient:
    """The wallet API over one shared aiohttp session (never blocks the event loop)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/operation-history"
        self._token = token

    async def incoming(
        self, *, label: str | None = None, since: float | None = None
    ) -> list[Operation]:
        """Incoming operations, newest first, every page."""
        return [
            operation async for page in self.pages(label=label, since=since) for operation in page
        ]

    async def pages(
        self, *, label: str | None = None, since: float | None = None
    ) -> AsyncIterator[list[Operation]]:
        """Incoming operations a page at a time, newest first, following `next_record` to
        the end (back to `since`): an outage that let thousands of operations pile up is
        read whole, each page handled before the next is asked for."""
        form: dict[str, str] = {"type": "deposition", "records": str(PAGE_SIZE)}
        if label:
            form["label"] = label
        if since is not None:
            form["from"] = dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds")
        for _ in range(MAX_PAGES):
            answer = await self._post(form)
            yield [_operation(item) for item in answer.get("operations", [])]
            next_record = str(answer.get("next_record") or "")
            if not next_record or next_record == form.get("start_record"):
                return
            form["start_record"] = next_record
        logger.warning("YooMoney history longer than %d pages; the rest next check", MAX_PAGES)

    async def _post(self, form: dict[str, str]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._session.post(
                self._url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as response:
                if response.status in (401, 403):
                    raise YooMoneyError("auth", f"HTTP {response.status}")
                if response.status == 429:
                    raise YooMoneyError("rate_limited", "HTTP 429")
                if response.status >= 400:
                    raise YooMoneyError("api", f"HTTP {response.status}")
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise YooMoneyError("network", type(error).__name__) from error
        if "error" in answer:
            raise YooMoneyError("api", str(answer["error"]))
        return answer


def _operation(raw: dict[str, Any]) -> Operation:
    return Operation(
        operation_id=str(raw.get("operation_id", "")),
        status=str(raw.get("status", "")),
        direction=str(raw.get("direction", "in")),
        amount=float(raw.get("amount", 0) or 0),
        label=str(raw.get("label", "") or ""),
    )


class YooMoneyChecker:
    """Turns YooMoney operations into credits, for the poller, the button and notifications."""

    def __init__(
        self,
        client: YooMoneyClient | None,
        payments: PaymentService,
        alerts: AlertService,
        *,
        accepted_shortfall_percent: float,
        pending_ttl: float,
        late_window: float,
    ) -> None:
        self._client = client
        self._payments = payments
        self._alerts = alerts
        self._shortfall = accepted_shortfall_percent / 100
        self._pending_ttl = pending_ttl
        self._late_window = late_window
        # Presses of "check payment" per user (a Redis cooldown when processes share
        # Redis: set by the container), so a user is not checked twice in a row anywhere.
        self.check_cooldown: Cooldown = MemoryCooldown(CHECK_BUTTON_COOLDOWN)
        self.failures_in_row = 0

    @property
    def enabled(self) -> bool:
        return self._client is not None

    async def apply(self, operation: Operation) -> CreditResult | None:
        """Account for one incoming operation; the one shared path. Never raises for
        one operation's sake: a failure is recorded as unmatched money and reported."""
        if operation.direction != "in" or operation.status != "success":
            return None
        arrival = MoneyArrival(
            method="yoomoney",
            external_id=operation.operation_id,
            amount=operation.amount,
            currency="RUB",
            reference=operation.label,
        )
        outcome = await self._payments.accept_or_record(arrival, minimum_share=1 - self._shortfall)
        if outcome.partial is not None:
            await self._report_short(outcome.partial, operation)
        return outcome.credit

    async def _report_short(self, payment: Payment, operation: Operation) -> None:
        received = payment.received_amount or 0.0
        minimum = payment.amount * (1 - self._shortfall)
        text = (
            f"YooMoney payment {payment.id}: received {received:.2f} RUB of "
            f"{payment.amount:.2f} (minimum {minimum:.2f}); not credited yet, "
            f"operation {operation.operation_id}"
        )
        await self._payments.note(payment, text)
        await self._alerts.alert(f"underpaid:{operation.operation_id}", text)

    async def check_all(self) -> int:
        """One history query covering every payment that may still receive money."""
        if self._client is None:
            return 0
        now = time.time()
        waiting = [
            p
            for p in self._payments.with_status("pending", "expired", method="yoomoney")
            if p.status == "pending" or now - p.created_at < self._pending_ttl + self._late_window
        ]
        if not waiting:
            return 0
        since = min(p.created_at for p in waiting) - 60
        credited = 0
        async for page in self._client.pages(since=since):
            for operation in page:
                if await self.apply(operation):
                    credited += 1
        return credited

    async def check_one(self, payment: Payment, user_id: int) -> CreditResult | None:
        """The "check payment" button: ask about this label now (rate-limited per user)."""
        if self._client is None:
            return None
        left = await self.check_cooldown.claim(str(user_id))
        if left:
            raise CheckTooSoonError(left)
        result = None
        for operation in await self._client.incoming(label=payment.id):
            result = await self.apply(operation) or result
        return result

    async def run(self, interval: float) -> None:
        """Poll forever: expire stale payments, check history, back off on errors."""
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self._payments.expire_stale(self._pending_ttl)
                await self.check_all()
            except YooMoneyError as error:
                self.failures_in_row += 1
                delay = min(MAX_BACKOFF, max(interval, delay) * 2)
                logger.warning("YooMoney check failed (%s); next try in %.0f s", error, delay)
                if error.kind == "auth" or self.failures_in_row >= 3:
                    await self._alerts.alert(
                        f"yoomoney:{error.kind}",
                        f"YooMoney payment checks are failing: {error.kind} "
                        f"({self.failures_in_row} in a row)",
                    )
                continue
            except Exception as error:
                self.failures_in_row += 1
                delay = min(MAX_BACKOFF, max(interval, delay) * 2)
                logger.exception("YooMoney check crashed")
                await self._alerts.alert("yoomoney:crash", f"YooMoney check crashed: {error!r}")
                continue
            self.failures_in_row = 0
            delay = interval
