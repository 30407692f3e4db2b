"""English texts for users whose Telegram language is English."""

TEXTS: dict[str, str] = {
    # Commands menu
    "cmd_start": "Start and show the current model",
    "cmd_model": "Choose a model",
    "cmd_new": "New chat",
    "cmd_profile": "Profile and subscriptions",
    "cmd_plans": "Plans and payment",
    "cmd_promo": "Activate a promo code",
    "cmd_cancel": "Stop the answer or action",
    "cmd_support": "Support: payments and questions",
    "cmd_help": "Help",
    "cmd_invite": "Invite friends",
    # Start, help, profile
    "bot_description": (
        "GPT, Gemini, DeepSeek, Grok and other AI models right in Telegram: answers, "
        "writing, translation, code. Photos, voice messages and files work too.\n\n"
        "Free: {allowance}. More models and no limits: plans from {price:money} RUB.\n\n"
        "Press Start and ask a question."
    ),
    "bot_short_description": (
        "GPT, Gemini, DeepSeek and other AI models in Telegram. Free: {count:plural:request|requests} a day."
    ),
    "start": (
        "Hi, {name}! 👋\n\n"
        "In this chat: GPT, Gemini, DeepSeek, Grok and other AI models. "
        "Ask anything: I explain, translate, write texts and code.\n\n"
        "🆓 Free: {allowance}.\n"
        "💎 More models and no limits: plans from {price:money} RUB for {days:plural:day|days}.\n"
        "📎 I understand {media}.\n\n"
        "Just write a question, or try an example:"
    ),
    "start_media_photos": "photos",
    "start_media_voice": "voice messages",
    "start_media_files": "files (PDF, text, code)",
    "example_1": "Explain in simple words how a mortgage works",
    "example_2": "Make a one-week workout plan for a beginner",
    "example_3": "Translate into Russian: “Thanks, the meeting moves to Friday”",
    "btn_example": "💡 {question}",
    "example_asked": "💡 {question}",
    "example_busy": "An answer is being written: ask the example once it is done.",
    "btn_start_models": "🤖 Models",
    "btn_start_profile": "👤 Profile",
    "btn_start_invite": "🎁 Invite",
    "btn_start_support": "💬 Support",
    # The free allowance: the same words in /start, /help, /profile and the refusals
    "allowance_each": "{models}, {count:plural:request|requests} a day each",
    "allowance_one": "{model}, {count:plural:request|requests} a day",
    "allowance_none": "{models}",
    "help": (
        "<b>How to use</b>\n"
        "Send a message and the model answers, keeping the chat's earlier messages in mind.\n\n"
        "/model — choose a model\n"
        "/new — start a new chat (the earlier ones are kept)\n"
        "/chats — your chats: continue, rename, delete\n"
        "/mode — the assistant's mode: translator, programmer, editor or your own instruction\n"
        "/forget — delete all chats\n"
        "/cancel — stop the answer\n"
        "/profile — your model and subscriptions\n"
        "/plans — plans: more models and no length limit\n"
        "/promo CODE — activate a promo code\n"
        "/invite — invite friends and get a bonus\n"
        "/support — support: questions about payments and the bot\n\n"
        "Free: {allowance}; requests up to {free_limit:plural:character|characters}."
    ),
    "profile": (
        "<b>Profile</b>\n"
        "ID: <code>{user_id}</code>\n"
        "Model: <b>{model}</b>\n\n"
        "{plans}\n\n"
        "Free: {allowance}; requests up to {free_limit:plural:character|characters}.\n\n"
        "{referrals}"
    ),
    "profile_no_plans": "No active subscriptions. Plans: /plans",
    "profile_referrals": (
        "👥 You invited {invited:plural:friend|friends}; a bonus came for "
        "{rewarded:plural:friend who paid|friends who paid}. Your link: /invite"
    ),
    # Referrals
    "invite": ("🎁 <b>Invite friends</b>\n\nYour personal link:\n{link}\n\n{offer}\n\n{counts}"),
    "invite_counts": (
        "You invited {invited:plural:friend|friends}; a bonus came for "
        "{rewarded:plural:friend who paid|friends who paid}."
    ),
    "invite_none_yet": "Nobody has come through your link yet: send it to friends with the button below.",
    "invite_share_text": "Try this bot: GPT, Gemini, DeepSeek and other AI models in one chat",
    "btn_share_invite": "📤 Share the link",
    "start_invited": "🎁 A friend invited you. Welcome!",
    "referral_friend": "no name",
    "referral_joined": "👥 A friend came through your link: {name}.{then}",
    "referral_joined_bonus": " When they first pay for a plan, you get {bonus}.",
    "profile_referrals_none": (
        "👥 Invite friends: for each one's first payment you get a bonus. /invite"
    ),
    "invite_bonus": (
        "When a friend who first opens the bot through this link pays for any plan, you get "
        "{bonus}, for the first payment of each friend."
    ),
    "invite_no_bonus": "Share it with your friends: we count whom you invited.",
    "referral_reward": (
        "🎁 A friend you invited has paid for a plan! You get {bonus}.{until}\n"
        "Thank you for recommending us! Your link: /invite"
    ),
    "referral_reward_until": " <b>{plan}</b> is active until {end}.",
    "bonus_plan_days": "{days:plural:day|days} of <b>{plan}</b>",
    "bonus_requests": (
        "{requests:plural:extra request|extra requests} a day to the free models "
        "for {days:plural:day|days}"
    ),
    "and_join": " and ",
    # Models
    "model_menu": (
        "Choose a model. Current: <b>{model}</b>\n\n{models}\n\n"
        "🔒 needs a subscription, ⛔ temporarily unavailable."
    ),
    "model_chosen": "Done! <b>{model}</b> answers now.",
    "model_line_name": "• <b>{model}</b>",
    "model_line_about": " — {about}",
    "model_line_free": " · free",
    "model_line_price": " · from {price:money} RUB ({plan})",
    "model_line_answered_by": " · answered by {model}",
    "model_locked_menu": "🔒 This model comes with a subscription: {plans}.\n\n{line}\n\nChoose a plan:",
    "model_locked_answered_by": (
        "The name {model} is kept from a model its provider replaced: <b>{real}</b> answers "
        "your questions."
    ),
    "btn_plan_price": "{plan} — {price:money} RUB",
    "btn_extend": "Extend {plan} — {price:money} RUB",
    "plan_line_active": "<b>{plan}</b> — {price:money} RUB · ✅ active until {end}\nModels: {models}",
    "pay_extends": "✅ {plan} is active until {end}. Paying extends it to <b>{new_end}</b>.",
    "pay_choose_method_ask": "Choose how to pay:",
    "promo_try_again": "{error}\nSend the code again or press Cancel.",
    "promo_cancelled": "All right, no promo code.",
    "chats_rename_cancelled": "All right, the title stays.",
    "model_locked": "🔒 <b>{model}</b> comes with a subscription: {plans}.\nSubscribe: /plans",
    "model_unavailable": "⛔ <b>{model}</b> is unavailable right now. Choose another: /model",
    "model_unknown": "This model is no longer offered. Choose one from the list: /model",
    "model_not_served": "⛔ <b>{model}</b> is not served by {provider} any more. Choose another model: /model",
    "model_not_served_line": "⛔ {model} is not served by {provider} any more",
    "model_moved": (
        "ℹ️ <b>{old}</b> is not served by {provider} any more, so <b>{new}</b> answers now. "
        "Choose another model: /model"
    ),
    # Chat
    "new_done": "🆕 New chat started. The earlier ones are kept: /chats",
    "new_dropped_one": "ℹ️ You can keep at most {limit:plural:chat|chats}, so the oldest one, “{title}”, was deleted with its history.",
    "new_dropped_many": "ℹ️ You can keep at most {limit:plural:chat|chats}, so the {count} oldest were deleted with their history: {titles}.",
    "new_dropped_title": "“{title}”",
    "new_dropped_others": "and others",
    "cancel_done": "⏹ Answer stopped.",
    "cancel_nothing": "Nothing to cancel right now.",
    "queue_full": "⏳ {limit:plural:message is|messages are} already waiting for the answer: no room for more. Please wait for it or press /cancel.",
    "empty_request": "Please write your question as text.",
    "too_long": (
        "✂️ Your request is too long: {length:plural:character|characters}, the free models' limit is {limit}.\n"
        "Shorten it, or any subscription lifts the limit: /plans"
    ),
    "only_text": (
        "I understand text, photos, voice messages, text files and PDFs. Stickers and "
        "videos not yet: please type your question."
    ),
    "too_long_for_model": (
        "✂️ The request is too long for {model}: {length:plural:character|characters}, and "
        "the model takes about {limit}. Shorten it or choose a model with a larger "
        "context: /model"
    ),
    "model_blind": "🖼 {model} does not see pictures. These do: {models}. Choose: /model",
    "voice_off": "🎤 Voice messages are not recognised yet. Please type your question.",
    "voice_too_long": (
        "🎤 The voice message is too long: I recognise up to "
        "{limit:minutes:minute|minutes}. Split it or type your question."
    ),
    "voice_too_long_free": (
        "🎤 Without a plan I recognise voice messages up to {limit:minutes:minute|minutes} "
        "(what fits a free request). Record a shorter one or get a plan."
    ),
    "voice_free_day": (
        "🎤 Today's free {limit:minutes:minute|minutes} of recognition are used up: the "
        "limit comes back tomorrow, and a plan has none."
    ),
    "voice_empty": "🎤 I could not make out any speech. Try again or type your question.",
    "voice_failed": (
        "🎤 I could not transcribe the voice message: the recognition service is "
        "unavailable for now. Try later or type your question."
    ),
    "voice_heard": "🎤 <i>{text}</i>",
    "voice_transcript_too_long": (
        "🎤 The transcript of your voice message is longer than a free request holds (up "
        "to {limit:plural:character|characters}), so it was not asked. Record a shorter "
        "one, or get a plan and the length limit goes away."
    ),
    "voice_transcript_too_long_for_model": (
        "🎤 The transcript of your voice message is longer than {model} takes at once "
        "(about {limit:plural:character|characters}), so it was not asked. Record a "
        "shorter one or choose a model with a larger context: /model"
    ),
    "file_unsupported": (
        "📎 I cannot read this file. I read text files (txt, md, csv, json, code…) and PDFs "
        "with a text layer."
    ),
    "file_too_big": "📎 The file is too big: I read files up to {mb} MB.",
    "file_empty": "📎 There is no text in the file (if it is a scan, send the text instead).",
    "file_unreadable": "📎 The file is damaged or password-protected: I could not read it.",
    "file_download_failed": "📎 Telegram did not give me the file. Please send it again.",
    "empty_answer": "The model returned an empty answer. Try rephrasing your question.",
    "answer_cut": "\n\n⚠️ The answer was cut off: the model dropped the connection.",
    "btn_retry": "🔄 Retry",
    "stop_done": "Stopped",
    "stop_nothing": "The answer has already ended",
    "retry_nothing": "Nothing to retry: just send a new message",
    "retry_not_last": "Only the latest answer can be retried",
    "retry_busy": "Please wait for the current answer first",
    "cmd_chats": "My chats",
    "cmd_mode": "Assistant mode",
    "cmd_admin_admin": "Admin panel",
    "cmd_admin_stats": "Statistics and chart",
    "cmd_admin_payments": "Payments: pending and revenue",
    "cmd_admin_grant": "Grant a plan: ID plan days",
    "cmd_admin_revoke": "Revoke a plan: ID [plan]",
    "cmd_admin_confirm": "Confirm an SBP payment: number",
    "cmd_admin_reject": "Reject an SBP payment: number reason",
    "cmd_admin_refund": "Refund a Stars payment: number",
    "cmd_admin_settle": "Mark uncredited money as handled",
    "cmd_admin_promo_new": "New promo code",
    "cmd_admin_promo_list": "All promo codes",
    "cmd_admin_promo_del": "Delete a promo code",
    "cmd_admin_broadcast": "Broadcast to all users",
    "chats_list": "<b>Chats</b> ({count:plural:chat|chats}; ▶️ is the current one):\n{items}\n\nTap a chat to continue it.",
    "chats_item": "{mark} {title} — {date}, {model}",
    "chats_untitled": "New chat",
    "chats_switched": "Continuing: {title}",
    "chats_gone": "This chat no longer exists.",
    "chats_rename_ask": "What should the current chat be called? Send the title in one message within 5 minutes, or press Cancel.",
    "chats_renamed": "✏️ Chat renamed: {title}",
    "chats_delete_ask": "Delete the current chat and its history? This cannot be undone.",
    "chats_deleted": "🗑 Chat deleted.",
    "btn_chat_new": "➕ New chat",
    "btn_chat_rename": "✏️ Rename the current one",
    "btn_chat_delete": "🗑 Delete the current one",
    "btn_yes_delete": "Yes, delete",
    "forget_ask": "Delete <b>all</b> your chats and their history? This cannot be undone.",
    "btn_yes_forget": "Yes, delete everything",
    "forget_done": "🧹 All chats deleted. We no longer keep their text.",
    "mode_menu": "The current chat's mode: <b>{mode}</b>.\nChoose an assistant or write your own instruction:",
    "mode_set": "Mode: {mode}",
    "mode_unknown": "There is no such mode.",
    "mode_custom_name": "your own instruction",
    "btn_mode_custom": "✍️ My own instruction",
    "mode_custom_ask": "Describe how the assistant should behave in this chat (up to {limit:plural:character|characters}). Cancel: /cancel",
    "mode_custom_too_long": "The instruction is too long: {length:plural:character|characters} of {limit}. Shorten it and send it again.",
    "mode_custom_preview": "Your instruction:\n\n<blockquote>{instruction}</blockquote>\n\nUse it in this chat?",
    "btn_mode_use": "✅ Use it",
    "mode_custom_expired": "The instruction was not found: set it again with /mode",
    "mode_custom_set": "✅ Done: this chat follows your instruction.",
    "group_ask_usage": "Ask me like this: @{bot} question, as a reply to my message, or /ask question.",
    "group_new_done": "🆕 Starting this topic's conversation over.",
    "group_new_done_group": "🆕 Starting this group's conversation over.",
    "group_private_only": "Plans, payment and your profile are in a private chat with me, so the group does not see your data.",
    "btn_open_private": "Open the private chat",
    "group_quota_private": "🔋 {name}, your limit for today has run out — the details are in your private chat with me.",
    "group_quota_generic": "🔋 {name}, your limit for today has run out. Details and plans are in a private chat with me.",
    "group_busy": "⏳ 20 questions are already waiting here: please ask a bit later.",
    "btn_free_other": "➡️ Go on with {model} ({left} left)",
    "btn_plans_from": "💎 Plans from {price:money} RUB",
    "free_switched": "✅ <b>{model}</b> answers now: {left:plural:request|requests} left today. Ask your question.",
    "free_switched_unlimited": "✅ <b>{model}</b> answers now. Ask your question.",
    "free_other_spent": "Today's free requests to {model} are used up too.",
    "free_three_left": "💡 {left:plural:free request|free requests} to {model} left today. The limit comes back {resets}.",
    "free_three_left_other": "💡 {left:plural:free request|free requests} to {model} left today; {other} has {other_left} more. The limit comes back {resets}.",
    "quota_other_free": "{model} still has {left:plural:free request|free requests} today.",
    "quota_free_requests": "🔋 Today's free requests to {model} are used up ({limit:plural:request|requests} a day). The limit comes back {resets}. A plan lifts it.",
    "quota_free_chars": "🔋 Today's free amount of text for {model} is used up ({limit:plural:character|characters} a day, the conversation's history included). It comes back {resets}. Start a new chat (/new) for a shorter history, or take a plan: /plans",
    "quota_fair_use_requests": "⏳ Your plan's daily limit for {model} is reached ({limit:plural:request|requests} a day). It comes back {resets}. Meanwhile you can pick another model: /model",
    "profile_left": "<b>Left</b> (daily limits renew {resets}):\n{lines}",
    "quota_plan_tokens": "⏳ Your plan's monthly amount for {model} is used up ({limit:plural:token|tokens} a month). It comes back {resets}. Meanwhile you can pick another model: /model",
    "profile_month_line": "• {plan}: {left} of {limit:plural:token|tokens} until {resets}",
    "profile_left_line": "• {model}: {parts}",
    "profile_left_voice": "• 🎤 Voice: {left:minutes:minute|minutes} left of {limit:minutes:minute|minutes}",
    "profile_left_requests": "{left} of {limit:plural:request|requests}",
    "profile_left_chars": "{left} of {limit:plural:character|characters}",
    "flood_notice": "🐢 Too many messages in a row. Please pause for half a minute, then I am back.",
    "answer_cancelled": "\n\n⏹ Stopped.",
    "error_timeout": "⌛ {model} did not answer in time. Please try again a bit later.",
    "error_rate_limited": "🚦 {model} is overloaded right now. Please try again in a minute.",
    "error_unavailable": (
        "⚠️ {model} is temporarily unavailable. Try later or choose another: /model"
    ),
    "error_cut": "⚠️ The answer from {model} was cut off. Please try again.",
    "error_region_blocked": (
        "🌍 {model} is unavailable right now: its provider refuses requests from our server. "
        "The administrator knows and will fix it. Meanwhile choose another model: /model"
    ),
    "error_generic": (
        "⚠️ Could not get an answer from {model}. Try again or choose another model: /model"
    ),
    "shared_unavailable": "⏳ The bot cannot do this right now: a temporary fault on our side. Nothing was charged; please try again in a minute.",
    "internal_error": "😔 Something went wrong. We are looking into it; please try again.",
    # Admin alerts
    "unknown_command": "I don't know this command. Commands: /help",
    # Plans and subscriptions
    "btn_plans": "💎 Plans",
    "btn_promo": "🎟 Enter a promo code",
    "btn_buy": "Buy {plan} — {price:money} RUB",
    "plans": "<b>Plans</b> (access for {days:plural:day|days})\n\n{plans}\n\nHave a promo code? /promo CODE",
    "plan_line": "<b>{plan}</b> — {price:money} RUB\nModels: {models}",
    "profile_plans": "<b>Subscriptions</b>\n{plans}",
    "profile_plan_line": "• <b>{plan}</b> — until {end}\n  Models: {models}",
    # Promo codes
    "promo_ask": "Send the promo code as one message.",
    "promo_ok": (
        "🎉 Promo code activated: <b>{plan}</b> for {days:plural:day|days}, until {end}.\n"
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
    "admin_days_range": "Days: from 1 to {max_days}. Nothing was changed.",
    "admin_uses_range": "Activations: from 1 to {max_uses}. Nothing was changed.",
    "admin_user_id_range": "No Telegram user has such an id. Nothing was changed.",
    "admin_revoke_usage": "Usage: /revoke USER_ID [PLAN]\nPlans: {plans}",
    "admin_promo_new_usage": (
        "Usage: /promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]\n"
        "CODE: 3-32 characters, Latin letters, digits, _ and -.\nPlans: {plans}"
    ),
    "admin_promo_del_usage": "Usage: /promo_del CODE",
    "admin_unknown_plan": "There is no plan “{plan}”. Valid plans: {plans}",
    "admin_granted": "✅ User <code>{user_id}</code> got <b>{plan}</b> for {days:plural:day|days}, until {end}.",
    "admin_revoked": "✅ Turned off for user <code>{user_id}</code>: {plans}.",
    "admin_nothing_to_revoke": "User <code>{user_id}</code> has no active subscriptions{plan}.",
    "admin_promo_created": (
        "✅ Promo code <code>{code}</code>: {plan} for {days:plural:day|days}, "
        "activations: {max_uses}, valid until: {until}."
    ),
    "admin_promo_exists": "Promo code <code>{code}</code> already exists.",
    "admin_promo_bad_code": "A code is 3-32 characters: Latin letters, digits, _ and -.",
    "admin_promo_bad_numbers": "DAYS is 1 to {max_days}, MAX_USES 1 to {max_uses}, the date YYYY-MM-DD.",
    "admin_promo_list": "<b>Promo codes</b>\n{items}\n\n{total}",
    "admin_promo_total": "In all: {count:plural:code|codes}, {uses:plural:activation|activations}",
    "admin_promo_older": "…older ones not shown: {count}; the whole list: /promo_list",
    "admin_promo_item": "<code>{code}</code> — {plan}, {days:plural:day|days}, used {used}/{max_uses}, until {until}{state}",
    "admin_promo_empty": "No promo codes yet. Create one: /promo_new",
    "admin_promo_deleted": "🗑 Promo code <code>{code}</code> deleted.",
    "admin_promo_not_found": "There is no promo code <code>{code}</code>.",
    "no_limit": "unlimited",
    "no_date": "no end date",
    "disabled_mark": " (disabled)",
    # Payments
    "pay_choose_method": "<b>{plan}</b> — {price:money} RUB for {days:plural:day|days}\nModels: {models}",
    "btn_pay_yoomoney": "💳 YooMoney (card)",
    "btn_pay_sbp": "🏦 SBP via a manager",
    "btn_pay_stars": "⭐ Telegram Stars ({stars:money} ⭐)",
    "btn_pay_link": "Pay {price:money} RUB",
    "btn_check_payment": "🔄 Check payment",
    "btn_sbp_paid": "✅ Payment sent",
    "btn_sbp_receipt": "📎 Send receipt",
    "btn_receipt_yes": "Yes, it is the receipt: send it to the manager",
    "btn_receipt_no": "No, it is a question",
    "btn_pay_again": "🔁 Pay again",
    "btn_support": "💬 Contact support",
    "pay_terms_both": (
        'By paying, you accept the <a href="{offer}">terms of the offer</a> '
        'and the <a href="{privacy}">privacy policy</a>.'
    ),
    "pay_terms_offer": 'By paying, you accept the <a href="{offer}">terms of the offer</a>.',
    "pay_terms_privacy": 'By paying, you accept the <a href="{privacy}">privacy policy</a>.',
    "pay_yoomoney": (
        "Invoice <code>{payment_id}</code>: <b>{plan}</b>, {price:money} RUB.\n"
        "Press “Pay” to open the YooMoney form. Payment is checked automatically, "
        "usually within a couple of minutes; you can also press “Check payment”.\n"
        "The invoice is valid for {hours:plural:hour|hours}."
    ),
    "pay_sbp": (
        "Payment No. <code>{number}</code>: <b>{plan}</b>, {price:money} RUB.\n\n"
        "Transfer this amount via SBP:\n{details}\n\n"
        "Put the payment number in the transfer comment: <code>{number}</code>\n\n"
        "After the transfer, press “Send receipt” and send a screenshot or file of the "
        "receipt: the check goes faster. No receipt? Press “Payment sent”.\n"
        "The manager usually confirms a payment within {hours:plural:hour|hours}; "
        "we will write here right away."
    ),
    "pay_sbp_receipt_prompt": (
        "Send the receipt for payment No. {number} as your next message: a screenshot or a "
        "file. Changed your mind? Press “Cancel”."
    ),
    "pay_sbp_receipt_canceled": (
        "OK, no receipt sent. You can send it later with “Send receipt” under the invoice."
    ),
    "pay_sbp_is_receipt": (
        "Is this the receipt for payment No. {number}? If yes, I will pass it to the manager. "
        "If not, I will answer it as a question."
    ),
    "pay_sbp_not_receipt": "OK, it is a question; answering.",
    "pay_sbp_held_gone": "I no longer have that message; please send it again.",
    "pay_sbp_sent": (
        "Thank you! The receipt for payment No. {number} went to the manager. The check "
        "usually takes at most {hours:plural:hour|hours}; we will write here once the "
        "payment is confirmed."
    ),
    "pay_sbp_sent_no_receipt": (
        "Thank you! The manager knows payment No. {number} was sent, without a receipt for "
        "now: they will find the transfer by the number in its comment. This usually takes "
        "at most {hours:plural:hour|hours}; we will write here. A receipt makes it faster: "
        "press “Send receipt” under the invoice."
    ),
    "pay_sbp_already_sent": (
        "Payment No. {number} is already being checked by the manager. We will write once "
        "they are done."
    ),
    "pay_not_configured": "This payment method is unavailable right now. Please choose another.",
    "pay_pending": "The payment has not arrived yet. If you have paid, please wait a couple of minutes.",
    "pay_check_too_soon": "We check at most once every 15 seconds. Try again in {seconds:plural:second|seconds}.",
    "pay_check_failed": "Could not check the payment right now. We will check automatically.",
    "pay_not_found": "Invoice not found.",
    "pay_already_paid": "This invoice is already paid. Thank you!",
    "pay_closed_rejected": (
        "Payment No. {number} was rejected by the manager. If the money has left your "
        "account, contact support with the receipt; or pay again."
    ),
    "pay_closed_refunded": "Payment No. {number} was refunded. You can pay for the plan again.",
    "pay_success": "✅ Payment received! <b>{plan}</b> is active until {end}.\nChoose a model: /model",
    "pay_rejected": (
        "❌ The manager did not confirm payment No. {payment_id}: {reason}\n"
        "If the money has left your account, contact support with the receipt. "
        "Or pay again."
    ),
    "pay_refunded": "↩️ Payment for invoice <code>{payment_id}</code> was refunded; {plan} is turned off.",
    "stars_title": "{plan} — {days:plural:day|days}",
    "stars_description": "Access to models: {models}",
    "stars_invalid": "This invoice is no longer valid. Create a new one: /plans",
    # Stars subscriptions (renew themselves every 30 days)
    "btn_pay_stars_monthly": "⭐ Stars, renews monthly ({stars:money} ⭐)",
    "stars_sub_title": "{plan} — monthly",
    "stars_sub_offer": (
        "<b>{plan}</b> — {stars:money}\u00a0⭐ for {days:plural:day|days}, a Telegram Stars subscription.\n"
        "Telegram renews it by itself every {days:plural:day|days} until you cancel it "
        "(a button in /profile). Press the button below to subscribe."
    ),
    "btn_stars_sub_pay": "⭐ Subscribe: {stars} a month",
    "stars_sub_already": "Your Stars subscription to {plan} already renews by itself. Manage it in /profile.",
    "pay_subscribed": (
        "✅ Payment received! <b>{plan}</b> is active until {end}.\n"
        "The Stars subscription renews by itself every 30 days; you can cancel renewal in /profile.\n"
        "Choose a model: /model"
    ),
    "pay_renewed": "🔄 Stars subscription renewed: <b>{plan}</b> is active until {end}.",
    "pay_refunded_subscription": (
        "↩️ Payment <code>{payment_id}</code> was refunded and its period of {plan} taken back. "
        "The Stars subscription no longer renews."
    ),
    "profile_renewal_on": "⭐ {plan}: Stars subscription, renews on {date} ({stars:money}\u00a0⭐)",
    "profile_renewal_off": "⭐ {plan}: renewal cancelled, the plan runs to its end",
    "btn_renewal_cancel": "Cancel renewal: {plan}",
    "btn_renewal_resume": "Resume renewal: {plan}",
    "renewal_canceled": (
        "Renewal of your Stars subscription to {plan} is cancelled; you will not be charged again. "
        "The plan runs until {end}. Changed your mind? “Resume renewal” in /profile."
    ),
    "renewal_resumed": "Renewal of your Stars subscription to {plan} is back on: next charge on {date}, {stars:money}\u00a0⭐.",
    "renewal_not_running": "This subscription is no longer running.",
    "renewal_busy": "Already in progress, one moment.",
    "renewal_failed": "Telegram did not accept the change: {error}. Try later or write to /paysupport.",
    "renewal_cancel_failed": (
        "We could not cancel the renewal of your Stars subscription to {plan}: Telegram did not "
        "accept it. Please cancel it yourself: Telegram Settings → My Stars → the subscription. "
        "The manager knows; questions: /paysupport."
    ),
    "pay_delayed": (
        "✅ Payment received, but the plan could not be turned on right away. It turns on by "
        "itself within a few minutes; the money is not lost. If it does not, write to /paysupport."
    ),
    "support_contact": (
        "💬 <b>Support</b>\nWrite to {contact}: we answer questions about payments, plans "
        "and the bot. If it is about a payment, give its number.\n"
        "Stars can be refunded if the access was not used yet."
    ),
    "support_write": (
        "💬 <b>Support</b>\nWrite your question in one message (a photo or file is fine): "
        "the admins get it, and the answer comes to this chat. If it is about a payment, "
        "give its number.\nStars can be refunded if the access was not used yet."
    ),
    "support_unavailable": "Support is unavailable right now; please try later.",
    "support_sent": "Thank you! Your question went to support; the answer comes to this chat.",
    "support_canceled": "OK, nothing sent.",
    "support_answer": "💬 <b>Support answers</b>\n{text}",
    "btn_support_open": "💬 Open the support chat",
    "btn_support_more": "💬 Write again",
    # Admin: payments
    "admin_sbp_request": (
        "🏦 <b>SBP: check the payment</b>\nNumber in the comment: <code>{number}</code>\n"
        "Invoice <code>{payment_id}</code>\n"
        "User: {user} (<code>{user_id}</code>)\nPlan: {plan}\nAmount: {price:money} RUB\n{receipt}"
    ),
    "admin_receipt_attached": "The receipt is in the message above.",
    "admin_receipt_none": "The user reported the payment without a receipt.",
    "admin_support_request": (
        "💬 <b>Support question</b>\nFrom: {user} (<code>{user_id}</code>)\n"
        "The message is above. Answer with the button below."
    ),
    "btn_support_reply": "↩️ Answer",
    "admin_support_reply_ask": "Write the answer for {user} in one message.",
    "admin_support_replied": "Answer sent.",
    "admin_support_reply_failed": "Answer not delivered: {reason}",
    "btn_confirm": "✅ Confirm",
    "btn_reject": "❌ Reject",
    "btn_default_reason": "Default reason",
    "admin_reject_ask": "Write the reason for rejecting <code>{payment_id}</code> or press the button.",
    "admin_default_reason": "payment not found",
    "admin_paid": (
        "💰 <b>Payment</b> {method}: invoice <code>{payment_id}</code>\n"
        "User: {user} (<code>{user_id}</code>)\nPlan: {plan} until {end}\nAmount: {amount}"
    ),
    "admin_confirmed": "✅ Invoice <code>{payment_id}</code> confirmed.",
    "admin_already_decided": "Invoice <code>{payment_id}</code> was already handled: {status}.",
    "admin_rejected": "❌ Invoice <code>{payment_id}</code> rejected: {reason}",
    "admin_refunded": "↩️ Invoice <code>{payment_id}</code>: Stars refunded, the period taken back.",
    "admin_refund_failed": "Could not refund the Stars: {error}",
    "admin_refund_retrying": (
        "Telegram did not answer the refund ({error}). The bot retries by itself and tells you "
        "when the Stars are back."
    ),
    "admin_refund_in_progress": "A refund of <code>{payment_id}</code> is already under way.",
    "admin_refund_renewal_retrying": (
        "Telegram has not accepted cancelling the Stars subscription's renewal yet ({error}); "
        "the bot retries by itself."
    ),
    "admin_refund_renewal_stopped": "The Stars subscription of this payment no longer renews (editUserStarSubscription).",
    "admin_refund_renewal_failed": (
        "Could not cancel the Stars subscription's renewal: {error}. "
        "Charges that still arrive for it are not credited but listed as not credited (/payments)."
    ),
    "admin_confirm_not_sbp": "Invoice <code>{payment_id}</code> ({method}) cannot be confirmed by hand: it is credited by itself when the money arrives. Only SBP payments are confirmed by hand.",
    "admin_refund_only_stars": "Refund by command works for Stars payments only.",
    "admin_payment_usage": "Usage: /{command} PAYMENT_ID",
    "admin_payments": (
        "<b>Payments</b>\n<b>Need a manager</b> (SBP, the user says it is paid): {manager}\n{manager_list}\n\n"
        "<b>Waiting for the user</b> (invoice issued, not paid yet): {waiting}\n{waiting_list}\n\n"
        "<b>Recently paid</b>\n{paid_list}\n\n"
        "<b>Not credited</b> (money that arrived but matched no open invoice): {unmatched}\n{unmatched_list}\n\n"
        "{total}"
    ),
    "admin_payments_total": "Total paid: {rub:money} RUB and {stars:money}\u00a0⭐ ({count:plural:payment|payments})",
    "admin_list_older": "…older ones not shown: {count}",
    "admin_list_below": "…and {count} more — listed below",
    "admin_unmatched_line": "<code>{money_id}</code> {amount} — invoice {payment_id}, user {user_id}: {reason}",
    "admin_settle_usage": "Usage: /settle ID — mark money that was not credited as handled (ID from /payments)",
    "admin_settled": "Marked as handled: <code>{money_id}</code>.",
    "admin_settle_unknown": "No open record <code>{money_id}</code>.",
    "admin_payment_line": "<code>{payment_id}</code> {method} {plan} {amount} — {user_id}, {status}, {when}",
    "none": "—",
    "amount_received": "{amount} ({received:money} RUB received)",
    # Admin panel
    "admin_panel": "<b>Admin panel</b>\nUsers: {users} · active subscriptions: {subs} · pending payments: {pending}",
    "btn_admin_users": "👤 Users",
    "btn_admin_payments": "💰 Payments",
    "btn_admin_spenders": "💸 Costliest this month",
    "btn_admin_inviters": "👥 Top inviters",
    "btn_admin_stats": "📊 Statistics",
    "btn_admin_promo": "🎟 Promo codes",
    "btn_admin_broadcast": "📣 Broadcast",
    "btn_back": "« Back",
    "btn_cancel": "Cancel",
    "btn_export_csv": "⬇️ Export CSV",
    "btn_grant": "➕ Grant / extend",
    "btn_revoke": "➖ Revoke",
    "btn_all_plans": "All plans",
    "btn_yes": "✅ Yes",
    "btn_new_promo": "➕ New promo code",
    "btn_disable": "⏸ {code}",
    "btn_enable": "▶️ {code}",
    "btn_delete": "🗑 {code}",
    "btn_skip": "Skip",
    "btn_send": "📣 Send",
    "btn_stop": "⏹ Stop",
    "admin_find_ask": "Send a user id, @username or name. Cancel: /cancel",
    "admin_user_not_found": "User “{query}” not found. Try again or /cancel",
    "admin_user_card": (
        "<b>User</b> {name} (<code>{user_id}</code>)\n"
        "Language: {language} · model: {model} · since {since}{blocked}\n"
        "Messages in 30 days: {messages}\n"
        "This month: paid {paid} · provider cost {cost:dec2} RUB\n\n"
        "<b>Subscriptions</b>\n{plans}\n\n<b>Payments</b>\n{payments}"
    ),
    "admin_paid_amount": "{rub:money} RUB, {stars:money}\u00a0⭐",
    "admin_user_blocked": " · blocked the bot",
    "admin_choose_plan": "Choose a plan for <code>{user_id}</code>:",
    "admin_choose_days": "How many days of <b>{plan}</b> for <code>{user_id}</code>?",
    "admin_confirm_grant": "Grant <b>{plan}</b> for {days:plural:day|days} to user <code>{user_id}</code>?",
    "admin_confirm_revoke": "Revoke {plan} from user <code>{user_id}</code>?",
    "admin_payments_section": (
        "<b>Payments</b>\n<b>Need a manager</b> (SBP, the user says it is paid):\n{pending}\n"
        "Waiting for the user (invoice issued, not paid yet): {waiting}\n\n"
        "<b>By day (7 days)</b>\n{by_day}\n\n<b>By month (last 12)</b>\n{by_month}\n\n"
        "<b>By method</b>\n{by_method}\n\n{total}"
    ),
    "admin_status_pending": "pending",
    "admin_status_paid": "paid",
    "admin_status_rejected": "rejected",
    "admin_status_expired": "expired",
    "admin_status_refunded": "refunded",
    "btn_confirm_payment": "✅ {payment} · {amount}",
    "btn_reject_payment": "❌ Reject {payment}",
    "admin_revenue_line": "{name}: {rub:money} RUB, {stars:money}\u00a0⭐ ({count})",
    "admin_pending_item": "⏳ <code>{payment_id}</code> {method} {plan} {amount} — {user_id}",
    "admin_stats": (
        "<b>Statistics</b>\n"
        "Users: {users_total} · new today: {new_today} · active in 7 days: {active_7d}\n\n"
        "<b>Active subscriptions</b>\n{subs}\n\n"
        "<b>Revenue</b>\nToday: {rev_today}\n7 days: {rev_7d}\n30 days: {rev_30d}\n\n"
        "<b>Provider costs and margin</b> (RUB, at {rate} RUB/USD, ⭐ at {star_rate} RUB)\n"
        "Today: {cost_today:dec2} · margin {margin_today:dec2}\n7 days: {cost_7d:dec2} · margin {margin_7d:dec2}\n"
        "30 days: {cost_30d:dec2} · margin {margin_30d:dec2}{unpriced}\n\n"
        "<b>Plans in 30 days</b> (revenue · cost · margin, RUB)\n{plans_margin}\n\n"
        "<b>Models in 30 days</b> (messages · failures · tokens in/out · cost RUB)\n{models}{voice}\n\n"
        "Free length-limit refusals (30 days): {refusals}"
    ),
    "admin_stats_referrals": "<b>Top inviters</b> (invited · rewarded)\n{lines}",
    "admin_stats_referrals_none": "No invited users yet.",
    "admin_stats_referral_line": "{user} (<code>{user_id}</code>): {invited} · {rewarded}",
    "admin_stats_voice": "\n🎤 Voice transcription: {cost:dec2}\u00a0₽",
    "admin_stats_model": "{model}: {messages:num} · {failures:num} · {prompt:num}/{completion:num} · {cost:dec2}",
    "admin_stats_unpriced": "\nWithout a price in the catalog (cost unknown): {count:plural:answer|answers}",
    "admin_cost_unknown": "unknown",
    "admin_stats_plan_margin": "{plan}: {revenue:dec2} · {cost:dec2} · {margin:dec2}",
    "admin_free_tier": "Free models",
    "admin_top_spenders": "<b>The costliest users this month</b>\n{lines}",
    "admin_top_spenders_none": "No provider costs this month yet.",
    "admin_top_spender_line": "<code>{user_id}</code> {name} — {cost:dec2} RUB",
    "admin_chart_title": "Revenue and costs (RUB), new users over 30 days",
    "admin_chart_revenue": "Revenue, RUB",
    "admin_chart_cost": "Model costs, RUB",
    "admin_chart_users": "New users",
    "admin_chart_money_axis": "RUB",
    "admin_chart_users_axis": "Users",
    "admin_promo_section": "<b>Promo codes</b>\n{items}\n\n{total}",
    "admin_promo_wizard_code": "Step 1/5. Choose a code (3-32 characters: Latin letters, digits, _ and -). Cancel: /cancel",
    "admin_promo_wizard_plan": "Step 2/5. Which plan does <code>{code}</code> open?",
    "admin_promo_wizard_days": "Step 3/5. How many days? Choose or type a number.",
    "admin_promo_wizard_uses": "Step 4/5. How many activations in total? (a number, or Skip for unlimited)",
    "admin_promo_wizard_date": "Step 5/5. Last valid day: 2030-12-31 or 31.12.2030 (or Skip)",
    "admin_number_range": "A whole number from 1 to {maximum}, please.",
    "admin_date_expected": "A date, please: 2030-12-31 or 31.12.2030.",
    "admin_date_past": "That date has passed. Today or a later day, please.",
    "admin_promo_exists_retry": (
        "The code <code>{code}</code> already exists. Choose another or /cancel"
    ),
    "admin_step_waiting": (
        "An admin step is waiting: this does not answer it and was not sent to a model. "
        "Answer the last question (or press its button), or leave: /cancel"
    ),
    "admin_users_found": "“{query}”: {count:plural:user|users}. Choose one:",
    "admin_user_gone": "User not found.",
    "admin_cancelled": "Cancelled.",
    "admin_broadcast_ask": (
        "Send the message to broadcast (formatted text, photo, video or file). Cancel: /cancel"
    ),
    "admin_broadcast_preview": "This is what {count:plural:user|users} will get (users who blocked the bot are skipped). Send?",
    "admin_broadcast_progress": (
        "📣 Broadcast <code>{broadcast_id}</code>: {processed}/{total}\n"
        "Delivered: {delivered} · blocked: {blocked} · failed: {failed} · skipped: {skipped}"
    ),
    "admin_broadcast_done": (
        "✅ Broadcast <code>{broadcast_id}</code> finished.\n"
        "Delivered: {delivered} · blocked: {blocked} · failed: {failed} · skipped: {skipped}"
    ),
    "admin_broadcast_cancelled": (
        "⏹ Broadcast <code>{broadcast_id}</code> stopped.\n"
        "Delivered: {delivered} · blocked: {blocked} · failed: {failed}"
    ),
    "admin_broadcast_resumed": "🔁 Broadcast <code>{broadcast_id}</code> resumed after a restart.",
    "admin_broadcast_taken": "This broadcast has already been started or cancelled.",
    "admin_broadcast_busy": "Broadcast <code>{broadcast_id}</code> is still running. Wait for it or stop it.",
}
