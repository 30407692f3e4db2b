"""State several bot processes share: each piece in this process's memory (one process,
no REDIS_URL) or in Redis, behind one small interface. The link (`link`) says whether
Redis answers; a piece that cannot reach it raises SharedStateUnavailableError, which the
user hears as a polite "try again in a minute", never as a doubled or free answer."""
