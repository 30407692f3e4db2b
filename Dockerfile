# The bot as a container (docker-compose.yml runs two of them). Amvera does not need
# this file: it builds from amvera.yml.
FROM python:3.12-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home bot && mkdir -p /data && chown bot /data
USER bot
EXPOSE 8080
CMD ["python", "bot.py"]
