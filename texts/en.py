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
}
