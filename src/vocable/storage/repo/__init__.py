"""Repositories: keyword-only functions that take the unit of work's session.

Every function but `authenticate_api_key`, `recover_streaming` and the account and
refresh-token lookups in `repo.auth` is scoped by ``user_id``:
another user's rows are invisible to it, as if they did not exist.
"""

from vocable.storage.repo.auth import (
    add_refresh_token,
    count_users,
    create_account,
    find_refresh_token,
    find_user,
    mark_refresh_used,
    revoke_refresh_family,
)
from vocable.storage.repo.conversations import (
    SessionState,
    checkpoint_conversation,
    create_conversation,
    delete_conversation,
    get_conversation,
    list_conversations,
    list_turns,
    load_session,
    record_turn,
    rename_conversation,
)
from vocable.storage.repo.memories import create_memory
from vocable.storage.repo.messages import (
    add_message,
    get_message,
    list_messages,
    recover_streaming,
    update_message,
)
from vocable.storage.repo.profiles import (
    create_voice_profile,
    delete_memory,
    delete_voice_profile,
    every_voice_profile,
    list_memories,
    list_voice_profiles,
)
from vocable.storage.repo.users import (
    authenticate_api_key,
    create_api_key,
    create_user,
    get_or_create_user,
    get_user,
    list_api_keys,
    revoke_api_key,
)

__all__ = [
    "revoke_refresh_family",
    "mark_refresh_used",
    "find_user",
    "find_refresh_token",
    "create_account",
    "count_users",
    "add_refresh_token",
    "SessionState",
    "create_memory",
    "add_message",
    "authenticate_api_key",
    "checkpoint_conversation",
    "create_api_key",
    "create_conversation",
    "create_user",
    "create_voice_profile",
    "delete_conversation",
    "delete_memory",
    "delete_voice_profile",
    "get_conversation",
    "get_message",
    "get_or_create_user",
    "get_user",
    "list_api_keys",
    "list_conversations",
    "list_memories",
    "list_messages",
    "list_turns",
    "every_voice_profile",
    "list_voice_profiles",
    "load_session",
    "record_turn",
    "recover_streaming",
    "rename_conversation",
    "revoke_api_key",
    "update_message",
]
