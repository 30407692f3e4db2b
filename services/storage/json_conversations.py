"""Conversations as files: `conversations/<owner>.json` (the list, bounded by
MAX_CONVERSATIONS), `history/<owner>/<conversation>.json` (one memory) and its pictures
in `<conversation>.media/`. Each write is O(1) and runs in the writer's worker thread."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from cachetools import LRUCache

from services.models import ChatTurn, Conversations
from services.storage import records
from services.storage.atomic import write_file_atomic
from services.storage.images import image_type, new_image_id
from services.storage.json_files import DataFiles
from services.storage.json_upgrade import adopt_format_1_history

CONVERSATIONS_CACHE_SIZE = 20_000  # owners


class ConversationFiles:
    def __init__(self, files: DataFiles, history_cache_chars: int) -> None:
        self._files = files
        self.folder = files.data_dir / "conversations"
        self.history_folder = files.data_dir / "history"
        self._history: LRUCache[tuple[int, str], tuple[ChatTurn, ...]] = LRUCache(
            history_cache_chars, getsizeof=lambda turns: 1 + sum(len(t.content) for t in turns)
        )
        self._conversations: LRUCache[int, Conversations] = LRUCache(CONVERSATIONS_CACHE_SIZE)

    async def load(self, owner: int) -> Conversations | None:
        cached = self._conversations.get(owner)
        if cached is not None:
            return cached
        raw = await self._files.read_user_file(self._path(owner), None)
        if isinstance(raw, dict):
            conversations = records.conversations_from_json(raw)
        else:
            adopted = await adopt_format_1_history(self, self._files, owner)
            if adopted is None:
                return None
            conversations = adopted
        self._conversations[owner] = conversations
        return conversations

    async def save(self, owner: int, conversations: Conversations) -> None:
        """Frozen records, so the writer's thread may serialize them."""
        self._conversations[owner] = conversations
        try:
            await self._files.writer.save(self._path(owner), lambda: conversations)
        except OSError:
            self._conversations.pop(owner, None)
            raise

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        key = (owner, conversation_id)
        turns = self._history.get(key)
        if turns is None:
            raw = await self._files.read_user_file(self._history_path(owner, conversation_id), [])
            items = raw if isinstance(raw, list) else []
            turns = tuple(
                ChatTurn(item["role"], item["content"], tuple(item.get("images", ())))
                for item in items
            )
            self._history[key] = turns
        return list(turns)

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        key, stored = (owner, conversation_id), tuple(turns)
        self._history[key] = stored
        path = self._history_path(owner, conversation_id)
        try:  # no await before the writer: saves reach it in the order they were made
            writer = self._files.writer
            await writer.save(path, lambda: [_turn_record(t) for t in stored], durable=False)
        except OSError:
            self._history.pop(key, None)
            raise

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        self._history.pop((owner, conversation_id), None)
        await self._files.writer.drain()  # a write still queued would bring the file back
        await asyncio.to_thread(self._history_path(owner, conversation_id).unlink, missing_ok=True)
        media = self._media_dir(owner, conversation_id)
        await asyncio.to_thread(shutil.rmtree, media, ignore_errors=True)

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        image_id = new_image_id(mime_type)
        path = self._media_dir(owner, conversation_id) / image_id
        await asyncio.to_thread(write_file_atomic, path, data, durable=False)
        return image_id

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        mime_type = image_type(image_id)
        if mime_type is None:  # ids are ours; anything else never becomes a path
            return None
        path = self._media_dir(owner, conversation_id) / image_id
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        return data, mime_type

    async def forget(self, owner: int) -> None:
        self._conversations.pop(owner, None)
        for key in [key for key in self._history if key[0] == owner]:
            self._history.pop(key, None)
        await self._files.writer.drain()
        await asyncio.to_thread(self._remove_owner_files, owner)

    def _remove_owner_files(self, owner: int) -> None:
        shutil.rmtree(self.history_folder / str(owner), ignore_errors=True)
        (self.history_folder / f"{owner}.json").unlink(missing_ok=True)  # format 1
        self._path(owner).unlink(missing_ok=True)

    def _path(self, owner: int) -> Path:
        return self.folder / f"{owner}.json"

    def _history_path(self, owner: int, conversation_id: str) -> Path:
        return self.history_folder / str(owner) / f"{conversation_id}.json"

    def _media_dir(self, owner: int, conversation_id: str) -> Path:
        """A conversation's pictures, beside its memory (gone with it, and with /forget)."""
        return self.history_folder / str(owner) / f"{conversation_id}.media"


def _turn_record(turn: ChatTurn) -> dict[str, object]:
    """A turn as its file keeps it (`images` only when it has any)."""
    record: dict[str, object] = {"role": turn.role, "content": turn.content}
    if turn.images:
        record["images"] = turn.images
    return record
