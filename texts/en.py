"""English texts for users whose Telegram language is English."""

TEXTS: dict[str, str] = {
    # Commands menu
    "cmd_start": "Start and show the current model",
    "cmd_model": "Choose a model",
    "cmd_new": "New chat (forget the context)",
    "cmd_profile": "Profile and subscriptions",
    "cmd_plans": "Plans and payment",
    "cmd_promo": "Activate a promo code",
    "cmd_cancel": "Stop the answer or action",
    "cmd_help": "Help",
    # Start, help, profile
    "start": (
        "Hi, {name}! 👋\n\n"
        "I give you access to many AI models right in Telegram. "
        "Just write a question and the selected model will answer.\n\n"
        "Current model: <b>{model}</b>\n"
        "Change model: /model · New chat: /new · Plans: /plans"
    ),
    "help": (
        "<b>How to use</b>\n"
        "Send a message and the model answers, keeping the chat's earlier messages in mind.\n\n"
        "/model — choose a model\n"
        "/new — start a new chat (the context is forgotten)\n"
        "/cancel — stop the answer\n"
        "/profile — your model and subscriptions\n"
        "/plans — plans: more models and no length limit\n"
        "/promo CODE — activate a promo code\n\n"
        "Free: {free_models} (requests up to {free_limit} characters)."
    ),
    "profile": (
        "<b>Profile</b>\n"
        "ID: <code>{user_id}</code>\n"
        "Model: <b>{model}</b>\n\n"
        "{plans}\n\n"
        "Free models: {free_models}, requests up to {free_limit} characters."
    ),
    "profile_no_plans": "No active subscriptions. Plans: /plans",
    # Models
    "model_menu": (
        "Choose a model. Current: <b>{model}</b>\n"
        "🔒 needs a subscription, ⛔ temporarily unavailable."
    ),
    "model_chosen": "Done! <b>{model}</b> answers now.",
    "model_locked": "🔒 <b>{model}</b> comes with a subscription: {plans}.\nSubscribe: /plans",
    "model_unavailable": "⛔ <b>{model}</b> is unavailable right now. Choose another: /model",
    "model_unknown": "This model is no longer offered. Choose one from the list: /model",
    # Chat
    "new_done": "🧹 New chat started. The previous context is forgotten.",
    "cancel_done": "⏹ Answer stopped.",
    "cancel_nothing": "Nothing to cancel right now.",
    "busy": "⏳ Still answering your previous message. Please wait or press /cancel.",
    "empty_request": "Please write your question as text.",
    "too_long": (
        "✂️ Your request is too long: {length} characters, the free models' limit is {limit}.\n"
        "Shorten it, or any subscription lifts the limit: /plans"
    ),
    "only_text": "I only understand text messages. Please write your question as text.",
    "empty_answer": "The model returned an empty answer. Try rephrasing your question.",
    "answer_cut": "\n\n⚠️ The answer was cut off: the model dropped the connection.",
    "answer_cancelled": "\n\n⏹ Stopped.",
    "error_timeout": "⌛ {model} did not answer in time. Please try again a bit later.",
    "error_rate_limited": "🚦 {model} is overloaded right now. Please try again in a minute.",
    "error_unavailable": (
        "⚠️ {model} is temporarily unavailable. Try later or choose another: /model"
    ),
    "error_cut": "⚠️ The answer from {model} was cut off. Please try again.",
    "error_generic": (
        "⚠️ Could not get an answer from {model}. Try again or choose another model: /model"
    ),
    "internal_error": "😔 Something went wrong. We are looking into it; please try again.",
    # Admin alerts
    "alert_error": "🚨 <b>Bot error</b>\n{summary}\n\nDetails are in the log.",
    "unknown_command": "I don't know this command. Commands: /help",
    # Plans and subscriptions
    "btn_plans": "💎 Plans",
    "btn_promo": "🎟 Enter a promo code",
    "btn_buy": "Buy {plan} — {price} RUB",
    "plans": "<b>Plans</b> (access for {days} days)\n\n{plans}\n\nHave a promo code? /promo CODE",
    "plan_line": "<b>{plan}</b> — {price} RUB\nModels: {models}",
    "plan_active_mark": " ✅ until {end}",
    "payment_unavailable": "Payment is coming soon. For now a plan can be opened with a promo code: /promo",
    "profile_plans": "<b>Subscriptions</b>\n{plans}",
    "profile_plan_line": "• <b>{plan}</b> — until {end}\n  Models: {models}",
    "model_locked_button": "🔒 {model} comes with a subscription: {plans}.",
    # Promo codes
    "promo_ask": "Send the promo code as one message. Changed your mind? /cancel",
    "promo_ok": (
        "🎉 Promo code activated: <b>{plan}</b> for {days} days, until {end}.\n"
        "Models opened: {models}. Choose one: /model"
    ),
    "promo_unknown": "There is no such promo code. Please check the spelling.",
    "promo_used_up": "This promo code has been used the maximum number of times.",
    "promo_expired": "This promo code expired ({date}).",
    "promo_already_used": "You have already activated this promo code.",
    "promo_throttled": "Too many wrong attempts. Please try again in 10 minutes.",
    # Reminders
    "reminder_3d": "⏰ Your <b>{plan}</b> subscription ends in 3 days ({end}). Renew: /plans",
    "reminder_1d": "⏰ Your <b>{plan}</b> subscription ends tomorrow ({end}). Renew: /plans",
    "reminder_ended": "Your <b>{plan}</b> subscription has ended. Renew: /plans",
    "granted_notice": "🎁 You now have <b>{plan}</b> until {end}. Models: {models}",
    "revoked_notice": "Your <b>{plan}</b> subscription was turned off by an administrator.",
    # Admin commands
    "admin_grant_usage": "Usage: /grant USER_ID PLAN DAYS\nPlans: {plans}",
    "admin_revoke_usage": "Usage: /revoke USER_ID [PLAN]\nPlans: {plans}",
    "admin_promo_new_usage": (
        "Usage: /promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]\n"
        "CODE: 3-32 characters, Latin letters, digits, _ and -.\nPlans: {plans}"
    ),
    "admin_promo_del_usage": "Usage: /promo_del CODE",
    "admin_unknown_plan": "There is no plan “{plan}”. Valid plans: {plans}",
    "admin_granted": "✅ User <code>{user_id}</code> got <b>{plan}</b> for {days} days, until {end}.",
    "admin_revoked": "✅ Turned off for user <code>{user_id}</code>: {plans}.",
    "admin_nothing_to_revoke": "User <code>{user_id}</code> has no active subscriptions{plan}.",
    "admin_promo_created": (
        "✅ Promo code <code>{code}</code>: {plan} for {days} days, "
        "activations: {max_uses}, valid until: {until}."
    ),
    "admin_promo_exists": "Promo code <code>{code}</code> already exists.",
    "admin_promo_bad_code": "A code is 3-32 characters: Latin letters, digits, _ and -.",
    "admin_promo_bad_numbers": "DAYS is 1 to 3660, MAX_USES at least 1, the date YYYY-MM-DD.",
    "admin_promo_list": "<b>Promo codes</b>\n{items}",
    "admin_promo_item": "<code>{code}</code> — {plan}, {days} days, used {used}/{max_uses}, until {until}{state}",
    "admin_promo_empty": "No promo codes yet. Create one: /promo_new",
    "admin_promo_deleted": "🗑 Promo code <code>{code}</code> deleted.",
    "admin_promo_not_found": "There is no promo code <code>{code}</code>.",
    "no_limit": "unlimited",
    "no_date": "no end date",
    "disabled_mark": " (disabled)",
}
