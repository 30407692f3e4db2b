"""Русские тексты (язык по умолчанию)."""

TEXTS: dict[str, str] = {
    # Commands menu
    "cmd_start": "Начать и показать текущую модель",
    "cmd_model": "Выбрать модель",
    "cmd_new": "Новый диалог",
    "cmd_profile": "Профиль и подписки",
    "cmd_plans": "Тарифы и оплата",
    "cmd_promo": "Активировать промокод",
    "cmd_cancel": "Остановить ответ или действие",
    "cmd_support": "Поддержка: оплата и вопросы",
    "cmd_help": "Помощь",
    "cmd_invite": "Пригласить друзей",
    # Start, help, profile
    "bot_description": (
        "GPT, Gemini, DeepSeek, Grok и другие ИИ-модели прямо в Telegram: ответы на "
        "вопросы, тексты, переводы, код. Понимаю фото, голосовые и файлы.\n\n"
        "Бесплатно: {allowance}. Больше моделей и без ограничений — тарифы от {price:money}\u00a0₽.\n\n"
        "Нажмите «Старт» и задайте вопрос."
    ),
    "bot_short_description": (
        "GPT, Gemini, DeepSeek и другие ИИ-модели в Telegram. Бесплатно — {count:plural:запрос|запроса|запросов} в день."
    ),
    "start": (
        "Привет, {name}! 👋\n\n"
        "В этом чате — GPT, Gemini, DeepSeek, Grok и другие ИИ-модели. "
        "Спросите что угодно: объясню, переведу, напишу текст или код.\n\n"
        "🆓 Бесплатно: {allowance}.\n"
        "💎 Больше моделей и без ограничений — тарифы от {price:money}\u00a0₽ за {days:plural:день|дня|дней}.\n"
        "📎 Понимаю {media}.\n\n"
        "Просто напишите вопрос или попробуйте пример:"
    ),
    "start_media_photos": "фото",
    "start_media_voice": "голосовые",
    "start_media_files": "файлы (PDF, тексты, код)",
    "example_1": "Объясни простыми словами, как работает ипотека",
    "example_2": "Составь план тренировок на неделю для новичка",
    "example_3": "Переведи на английский: «Спасибо, встреча переносится на пятницу»",
    "btn_example": "💡 {question}",
    "example_asked": "💡 {question}",
    "example_busy": "Сейчас пишется ответ — пример можно спросить, когда он закончится.",
    "btn_start_models": "🤖 Модели",
    "btn_start_profile": "👤 Профиль",
    "btn_start_invite": "🎁 Пригласить",
    "btn_start_support": "💬 Поддержка",
    # The free allowance: the same words in /start, /help, /profile and the refusals
    "allowance_each": "{models} — по {count:plural:запросу|запроса|запросов} в день к каждой",
    "allowance_one": "{model} — {count:plural:запрос|запроса|запросов} в день",
    "allowance_none": "{models}",
    "help": (
        "<b>Как пользоваться</b>\n"
        "Напишите сообщение — модель ответит, учитывая предыдущие сообщения диалога.\n\n"
        "/model — выбрать модель\n"
        "/new — начать новый диалог (прежние сохранятся)\n"
        "/chats — ваши диалоги: продолжить, переименовать, удалить\n"
        "/mode — режим ассистента: переводчик, программист, редактор или своя инструкция\n"
        "/forget — удалить все диалоги\n"
        "/cancel — остановить ответ\n"
        "/profile — ваша модель и подписки\n"
        "/plans — тарифы: больше моделей и без ограничения длины\n"
        "/promo КОД — активировать промокод\n"
        "/invite — пригласить друзей и получить бонус\n"
        "/support — поддержка: вопросы об оплате и работе бота\n\n"
        "Бесплатно: {allowance}; запрос до {free_limit:plural:символа|символов|символов}."
    ),
    "profile": (
        "<b>Профиль</b>\n"
        "ID: <code>{user_id}</code>\n"
        "Модель: <b>{model}</b>\n\n"
        "{plans}\n\n"
        "Бесплатно: {allowance}; запрос до {free_limit:plural:символа|символов|символов}.\n\n"
        "{referrals}"
    ),
    "profile_no_plans": "Активных подписок нет. Тарифы: /plans",
    "profile_referrals": (
        "👥 У вас {invited:plural:приглашённый|приглашённых|приглашённых}, "
        "бонус получен за {rewarded:plural:оплатившего|оплативших|оплативших}. Ссылка: /invite"
    ),
    # Referrals
    "invite": ("🎁 <b>Пригласите друзей</b>\n\nВаша личная ссылка:\n{link}\n\n{offer}\n\n{counts}"),
    "invite_counts": (
        "Пришли по вашей ссылке: {invited:plural:друг|друга|друзей}; бонус получен за "
        "{rewarded:plural:оплатившего|оплативших|оплативших}."
    ),
    "invite_none_yet": "По вашей ссылке пока никто не пришёл — отправьте её друзьям кнопкой ниже.",
    "invite_share_text": "Попробуй этого бота: GPT, Gemini, DeepSeek и другие ИИ в одном чате",
    "btn_share_invite": "📤 Поделиться ссылкой",
    "start_invited": "🎁 Вы пришли по приглашению друга — добро пожаловать!",
    "referral_friend": "без имени",
    "referral_joined": "👥 По вашей ссылке пришёл друг: {name}.{then}",
    "referral_joined_bonus": " Когда друг впервые оплатит тариф, вы получите {bonus}.",
    "profile_referrals_none": (
        "👥 Пригласите друзей — за первую оплату каждого вы получите бонус: /invite"
    ),
    "invite_bonus": (
        "Когда друг, впервые открывший бота по этой ссылке, оплатит любой тариф, вы получите "
        "{bonus} — за первую оплату каждого друга."
    ),
    "invite_no_bonus": "Поделитесь ссылкой с друзьями — мы посчитаем, кого вы пригласили.",
    "referral_reward": (
        "🎁 Приглашённый вами друг оплатил подписку! Вам начислено: {bonus}.{until}\n"
        "Спасибо, что рекомендуете нас! Ваша ссылка: /invite"
    ),
    "referral_reward_until": " Тариф <b>{plan}</b> активен до {end}.",
    "bonus_plan_days": "{days:plural:день|дня|дней} тарифа <b>{plan}</b>",
    "bonus_requests": (
        "+{requests:plural:запрос|запроса|запросов} в день к бесплатным моделям "
        "на {days:plural:день|дня|дней}"
    ),
    "and_join": " и ",
    # Models
    "model_menu": (
        "Выберите модель. Сейчас: <b>{model}</b>\n\n{models}\n\n"
        "🔒 — нужна подписка, ⛔ — временно недоступна."
    ),
    "model_chosen": "Готово! Теперь отвечает <b>{model}</b>.",
    "model_line_name": "• <b>{model}</b>",
    "model_line_about": " — {about}",
    "model_line_free": " · бесплатно",
    "model_line_price": " · от {price:money}\u00a0₽ ({plan})",
    "model_line_answered_by": " · отвечает {model}",
    "model_locked_menu": "🔒 Модель доступна по подписке: {plans}.\n\n{line}\n\nВыберите тариф:",
    "model_locked_answered_by": (
        "Название {model} осталось от модели, которую провайдер заменил: на ваши вопросы "
        "отвечает <b>{real}</b>."
    ),
    "btn_plan_price": "{plan} — {price:money}\u00a0₽",
    "btn_extend": "Продлить {plan} — {price:money}\u00a0₽",
    "plan_line_active": "<b>{plan}</b> — {price:money}\u00a0₽ · ✅ активен до {end}\nМодели: {models}",
    "pay_extends": "✅ {plan} уже активен до {end}. Оплата продлит его до <b>{new_end}</b>.",
    "pay_choose_method_ask": "Выберите способ оплаты:",
    "promo_try_again": "{error}\nОтправьте код ещё раз или нажмите «Отмена».",
    "promo_cancelled": "Хорошо, промокод не вводим.",
    "chats_rename_cancelled": "Хорошо, название прежнее.",
    "model_locked": ("🔒 <b>{model}</b> доступна по подписке: {plans}.\nОформить: /plans"),
    "model_unavailable": "⛔ <b>{model}</b> сейчас недоступна. Выберите другую модель: /model",
    "model_unknown": "Такой модели больше нет. Выберите из списка: /model",
    "model_not_served": "⛔ <b>{model}</b> больше не предоставляется через {provider}. Выберите другую модель: /model",
    "model_not_served_line": "⛔ {model}: больше не предоставляется через {provider}",
    "model_moved": (
        "ℹ️ <b>{old}</b> больше не предоставляется через {provider}, поэтому теперь "
        "отвечает <b>{new}</b>. Выбрать другую модель: /model"
    ),
    # Chat
    "new_done": "🆕 Начат новый диалог. Прежние сохранены: /chats",
    "new_dropped_one": "ℹ️ Можно хранить не больше {limit:plural:диалога|диалогов|диалогов}, поэтому самый давний — «{title}» — удалён вместе с историей.",
    "new_dropped_many": "ℹ️ Можно хранить не больше {limit:plural:диалога|диалогов|диалогов}, поэтому {count:plural:самый давний удалён|самых давних удалены|самых давних удалены} вместе с историей: {titles}.",
    "new_dropped_title": "«{title}»",
    "new_dropped_others": "и другие",
    "cancel_done": "⏹ Ответ остановлен.",
    "cancel_nothing": "Сейчас нечего отменять.",
    "queue_full": "⏳ В очереди уже {limit:plural:сообщение|сообщения|сообщений} — больше не помещается. Дождитесь ответа или нажмите /cancel.",
    "empty_request": "Напишите вопрос текстом.",
    "too_long": (
        "✂️ Запрос слишком длинный: {length:plural:символ|символа|символов} при лимите {limit} для бесплатных моделей.\n"
        "Сократите запрос или оформите любую подписку — ограничение длины снимется: /plans"
    ),
    "only_text": (
        "Я понимаю текст, фото, голосовые сообщения, текстовые файлы и PDF. "
        "Стикеры и видео пока не понимаю — напишите вопрос текстом."
    ),
    "too_long_for_model": (
        "✂️ Запрос слишком длинный для {model}: {length:plural:символ|символа|символов}, "
        "а модель принимает около {limit}. Сократите текст или выберите модель "
        "с большим контекстом: /model"
    ),
    "model_blind": (
        "🖼 {model} не видит изображения. Их понимают: {models}. Выбрать модель: /model"
    ),
    "voice_off": "🎤 Голосовые сообщения пока не распознаются. Напишите вопрос текстом.",
    "voice_too_long": (
        "🎤 Голосовое слишком длинное: предел — {limit:minutes:минута|минуты|минут}. "
        "Разбейте его на части или напишите текстом."
    ),
    "voice_too_long_free": (
        "🎤 Без подписки предел голосового — {limit:minutes:минута|минуты|минут} "
        "(столько помещается в бесплатный запрос). Запишите покороче или оформите подписку."
    ),
    "voice_free_day": (
        "🎤 Бесплатные {limit:minutes:минута|минуты|минут} распознавания на сегодня "
        "закончились: завтра лимит обновится, а с подпиской ограничения нет."
    ),
    "voice_empty": "🎤 Не удалось разобрать речь. Попробуйте ещё раз или напишите текстом.",
    "voice_failed": (
        "🎤 Не удалось распознать голосовое: сервис распознавания временно недоступен. "
        "Попробуйте позже или напишите текстом."
    ),
    "voice_heard": "🎤 <i>{text}</i>",
    "voice_transcript_too_long": (
        "🎤 Расшифровка голосового длиннее, чем вмещает бесплатный запрос "
        "(до {limit:plural:символа|символов|символов}), поэтому вопрос не отправлен. "
        "Запишите покороче или оформите подписку — ограничение длины снимется."
    ),
    "voice_transcript_too_long_for_model": (
        "🎤 Расшифровка голосового длиннее, чем {model} принимает за раз "
        "(около {limit:plural:символа|символов|символов}), поэтому вопрос не отправлен. "
        "Запишите покороче или выберите модель с большим контекстом: /model"
    ),
    "file_unsupported": (
        "📎 Этот файл не прочитать. Я понимаю текстовые файлы (txt, md, csv, json, код…) "
        "и PDF с текстовым слоем."
    ),
    "file_too_big": "📎 Файл слишком большой: читаю файлы до {mb} МБ.",
    "file_empty": "📎 В файле нет текста (если это скан — пришлите текст, а не изображение).",
    "file_unreadable": "📎 Файл повреждён или защищён паролем — прочитать его не удалось.",
    "file_download_failed": "📎 Не удалось получить файл от Telegram. Попробуйте отправить его ещё раз.",
    "empty_answer": "Модель вернула пустой ответ. Попробуйте переформулировать вопрос.",
    "answer_cut": "\n\n⚠️ Ответ оборвался: модель прервала соединение.",
    "btn_retry": "🔄 Ещё раз",
    "stop_done": "Остановлено",
    "stop_nothing": "Ответ уже закончен",
    "retry_nothing": "Повторять нечего: начните с нового сообщения",
    "retry_not_last": "Повторить можно только последний ответ",
    "retry_busy": "Сначала дождитесь текущего ответа",
    "cmd_chats": "Мои диалоги",
    "cmd_mode": "Режим ассистента",
    "cmd_admin_admin": "Админ-панель",
    "cmd_admin_stats": "Статистика и график",
    "cmd_admin_payments": "Платежи: ожидающие и выручка",
    "cmd_admin_grant": "Выдать тариф: ID тариф дни",
    "cmd_admin_revoke": "Отозвать тариф: ID [тариф]",
    "cmd_admin_confirm": "Подтвердить оплату по СБП: номер",
    "cmd_admin_reject": "Отклонить оплату по СБП: номер причина",
    "cmd_admin_refund": "Вернуть оплату звёздами: номер",
    "cmd_admin_settle": "Отметить незачтённые деньги разобранными",
    "cmd_admin_promo_new": "Новый промокод",
    "cmd_admin_promo_list": "Все промокоды",
    "cmd_admin_promo_del": "Удалить промокод",
    "cmd_admin_broadcast": "Рассылка всем пользователям",
    "chats_list": "<b>Диалоги</b> ({count:plural:диалог|диалога|диалогов}; ▶️ — текущий):\n{items}\n\nНажмите на диалог, чтобы продолжить его.",
    "chats_item": "{mark} {title} — {date}, {model}",
    "chats_untitled": "Новый диалог",
    "chats_switched": "Продолжаем: {title}",
    "chats_gone": "Этого диалога уже нет.",
    "chats_rename_ask": "Как назвать текущий диалог? Отправьте название одним сообщением в течение 5 минут или нажмите «Отмена».",
    "chats_renamed": "✏️ Диалог переименован: {title}",
    "chats_delete_ask": "Удалить текущий диалог вместе с его историей? Это нельзя отменить.",
    "chats_deleted": "🗑 Диалог удалён.",
    "btn_chat_new": "➕ Новый диалог",
    "btn_chat_rename": "✏️ Переименовать текущий",
    "btn_chat_delete": "🗑 Удалить текущий",
    "btn_yes_delete": "Да, удалить",
    "forget_ask": "Удалить <b>все</b> ваши диалоги и их историю? Это нельзя отменить.",
    "btn_yes_forget": "Да, удалить всё",
    "forget_done": "🧹 Все диалоги удалены. Мы больше не храним их текст.",
    "mode_menu": "Режим текущего диалога: <b>{mode}</b>.\nВыберите ассистента или задайте свою инструкцию:",
    "mode_set": "Режим: {mode}",
    "mode_unknown": "Такого режима нет.",
    "mode_custom_name": "своя инструкция",
    "btn_mode_custom": "✍️ Своя инструкция",
    "mode_custom_ask": "Опишите, каким должен быть ассистент в этом диалоге (до {limit:plural:символа|символов|символов}). Отмена — /cancel",
    "mode_custom_too_long": "Инструкция слишком длинная: {length:plural:символ|символа|символов} из {limit}. Сократите и отправьте снова.",
    "mode_custom_preview": "Ваша инструкция:\n\n<blockquote>{instruction}</blockquote>\n\nИспользовать её в этом диалоге?",
    "btn_mode_use": "✅ Использовать",
    "mode_custom_expired": "Инструкция не найдена — задайте её снова: /mode",
    "mode_custom_set": "✅ Готово: этот диалог следует вашей инструкции.",
    "group_ask_usage": "Спросите меня так: @{bot} вопрос, ответом на моё сообщение или /ask вопрос.",
    "group_new_done": "🆕 Начинаем разговор в этой теме заново.",
    "group_new_done_group": "🆕 Начинаем разговор в этой группе заново.",
    "group_private_only": "Тарифы, оплата и профиль — в личном чате со мной, чтобы ваши данные не видела вся группа.",
    "btn_open_private": "Открыть личный чат",
    "group_quota_private": "🔋 {name}, ваш лимит на сегодня исчерпан — подробности отправлены вам в личный чат.",
    "group_quota_generic": "🔋 {name}, ваш лимит на сегодня исчерпан. Подробности и тарифы — в личном чате со мной.",
    "group_busy": "⏳ В этой группе уже ждут ответа 20 вопросов — спросите чуть позже.",
    "btn_free_other": "➡️ Продолжить с {model} (ещё {left})",
    "btn_plans_from": "💎 Тарифы от {price:money}\u00a0₽",
    "free_switched": "✅ Теперь отвечает <b>{model}</b> — сегодня ещё {left:plural:запрос|запроса|запросов}. Задайте вопрос.",
    "free_switched_unlimited": "✅ Теперь отвечает <b>{model}</b>. Задайте вопрос.",
    "free_other_spent": "Бесплатные запросы к {model} на сегодня тоже закончились.",
    "free_three_left": "💡 Осталось {left:plural:бесплатный запрос|бесплатных запроса|бесплатных запросов} к {model} на сегодня. Лимит обновится {resets}.",
    "free_three_left_other": "💡 Осталось {left:plural:бесплатный запрос|бесплатных запроса|бесплатных запросов} к {model} на сегодня; у {other} — ещё {other_left}. Лимит обновится {resets}.",
    "quota_other_free": "У {model} сегодня ещё {left:plural:бесплатный запрос|бесплатных запроса|бесплатных запросов}.",
    "quota_free_requests": "🔋 Бесплатные запросы к {model} на сегодня закончились ({limit:plural:запрос|запроса|запросов} в день). Лимит обновится {resets}. Тариф снимает ограничение.",
    "quota_free_chars": "🔋 Бесплатный объём текста для {model} на сегодня исчерпан ({limit:plural:символ|символа|символов} в день, вместе с историей диалога). Лимит обновится {resets}. Начните новый диалог (/new) — история короче, или оформите тариф: /plans",
    "quota_fair_use_requests": "⏳ Дневной лимит тарифа для {model} исчерпан ({limit:plural:запрос|запроса|запросов} в день). Лимит обновится {resets}. Пока можно выбрать другую модель: /model",
    "profile_left": "<b>Осталось</b> (дневные лимиты обновятся {resets}):\n{lines}",
    "quota_plan_tokens": "⏳ Месячный объём тарифа для {model} израсходован ({limit:plural:токен|токена|токенов} в месяц). Он обновится {resets}. Пока можно выбрать другую модель: /model",
    "profile_month_line": "• {plan}: {left} из {limit:plural:токена|токенов|токенов} до {resets}",
    "profile_left_line": "• {model}: {parts}",
    "profile_left_voice": "• 🎤 Голосовые: осталось {left:minutes:минута|минуты|минут}, в день — {limit:minutes:минута|минуты|минут}",
    "profile_left_requests": "{left} из {limit:plural:запроса|запросов|запросов}",
    "profile_left_chars": "{left} из {limit:plural:символа|символов|символов}",
    "flood_notice": "🐢 Слишком много сообщений подряд. Сделайте паузу на полминуты — потом я снова на связи.",
    "answer_cancelled": "\n\n⏹ Остановлено.",
    "error_timeout": "⌛ Модель {model} не ответила вовремя. Попробуйте ещё раз чуть позже.",
    "error_rate_limited": "🚦 Модель {model} сейчас перегружена. Попробуйте через минуту.",
    "error_unavailable": (
        "⚠️ Модель {model} временно недоступна. Попробуйте позже или выберите другую: /model"
    ),
    "error_cut": "⚠️ Ответ модели {model} оборвался. Попробуйте ещё раз.",
    "error_region_blocked": (
        "🌍 {model} сейчас недоступна: провайдер не принимает запросы с нашего сервера. "
        "Администратор уже знает и исправит. Пока выберите другую модель: /model"
    ),
    "error_generic": (
        "⚠️ Не удалось получить ответ от {model}. Попробуйте ещё раз или "
        "выберите другую модель: /model"
    ),
    "shared_unavailable": "⏳ Бот сейчас не может это сделать: временный сбой у нас. Ничего не списано — попробуйте через минуту.",
    "internal_error": "😔 Что-то пошло не так. Мы уже разбираемся — попробуйте ещё раз.",
    # Admin alerts (admins read Russian by default too)
    "unknown_command": "Не знаю такой команды. Список команд: /help",
    # Plans and subscriptions
    "btn_plans": "💎 Тарифы",
    "btn_promo": "🎟 Ввести промокод",
    "btn_buy": "Купить {plan} — {price:money}\u00a0₽",
    "plans": "<b>Тарифы</b> (доступ на {days:plural:день|дня|дней})\n\n{plans}\n\nЕсть промокод? /promo КОД",
    "plan_line": "<b>{plan}</b> — {price:money}\u00a0₽\nМодели: {models}",
    "profile_plans": "<b>Подписки</b>\n{plans}",
    "profile_plan_line": "• <b>{plan}</b> — до {end}\n  Модели: {models}",
    # Promo codes
    "promo_ask": "Отправьте промокод одним сообщением.",
    "promo_ok": (
        "🎉 Промокод активирован: <b>{plan}</b> на {days:plural:день|дня|дней}, до {end}.\n"
        "Открыты модели: {models}. Выбрать: /model"
    ),
    "promo_unknown": "Такого промокода нет. Проверьте написание.",
    "promo_used_up": "Этот промокод уже использован максимальное число раз.",
    "promo_expired": "Срок действия промокода истёк ({date}).",
    "promo_already_used": "Вы уже активировали этот промокод.",
    "promo_throttled": "Слишком много неверных попыток. Попробуйте через 10 минут.",
    # Reminders
    "reminder_3d": "⏰ Подписка <b>{plan}</b> закончится через 3 дня ({end}). Продлить: /plans",
    "reminder_1d": "⏰ Подписка <b>{plan}</b> закончится завтра ({end}). Продлить: /plans",
    "reminder_ended": "Подписка <b>{plan}</b> закончилась. Продлить: /plans",
    "granted_notice": "🎁 Вам открыт тариф <b>{plan}</b> до {end}. Модели: {models}",
    "revoked_notice": "Подписка <b>{plan}</b> отключена администратором.",
    # Admin commands
    "admin_grant_usage": "Формат: /grant USER_ID PLAN DAYS\nТарифы: {plans}",
    "admin_days_range": "Срок — от 1 до {max_days:plural:дня|дней|дней}. Ничего не изменено.",
    "admin_uses_range": "Активаций — от 1 до {max_uses}. Ничего не изменено.",
    "admin_user_id_range": "Такого ID в Telegram не бывает. Ничего не изменено.",
    "admin_revoke_usage": "Формат: /revoke USER_ID [PLAN]\nТарифы: {plans}",
    "admin_promo_new_usage": (
        "Формат: /promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]\n"
        "CODE — 3–32 символа: латиница, цифры, _ и -.\nТарифы: {plans}"
    ),
    "admin_promo_del_usage": "Формат: /promo_del CODE",
    "admin_unknown_plan": "Нет тарифа «{plan}». Доступные: {plans}",
    "admin_granted": "✅ Пользователю <code>{user_id}</code> выдан <b>{plan}</b> на {days:plural:день|дня|дней}, до {end}.",
    "admin_revoked": "✅ У пользователя <code>{user_id}</code> отключено: {plans}.",
    "admin_nothing_to_revoke": "У пользователя <code>{user_id}</code> нет активных подписок{plan}.",
    "admin_promo_created": (
        "✅ Промокод <code>{code}</code>: {plan} на {days:plural:день|дня|дней}, "
        "активаций: {max_uses}, действует до: {until}."
    ),
    "admin_promo_exists": "Промокод <code>{code}</code> уже существует.",
    "admin_promo_bad_code": "Код должен быть 3–32 символа: латиница, цифры, _ и -.",
    "admin_promo_bad_numbers": "DAYS — от 1 до {max_days}, MAX_USES — от 1 до {max_uses}, дата — ГГГГ-ММ-ДД.",
    "admin_promo_list": "<b>Промокоды</b>\n{items}\n\n{total}",
    "admin_promo_total": "Всего: {count:plural:код|кода|кодов}, активаций: {uses}",
    "admin_promo_older": "…более ранние не показаны: {count}, весь список — /promo_list",
    "admin_promo_item": "<code>{code}</code> — {plan}, {days:plural:день|дня|дней}, использован {used}/{max_uses}, до {until}{state}",
    "admin_promo_empty": "Промокодов пока нет. Создать: /promo_new",
    "admin_promo_deleted": "🗑 Промокод <code>{code}</code> удалён.",
    "admin_promo_not_found": "Промокода <code>{code}</code> нет.",
    "no_limit": "без ограничений",
    "no_date": "бессрочно",
    "disabled_mark": " (отключён)",
    # Payments
    "pay_choose_method": "<b>{plan}</b> — {price:money}\u00a0₽ на {days:plural:день|дня|дней}\nМодели: {models}",
    "btn_pay_yoomoney": "💳 ЮMoney (карта)",
    "btn_pay_sbp": "🏦 СБП через менеджера",
    "btn_pay_stars": "⭐ Звёзды Telegram ({stars:money}\u00a0⭐)",
    "btn_pay_link": "Оплатить {price:money}\u00a0₽",
    "btn_check_payment": "🔄 Проверить оплату",
    "btn_sbp_paid": "✅ Оплата отправлена",
    "btn_sbp_receipt": "📎 Отправить чек",
    "btn_receipt_yes": "Да, это чек — передать менеджеру",
    "btn_receipt_no": "Нет, это вопрос",
    "btn_pay_again": "🔁 Оплатить заново",
    "btn_support": "💬 Написать в поддержку",
    "pay_terms_both": (
        'Оплачивая, вы принимаете условия <a href="{offer}">оферты</a> '
        'и <a href="{privacy}">политику конфиденциальности</a>.'
    ),
    "pay_terms_offer": 'Оплачивая, вы принимаете условия <a href="{offer}">оферты</a>.',
    "pay_terms_privacy": (
        'Оплачивая, вы принимаете <a href="{privacy}">политику конфиденциальности</a>.'
    ),
    "pay_yoomoney": (
        "Счёт <code>{payment_id}</code>: <b>{plan}</b>, {price:money}\u00a0₽.\n"
        "Нажмите «Оплатить» — откроется форма ЮMoney. Оплата проверяется автоматически, "
        "обычно в течение пары минут; можно нажать «Проверить оплату».\n"
        "Счёт действует {hours:plural:час|часа|часов}."
    ),
    "pay_sbp": (
        "Платёж №\u00a0<code>{number}</code>: <b>{plan}</b>, {price:money}\u00a0₽.\n\n"
        "Переведите эту сумму по СБП:\n{details}\n\n"
        "В комментарии к переводу укажите номер платежа: <code>{number}</code>\n\n"
        "После перевода нажмите «Отправить чек» и пришлите скриншот или файл чека — так "
        "проверка пройдёт быстрее. Чека нет — нажмите «Оплата отправлена».\n"
        "Обычно менеджер подтверждает оплату за {hours:plural:час|часа|часов}; "
        "мы сразу напишем сюда."
    ),
    "pay_sbp_receipt_prompt": (
        "Пришлите чек по платежу №\u00a0{number} следующим сообщением — скриншот или файл. "
        "Передумали — нажмите «Отмена»."
    ),
    "pay_sbp_receipt_canceled": (
        "Хорошо, чек не отправляем. Его можно прислать позже: кнопка «Отправить чек» под счётом."
    ),
    "pay_sbp_is_receipt": (
        "Это чек об оплате платежа №\u00a0{number}? Если да — передам его менеджеру. "
        "Если нет — отвечу на сообщение как на вопрос."
    ),
    "pay_sbp_not_receipt": "Хорошо, это вопрос — отвечаю.",
    "pay_sbp_held_gone": "Этого сообщения у меня уже нет — пришлите его ещё раз.",
    "pay_sbp_sent": (
        "Спасибо! Чек по платежу №\u00a0{number} передан менеджеру. Обычно он проверяет оплату "
        "за {hours:plural:час|часа|часов} — мы напишем сюда, как только она подтвердится."
    ),
    "pay_sbp_sent_no_receipt": (
        "Спасибо! Менеджер знает, что платёж №\u00a0{number} отправлен — пока без чека: он найдёт "
        "перевод по номеру в комментарии. Обычно он проверяет оплату за "
        "{hours:plural:час|часа|часов}; мы напишем сюда. С чеком быстрее: нажмите «Отправить "
        "чек» под счётом."
    ),
    "pay_sbp_already_sent": (
        "Платёж №\u00a0{number} уже на проверке у менеджера. Мы напишем, как только он её закончит."
    ),
    "pay_not_configured": "Этот способ оплаты сейчас недоступен. Выберите другой.",
    "pay_pending": "Оплата пока не поступила. Если вы уже оплатили, подождите пару минут.",
    "pay_check_too_soon": "Проверяем не чаще раза в 15 секунд. Попробуйте через {seconds:plural:секунду|секунды|секунд}.",
    "pay_check_failed": "Не удалось проверить оплату прямо сейчас. Мы проверим автоматически.",
    "pay_not_found": "Счёт не найден.",
    "pay_already_paid": "Этот счёт уже оплачен. Спасибо!",
    "pay_closed_rejected": (
        "Платёж №\u00a0{number} отклонён менеджером. Если деньги уже списались — напишите "
        "в поддержку и приложите чек; или оплатите заново."
    ),
    "pay_closed_refunded": "Оплата по платежу №\u00a0{number} возвращена. Тариф можно оплатить заново.",
    "pay_success": "✅ Оплата получена! Тариф <b>{plan}</b> активен до {end}.\nВыбрать модель: /model",
    "pay_rejected": (
        "❌ Менеджер не подтвердил платёж №\u00a0{payment_id}: {reason}\n"
        "Если деньги уже списались — напишите в поддержку и приложите чек. "
        "Или оплатите заново."
    ),
    "pay_refunded": "↩️ Оплата по счёту <code>{payment_id}</code> возвращена, тариф {plan} отключён.",
    "stars_title": "{plan} — {days:plural:день|дня|дней}",
    "stars_description": "Доступ к моделям: {models}",
    "stars_invalid": "Этот счёт больше не действует. Создайте новый: /plans",
    # Stars subscriptions (renew themselves every 30 days)
    "btn_pay_stars_monthly": "⭐ Звёзды, продление каждый месяц ({stars:money}\u00a0⭐)",
    "stars_sub_title": "{plan} — ежемесячно",
    "stars_sub_offer": (
        "<b>{plan}</b> — {stars:money}\u00a0⭐ за {days:plural:день|дня|дней}, подписка за звёзды Telegram.\n"
        "Telegram сам продлевает её каждые {days:plural:день|дня|дней}, пока вы её не отмените "
        "(кнопка в /profile). Нажмите кнопку ниже, чтобы оформить."
    ),
    "btn_stars_sub_pay": "⭐ Оформить: {stars} в месяц",
    "stars_sub_already": "Подписка за звёзды на {plan} уже продлевается сама. Управлять ею можно в /profile.",
    "pay_subscribed": (
        "✅ Оплата получена! Тариф <b>{plan}</b> активен до {end}.\n"
        "Подписка за звёзды продлевается сама каждые 30 дней; отменить продление можно в /profile.\n"
        "Выбрать модель: /model"
    ),
    "pay_renewed": "🔄 Подписка за звёзды продлена: тариф <b>{plan}</b> активен до {end}.",
    "pay_refunded_subscription": (
        "↩️ Оплата <code>{payment_id}</code> возвращена, её период тарифа {plan} снят. "
        "Подписка за звёзды больше не продлевается."
    ),
    "profile_renewal_on": "⭐ {plan}: подписка за звёзды, следующее продление {date} ({stars:money}\u00a0⭐)",
    "profile_renewal_off": "⭐ {plan}: продление отменено, тариф действует до конца срока",
    "btn_renewal_cancel": "Отменить продление: {plan}",
    "btn_renewal_resume": "Возобновить продление: {plan}",
    "renewal_canceled": (
        "Продление подписки за звёзды на {plan} отменено, списаний больше не будет. "
        "Тариф действует до {end}. Передумали — кнопка «Возобновить продление» в /profile."
    ),
    "renewal_resumed": "Продление подписки за звёзды на {plan} снова включено: следующее списание {date}, {stars:money}\u00a0⭐.",
    "renewal_not_running": "Эта подписка уже не действует.",
    "renewal_busy": "Уже выполняется, подождите секунду.",
    "renewal_failed": "Telegram не принял изменение: {error}. Попробуйте позже или напишите в /paysupport.",
    "renewal_cancel_failed": (
        "Не получилось отменить продление подписки за звёзды на {plan}: Telegram не принял отмену. "
        "Отмените его, пожалуйста, сами: Настройки Telegram → Мои звёзды → подписка. "
        "Менеджер уже знает; вопросы — /paysupport."
    ),
    "pay_delayed": (
        "✅ Оплата получена, но тариф не удалось включить сразу. Он включится сам в течение "
        "нескольких минут — деньги не потеряются. Если этого не случится, напишите в /paysupport."
    ),
    "support_contact": (
        "💬 <b>Поддержка</b>\nНапишите {contact} — ответим на вопросы об оплате, тарифах и "
        "работе бота. Если вопрос о платеже, укажите его номер.\n"
        "Возврат звёзд возможен, если доступом ещё не пользовались."
    ),
    "support_write": (
        "💬 <b>Поддержка</b>\nНапишите вопрос одним сообщением (можно с фото или файлом) — "
        "его получат администраторы, ответ придёт в этот чат. Если вопрос о платеже, "
        "укажите его номер.\nВозврат звёзд возможен, если доступом ещё не пользовались."
    ),
    "support_unavailable": "Поддержка сейчас недоступна — попробуйте позже.",
    "support_sent": "Спасибо! Вопрос передан в поддержку, ответ придёт в этот чат.",
    "support_canceled": "Хорошо, ничего не отправляем.",
    "support_answer": "💬 <b>Ответ поддержки</b>\n{text}",
    "btn_support_open": "💬 Открыть чат поддержки",
    "btn_support_more": "💬 Написать ещё",
    # Admin: payments
    "admin_sbp_request": (
        "🏦 <b>СБП: проверьте оплату</b>\nНомер в комментарии: <code>{number}</code>\n"
        "Счёт <code>{payment_id}</code>\n"
        "Пользователь: {user} (<code>{user_id}</code>)\nТариф: {plan}\nСумма: {price:money}\u00a0₽\n{receipt}"
    ),
    "admin_receipt_attached": "Чек — сообщением выше.",
    "admin_receipt_none": "Пользователь сообщил об оплате без чека.",
    "admin_support_request": (
        "💬 <b>Вопрос в поддержку</b>\nОт: {user} (<code>{user_id}</code>)\n"
        "Сообщение — выше. Ответить — кнопкой ниже."
    ),
    "btn_support_reply": "↩️ Ответить",
    "admin_support_reply_ask": "Напишите ответ для {user} одним сообщением.",
    "admin_support_replied": "Ответ отправлен.",
    "admin_support_reply_failed": "Ответ не доставлен: {reason}",
    "btn_confirm": "✅ Подтвердить",
    "btn_reject": "❌ Отклонить",
    "btn_default_reason": "Причина по умолчанию",
    "admin_reject_ask": "Напишите причину отказа по счёту <code>{payment_id}</code> или нажмите кнопку.",
    "admin_default_reason": "оплата не найдена",
    "admin_paid": (
        "💰 <b>Оплата</b> {method}: счёт <code>{payment_id}</code>\n"
        "Пользователь: {user} (<code>{user_id}</code>)\nТариф: {plan} до {end}\nСумма: {amount}"
    ),
    "admin_confirmed": "✅ Счёт <code>{payment_id}</code> подтверждён.",
    "admin_already_decided": "Счёт <code>{payment_id}</code> уже обработан: {status}.",
    "admin_rejected": "❌ Счёт <code>{payment_id}</code> отклонён: {reason}",
    "admin_refunded": "↩️ Счёт <code>{payment_id}</code>: Stars возвращены, период снят.",
    "admin_refund_failed": "Не удалось вернуть Stars: {error}",
    "admin_refund_retrying": (
        "Telegram не ответил на возврат ({error}). Бот повторит сам и сообщит, когда Stars вернутся."
    ),
    "admin_refund_in_progress": "Возврат по <code>{payment_id}</code> уже выполняется.",
    "admin_refund_renewal_retrying": (
        "Отмену продления подписки за звёзды Telegram пока не принял ({error}); бот повторит сам."
    ),
    "admin_refund_renewal_stopped": "Подписка за звёзды этой оплаты больше не продлевается (editUserStarSubscription).",
    "admin_refund_renewal_failed": (
        "Не удалось отменить продление подписки за звёзды: {error}. "
        "Новые списания по ней не зачисляются, а записываются как не зачисленные (/payments)."
    ),
    "admin_confirm_not_sbp": "Счёт <code>{payment_id}</code> ({method}) не подтверждается вручную: он зачтётся сам, когда придут деньги. Вручную подтверждаются только оплаты через СБП.",
    "admin_refund_only_stars": "Возврат командой доступен только для оплат Stars.",
    "admin_payment_usage": "Формат: /{command} PAYMENT_ID",
    "admin_payments": (
        "<b>Платежи</b>\n<b>Ждут менеджера</b> (СБП, пользователь сообщил об оплате): {manager}\n{manager_list}\n\n"
        "<b>Ждут пользователя</b> (счёт выставлен, оплаты ещё нет): {waiting}\n{waiting_list}\n\n"
        "<b>Последние оплаченные</b>\n{paid_list}\n\n"
        "<b>Не зачислено</b> (деньги пришли, но не к открытому счёту): {unmatched}\n{unmatched_list}\n\n"
        "{total}"
    ),
    "admin_payments_total": "Итого оплачено: {rub:money}\u00a0₽ и {stars:money}\u00a0⭐ ({count:plural:платёж|платежа|платежей})",
    "admin_list_older": "…более ранние не показаны: {count}",
    "admin_list_below": "…и ещё {count} — списком ниже",
    "admin_unmatched_line": "<code>{money_id}</code> {amount} — счёт {payment_id}, пользователь {user_id}: {reason}",
    "admin_settle_usage": "Использование: /settle ID — отметить незачисленные деньги как разобранные (ID из /payments)",
    "admin_settled": "Отмечено как разобранное: <code>{money_id}</code>.",
    "admin_settle_unknown": "Нет неразобранной записи <code>{money_id}</code>.",
    "admin_payment_line": "<code>{payment_id}</code> {method} {plan} {amount} — {user_id}, {status}, {when}",
    "none": "—",
    "amount_received": "{amount} (пришло {received:money}\u00a0₽)",
    # Admin panel
    "admin_panel": "<b>Админ-панель</b>\nПользователей: {users} · подписок активно: {subs} · ожидают оплаты: {pending}",
    "btn_admin_users": "👤 Пользователи",
    "btn_admin_payments": "💰 Платежи",
    "btn_admin_stats": "📊 Статистика",
    "btn_admin_spenders": "💸 Самые затратные за месяц",
    "btn_admin_inviters": "👥 Лучшие пригласившие",
    "btn_admin_promo": "🎟 Промокоды",
    "btn_admin_broadcast": "📣 Рассылка",
    "btn_back": "« Назад",
    "btn_cancel": "Отмена",
    "btn_export_csv": "⬇️ Выгрузить CSV",
    "btn_grant": "➕ Выдать / продлить",
    "btn_revoke": "➖ Отключить",
    "btn_all_plans": "Все тарифы",
    "btn_yes": "✅ Да",
    "btn_new_promo": "➕ Новый промокод",
    "btn_disable": "⏸ {code}",
    "btn_enable": "▶️ {code}",
    "btn_delete": "🗑 {code}",
    "btn_skip": "Пропустить",
    "btn_send": "📣 Отправить",
    "btn_stop": "⏹ Остановить",
    "admin_find_ask": "Пришлите ID пользователя, @username или имя. Отмена — /cancel",
    "admin_user_not_found": "Пользователь «{query}» не найден. Попробуйте ещё раз или /cancel",
    "admin_user_card": (
        "<b>Пользователь</b> {name} (<code>{user_id}</code>)\n"
        "Язык: {language} · модель: {model} · с {since}{blocked}\n"
        "Сообщений за 30 дней: {messages}\n"
        "В этом месяце: оплатил {paid} · расход на провайдеров {cost:dec2}\u00a0₽\n\n"
        "<b>Подписки</b>\n{plans}\n\n<b>Платежи</b>\n{payments}"
    ),
    "admin_paid_amount": "{rub:money}\u00a0₽, {stars:money}\u00a0⭐",
    "admin_user_blocked": " · заблокировал бота",
    "admin_choose_plan": "Выберите тариф для <code>{user_id}</code>:",
    "admin_choose_days": "Сколько дней <b>{plan}</b> выдать <code>{user_id}</code>?",
    "admin_confirm_grant": "Выдать <b>{plan}</b> на {days:plural:день|дня|дней} пользователю <code>{user_id}</code>?",
    "admin_confirm_revoke": "Отключить {plan} у пользователя <code>{user_id}</code>?",
    "admin_payments_section": (
        "<b>Платежи</b>\n<b>Ждут менеджера</b> (СБП, пользователь сообщил об оплате):\n{pending}\n"
        "Ждут пользователя (счёт выставлен, оплаты ещё нет): {waiting}\n\n"
        "<b>По дням (7 дн.)</b>\n{by_day}\n\n<b>По месяцам (последние 12)</b>\n{by_month}\n\n"
        "<b>По способам</b>\n{by_method}\n\n{total}"
    ),
    "admin_status_pending": "ожидает",
    "admin_status_paid": "оплачен",
    "admin_status_rejected": "отклонён",
    "admin_status_expired": "истёк",
    "admin_status_refunded": "возвращён",
    "btn_confirm_payment": "✅ {payment} · {amount}",
    "btn_reject_payment": "❌ Отклонить {payment}",
    "admin_revenue_line": "{name}: {rub:money}\u00a0₽, {stars:money}\u00a0⭐ ({count})",
    "admin_pending_item": "⏳ <code>{payment_id}</code> {method} {plan} {amount} — {user_id}",
    "admin_stats": (
        "<b>Статистика</b>\n"
        "Пользователей: {users_total} · новых сегодня: {new_today} · активных за 7 дн.: {active_7d}\n\n"
        "<b>Активные подписки</b>\n{subs}\n\n"
        "<b>Выручка</b>\nСегодня: {rev_today}\n7 дней: {rev_7d}\n30 дней: {rev_30d}\n\n"
        "<b>Расходы на провайдеров и маржа</b> (₽, по курсу {rate:num}\u00a0₽/$, ⭐ по {star_rate:num}\u00a0₽)\n"
        "Сегодня: {cost_today:dec2} · маржа {margin_today:dec2}\n7 дней: {cost_7d:dec2} · маржа {margin_7d:dec2}\n"
        "30 дней: {cost_30d:dec2} · маржа {margin_30d:dec2}{unpriced}\n\n"
        "<b>Тарифы за 30 дней</b> (выручка · расход · маржа, ₽)\n{plans_margin}\n\n"
        "<b>Модели за 30 дней</b> (сообщений · ошибок · токенов вход/выход · расход ₽)\n{models}{voice}\n\n"
        "Отказов по лимиту длины (30 дн.): {refusals}"
    ),
    "admin_stats_referrals": "<b>Лучшие пригласившие</b> (приглашено · с бонусом)\n{lines}",
    "admin_stats_referrals_none": "Приглашённых пользователей пока нет.",
    "admin_stats_referral_line": "{user} (<code>{user_id}</code>): {invited} · {rewarded}",
    "admin_stats_voice": "\n🎤 Распознавание голоса: {cost:dec2}\u00a0₽",
    "admin_stats_model": "{model}: {messages:num} · {failures:num} · {prompt:num}/{completion:num} · {cost:dec2}",
    "admin_stats_unpriced": "\nБез цены в каталоге (расход неизвестен): {count:plural:ответ|ответа|ответов}",
    "admin_cost_unknown": "неизвестно",
    "admin_stats_plan_margin": "{plan}: {revenue:dec2} · {cost:dec2} · {margin:dec2}",
    "admin_free_tier": "Бесплатные модели",
    "admin_top_spenders": "<b>Самые затратные пользователи месяца</b>\n{lines}",
    "admin_top_spenders_none": "В этом месяце расходов на провайдеров пока нет.",
    "admin_top_spender_line": "<code>{user_id}</code> {name} — {cost:dec2}\u00a0₽",
    "admin_chart_title": "Выручка и расходы (₽), новые пользователи за 30 дней",
    "admin_chart_revenue": "Выручка, ₽",
    "admin_chart_cost": "Расходы на модели, ₽",
    "admin_chart_users": "Новые пользователи",
    "admin_chart_money_axis": "Рубли",
    "admin_chart_users_axis": "Пользователи",
    "admin_promo_section": "<b>Промокоды</b>\n{items}\n\n{total}",
    "admin_promo_wizard_code": "Шаг 1/5. Придумайте код (3–32 символа: латиница, цифры, _ и -). Отмена — /cancel",
    "admin_promo_wizard_plan": "Шаг 2/5. Какой тариф открывает <code>{code}</code>?",
    "admin_promo_wizard_days": "Шаг 3/5. На сколько дней? Выберите или напишите число.",
    "admin_promo_wizard_uses": "Шаг 4/5. Сколько активаций всего? (число или «Пропустить» — без ограничений)",
    "admin_promo_wizard_date": "Шаг 5/5. Последний день действия: 31.12.2030 или 2030-12-31 (или «Пропустить»)",
    "admin_number_range": "Нужно целое число от 1 до {maximum}.",
    "admin_date_expected": "Нужна дата: 31.12.2030 или 2030-12-31.",
    "admin_date_past": "Эта дата уже прошла. Нужна сегодняшняя или будущая.",
    "admin_promo_exists_retry": (
        "Промокод <code>{code}</code> уже существует. Придумайте другой или /cancel"
    ),
    "admin_step_waiting": (
        "Сейчас идёт шаг админ-действия — этот ответ ему не подходит, модели он не передан. "
        "Ответьте на последний вопрос (или нажмите кнопку под ним) либо выйдите: /cancel"
    ),
    "admin_users_found": "По запросу «{query}» — {count:plural:пользователь|пользователя|пользователей}. Выберите:",
    "admin_user_gone": "Пользователь не найден.",
    "admin_cancelled": "Отменено.",
    "admin_broadcast_ask": (
        "Пришлите сообщение для рассылки (текст с форматированием, фото, видео или файл). "
        "Отмена — /cancel"
    ),
    "admin_broadcast_preview": "Так увидят рассылку. Отправить рассылку {count:plural:пользователю|пользователям|пользователям} (заблокировавшие бота пропускаются)?",
    "admin_broadcast_progress": (
        "📣 Рассылка <code>{broadcast_id}</code>: {processed}/{total}\n"
        "Доставлено: {delivered} · заблокировали: {blocked} · ошибки: {failed} · пропущено: {skipped}"
    ),
    "admin_broadcast_done": (
        "✅ Рассылка <code>{broadcast_id}</code> завершена.\n"
        "Доставлено: {delivered} · заблокировали: {blocked} · ошибки: {failed} · пропущено: {skipped}"
    ),
    "admin_broadcast_cancelled": (
        "⏹ Рассылка <code>{broadcast_id}</code> остановлена.\n"
        "Доставлено: {delivered} · заблокировали: {blocked} · ошибки: {failed}"
    ),
    "admin_broadcast_resumed": "🔁 Рассылка <code>{broadcast_id}</code> продолжена после перезапуска.",
    "admin_broadcast_taken": "Эта рассылка уже запущена или отменена.",
    "admin_broadcast_busy": "Уже идёт рассылка <code>{broadcast_id}</code>. Дождитесь окончания или остановите её.",
}
