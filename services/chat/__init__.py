"""The conversation with the models and what comes into it: chat turns and their memory,
conversations, the request queue, providers, Markdown to Telegram HTML, photos, voice and files."""
