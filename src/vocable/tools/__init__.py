"""Tools the assistant can use, and the fast intent path that calls them without the model.

See docs/tools.md. `build_toolbox` assembles the built-ins for one conversation; `Toolbox.reply`
answers a turn with them; `ToolRegistry` turns typed functions into tools.
"""

from vocable.tools.context import ToolContext
from vocable.tools.registry import Tool, ToolError, ToolRegistry, ToolResult
from vocable.tools.setup import build_toolbox, equip, load_tool_embedder, load_toolbox
from vocable.tools.turn import Toolbox, ToolEvent

__all__ = [
    "equip",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolEvent",
    "ToolRegistry",
    "ToolResult",
    "Toolbox",
    "build_toolbox",
    "load_tool_embedder",
    "load_toolbox",
]
