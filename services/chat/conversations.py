"""Several conversations per user (or group): each with its own model, mode and memory."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

from services.catalog import CUSTOM_MODE, Catalog
from services.models import ChatTurn, Conversation, Conversations, title_from
from services.storage.base import Storage

INSTRUCTION_LIMIT = 2000  # characters of a custom instruction
TOUCH_EVERY = 600.0  # seconds: a conversation's "last used" time is saved at most this often
DEFAULT_MAX_CONVERSATIONS = 100  # per owner (config: MAX_CONVERSATIONS)


class ConversationError(Exception):
    """A conversation action is refused; `reason` picks the text (not_found, too_long...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, frozen=True)
class NewConversation:
    """What /new made: the new current conversation, and those deleted for good (with their
    memory) to stay within the limit, least recently used first."""

    conversation: Conversation
    dropped: tuple[Conversation, ...] = ()


def within_limit(
    conversations: Conversations, limit: int, keep: Collection[str | None]
) -> tuple[Conversations, tuple[Conversation, ...]]:
    """The list cut to `limit`, the least recently used going first (never one in `keep`),
    and what was cut."""
    excess = len(conversations.items) - limit
    if excess <= 0:
        return conversations, ()
    candidates = [item for item in conversations.items if item.id not in keep]
    dropped = sorted(candidates, key=lambda item: item.updated_at)[:excess]
    gone = {item.id for item in dropped}
    items = tuple(item for item in conversations.items if item.id not in gone)
    return dataclasses.replace(conversations, items=items), tuple(dropped)


