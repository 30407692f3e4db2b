"""Every inline button's callback data, in one place (packed size under 64 bytes).

Actions are enums, so a handler filters `Factory.filter(F.action == Act.X)` and no
callback string is ever typed by hand.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class PayMethod(StrEnum):
    YOOMONEY = "yoomoney"
    SBP = "sbp"
    STARS = "stars"
    STARS_MONTHLY = "stars_sub"  # a Telegram Stars subscription that renews itself


class Section(StrEnum):
    """The admin panel's sections (and the CSV export under Payments)."""

    MAIN = "main"
    USERS = "users"
    PAYMENTS = "payments"
    STATS = "stats"
    PROMO = "promo"
    BROADCAST = "broadcast"
    EXPORT = "export"  # under Payments
    TOP_SPENDERS = "spenders"  # under Statistics
    TOP_INVITERS = "inviters"  # under Statistics


class UserAct(StrEnum):
    CARD = "card"  # open a user's card (from a search by name)
    GRANT = "grant"  # choose a plan
    PLAN = "plan"  # choose the days
    DAYS = "days"  # confirm
    GRANT_OK = "grant_ok"
    REVOKE = "revoke"  # choose a plan or all
    REVOKE_ASK = "revoke_ask"  # confirm
    REVOKE_OK = "revoke_ok"


class PromoAct(StrEnum):
    NEW = "new"
    PLAN = "plan"  # the wizard's plan choice
    SKIP = "skip"  # the wizard's optional steps
    DAYS = "days"  # the wizard's day buttons (`code` is the number of days)
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"


class PaymentAct(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"  # asks for a reason
    DEFAULT = "default"  # reject with the default reason


class BroadcastAct(StrEnum):
    SEND = "send"
    DROP = "drop"
    STOP = "stop"


class AnswerAct(StrEnum):
    STOP = "stop"  # under an answer being written
    RETRY = "retry"  # under a finished answer or a provider error


class AnswerControl(CallbackData, prefix="ans"):
    """Buttons under the presser's own answer (private chats: the presser is the user)."""

    action: AnswerAct


class ChatsAct(StrEnum):
    OPEN = "open"  # switch to a conversation
    NEW = "new"
    RENAME = "rename"  # the current one
    DELETE = "delete"  # asks first
    DELETE_OK = "delete_ok"
    FORGET_OK = "forget_ok"  # /forget confirmed
    RENAME_CANCEL = "rename_no"  # leave the "type a title" step


class ChatsMenu(CallbackData, prefix="cv"):
    action: ChatsAct
    conversation_id: str = ""


class ModeAct(StrEnum):
    SET = "set"  # a preset
    CUSTOM = "custom"  # ask for the user's own instruction
    USE = "use"  # use the instruction shown back


class ModeChoice(CallbackData, prefix="md"):
    action: ModeAct
    key: str = ""


class ModelChoice(CallbackData, prefix="m"):
    key: str


class FreeModel(CallbackData, prefix="fm"):
    """Under a spent free allowance: go on with the other free model."""

    key: str


class Example(CallbackData, prefix="ex"):
    """/start: ask one of the example questions (texts' example_<index>)."""

    index: int


class Screen(StrEnum):
    MODELS = "models"
    PROFILE = "profile"
    INVITE = "invite"


class OpenScreen(CallbackData, prefix="go"):
    """/start's buttons for the main places (plans and support have their own)."""

    screen: Screen


class ShowPlans(CallbackData, prefix="plans"):
    pass


class PlansMenu(CallbackData, prefix="plm"):
    """The plans in place of the pressed menu (ShowPlans, under a refusal, sends them)."""


class ShowModels(CallbackData, prefix="models"):
    """/model's menu, in place of the pressed message (Back from a locked model too)."""


class BuyPlan(CallbackData, prefix="buy"):
    plan_id: str


class PayAgain(CallbackData, prefix="again"):
    """Under a rejected payment's notice: the plan's payment screen below the notice
    (which keeps its reason), not in its place."""

    plan_id: str


class EnterPromo(CallbackData, prefix="promo"):
    pass


class CancelPromo(CallbackData, prefix="promo_no"):
    """Leave the "type the code" step."""


class PayWith(CallbackData, prefix="pay"):
    plan_id: str
    method: PayMethod


class RenewalAct(StrEnum):
    CANCEL = "cancel"
    RESUME = "resume"


class Renewal(CallbackData, prefix="ren"):
    """/profile: cancel or resume a Stars subscription's renewal."""

    action: RenewalAct
    subscription_id: str


class CheckPayment(CallbackData, prefix="chk"):
    payment_id: str


class SbpPaid(CallbackData, prefix="sbp"):
    """ "Payment sent" under an SBP invoice (without a receipt)."""

    payment_id: str


class SbpAct(StrEnum):
    SEND_RECEIPT = "send"  # under the invoice: the next photo or file is its receipt
    CANCEL = "cancel"  # under the prompt for it
    YES = "yes"  # "is this the receipt?" about a photo or file sent after the invoice
    NO = "no"  # ...it is a question for the model


class SbpStep(CallbackData, prefix="sbr"):
    """The receipt steps after an SBP invoice."""

    action: SbpAct
    payment_id: str
    held: int = 0  # YES / NO: the message asked about (its message_id)


class SupportAct(StrEnum):
    OPEN = "open"  # /support's screen
    CANCEL = "cancel"  # leave the "write your question" step


class Support(CallbackData, prefix="sup"):
    action: SupportAct = SupportAct.OPEN


class SupportReply(CallbackData, prefix="supr"):
    """An admin answers a question sent through /support."""

    user_id: int


class AdminPayment(CallbackData, prefix="adp"):
    action: PaymentAct
    payment_id: str


class AdminMenu(CallbackData, prefix="adm"):
    section: Section


class AdminUser(CallbackData, prefix="adu"):
    action: UserAct
    user_id: int
    plan_id: str = ""  # "" with revoke means every plan
    days: int = 0


class AdminPromo(CallbackData, prefix="apr"):
    action: PromoAct
    code: str = ""  # a code, or the plan id for PromoAct.PLAN


class AdminBroadcast(CallbackData, prefix="abc"):
    action: BroadcastAct
    broadcast_id: str
