"""What runs beside the handlers: background loops, senders, the web server.

Each module has a `setup(dispatcher, ...)` that registers its own start-up and
shutdown, so `bot.py` wires the process as a short list of calls.
"""