class ConversationService:
    """An owner is a user (private chat) or a group chat (one conversation per topic);
    each keeps at most `max_conversations`."""

    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        *,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self.max_conversations = max_conversations
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def default_mode(self) -> str:
        return self._catalog.modes[0].key if self._catalog.modes else "assistant"

    def _lock(self, owner: int) -> asyncio.Lock:
        lock = self._locks.get(owner)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[owner] = lock
        return lock

    # Reading -----------------------------------------------------------------------------
    async def all(self, owner: int) -> Conversations:
        return await self._storage.load_conversations(owner) or Conversations()

    async def current(self, owner: int, model_key: str | None) -> Conversation:
        """The conversation new messages go to; a first one is started if there is none."""
        conversations = await self.all(owner)
        found = conversations.get(conversations.current)
        if found is not None:
            return found
        return (await self.start_new(owner, model_key)).conversation

    async def topic(self, owner: int, key: str, model_key: str | None) -> Conversation:
        """A group's conversation for one forum topic (or the whole group): made on first use."""
        found = (await self.all(owner)).get(key)
        if found is not None:
            return found
        now = time.time()
        item = Conversation(key, "", now, now, model_key=model_key, mode=self.default_mode)

        def add(conversations: Conversations) -> Conversations:
            if conversations.get(key) is not None:
                return conversations
            return Conversations(conversations.current, (*conversations.items, item))

        conversations, _ = await self._add(owner, add, keep=(key,))
        return conversations.get(key) or item

    async def history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        return await self._storage.load_history(owner, conversation_id)

    # Changes -----------------------------------------------------------------------------
    async def _change(
        self, owner: int, change: Callable[[Conversations], Conversations]
    ) -> Conversations:
        """Read, change and save the owner's list, one change at a time."""
        async with self._lock(owner):
            updated = change(await self.all(owner))
            await self._storage.save_conversations(owner, updated)
            return updated

    async def _add(
        self,
        owner: int,
        change: Callable[[Conversations], Conversations],
        keep: Collection[str] = (),
    ) -> tuple[Conversations, tuple[Conversation, ...]]:
        """`_change` for a change that adds: beyond the limit the least recently used
        conversations are deleted for good (never the current one, before or after, nor
        those in `keep`), their memory first, so a crash between leaves no text behind."""
        async with self._lock(owner):
            before = await self.all(owner)
            changed = change(before)
            kept = {before.current, changed.current, *keep}
            updated, dropped = within_limit(changed, self.max_conversations, kept)
            for item in dropped:
                await self._storage.delete_history(owner, item.id)
            await self._storage.save_conversations(owner, updated)
            return updated, dropped

    async def start_new(
        self, owner: int, model_key: str | None, *, keep_mode_of: Conversation | None = None
    ) -> NewConversation:
        """A new, empty conversation becomes the current one; the others are kept up to the
        limit (the one current until now always)."""
        now = time.time()
        created: list[Conversation] = []

        def add(conversations: Conversations) -> Conversations:
            numbers = [int(item.id) for item in conversations.items if item.id.isdigit()]
            mode = keep_mode_of.mode if keep_mode_of else self.default_mode
            instruction = keep_mode_of.instruction if keep_mode_of else ""
            item = Conversation(
                id=str(max(numbers, default=0) + 1),
                title="",
                created_at=now,
                updated_at=now,
                model_key=model_key,
                mode=mode,
                instruction=instruction,
            )
            created.append(item)
            return Conversations(current=item.id, items=(*conversations.items, item))

        _, dropped = await self._add(owner, add)
        return NewConversation(created[0], dropped)

    async def update(self, owner: int, conversation_id: str, **changes: object) -> Conversation:
        """Change fields of one conversation (model, mode, title...)."""
        updated: list[Conversation] = []

        def apply(conversations: Conversations) -> Conversations:
            found = conversations.get(conversation_id)
            if found is None:
                raise ConversationError("not_found")
            item = dataclasses.replace(found, **changes)  # type: ignore[arg-type]
            updated.append(item)
            items = tuple(
                item if other.id == conversation_id else other for other in conversations.items
            )
            return dataclasses.replace(conversations, items=items)

        await self._change(owner, apply)
        return updated[0]

    async def set_current_model(self, owner: int, model_key: str) -> None:
        """/model: the current conversation answers with this model from now on."""
        conversations = await self.all(owner)
        if conversations.get(conversations.current) is not None:
            assert conversations.current is not None
            await self.update(owner, conversations.current, model_key=model_key)

    async def switch(self, owner: int, conversation_id: str) -> Conversation:
        def choose(conversations: Conversations) -> Conversations:
            if conversations.get(conversation_id) is None:
                raise ConversationError("not_found")
            return dataclasses.replace(conversations, current=conversation_id)

        conversations = await self._change(owner, choose)
        found = conversations.get(conversation_id)
        assert found is not None
        return found

    async def rename(self, owner: int, conversation_id: str, title: str) -> Conversation:
        clean = title_from(title)
        if not clean:
            raise ConversationError("empty_title")
        return await self.update(owner, conversation_id, title=clean)

    async def delete(self, owner: int, conversation_id: str) -> None:
        """Remove a conversation and its memory; the newest other one becomes current."""

        def remove(conversations: Conversations) -> Conversations:
            if conversations.get(conversation_id) is None:
                raise ConversationError("not_found")
            items = tuple(item for item in conversations.items if item.id != conversation_id)
            current = conversations.current
            if current == conversation_id:
                current = max(items, key=lambda item: item.updated_at).id if items else None
            return Conversations(current=current, items=items)

        await self._change(owner, remove)
        await self._storage.delete_history(owner, conversation_id)

    async def forget(self, owner: int) -> None:
        """Every conversation and its memory, deleted for good."""
        async with self._lock(owner):
            await self._storage.forget(owner)

    async def set_mode(
        self, owner: int, conversation_id: str, mode: str, instruction: str = ""
    ) -> Conversation:
        if mode == CUSTOM_MODE:
            instruction = instruction.strip()
            if not instruction:
                raise ConversationError("empty_instruction")
            if len(instruction) > INSTRUCTION_LIMIT:
                raise ConversationError("instruction_too_long")
        elif mode not in self._catalog.modes_by_key:
            raise ConversationError("unknown_mode")
        else:
            instruction = ""
        return await self.update(owner, conversation_id, mode=mode, instruction=instruction)

    async def remember(
        self, owner: int, conversation_id: str, turns: list[ChatTurn], question: str
    ) -> None:
        """Save the memory after an answer; the first question names the conversation."""
        await self._storage.save_history(owner, conversation_id, turns)
        found = (await self.all(owner)).get(conversation_id)
        if found is not None and found.title and time.time() - found.updated_at < TOUCH_EVERY:
            return  # the list's order is kept to within TOUCH_EVERY: no write per answer

        def touch(conversations: Conversations) -> Conversations:
            found = conversations.get(conversation_id)
            if found is None:  # deleted while the answer was written: keep nothing
                return conversations
            item = dataclasses.replace(
                found, title=found.title or title_from(question), updated_at=time.time()
            )
            items = tuple(
                item if other.id == conversation_id else other for other in conversations.items
            )
            return dataclasses.replace(conversations, items=items)

        conversations = await self._change(owner, touch)
        if conversations.get(conversation_id) is None:
            await self._storage.delete_history(owner, conversation_id)

    def system_prompt(self, conversation: Conversation, language: str) -> str | None:
        """The conversation's instruction to the model (its mode), if any."""
        if conversation.mode == CUSTOM_MODE:
            return conversation.instruction or None
        mode = self._catalog.modes_by_key.get(conversation.mode)
        return mode.system_prompt(language) if mode else None
