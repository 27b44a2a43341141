"""A run's artifacts as a tree of folders and files, with sizes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from runhistory.api import ArtifactInfo
from runhistory.api._media import MEDIA_FOLDER
from runhistory.api._safe_text import safe_line

from ..human import size as human_bytes

#: A node's data: the file, or the folder's prefix (ending in "/").
NodeData = ArtifactInfo | str


class ArtifactTree(Tree[NodeData]):
    """Folders (collapsible, with their total size) and files (with their size), sorted by name.

    Every folder starts open but ``media/``, whose images (a file per logged step) the media tab shows.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("artifacts", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.artifacts: list[ArtifactInfo] = []

    def show(self, artifacts: list[ArtifactInfo]) -> None:
        """Show ``artifacts``, keeping open folders open and the cursor on the same path."""
        if [a.path for a in self.artifacts] == sorted(a.path for a in artifacts) and self.artifacts:
            self._update_in_place(artifacts)
            return
        current = self.cursor_node.data if self.cursor_node is not None else None
        was = current.path if isinstance(current, ArtifactInfo) else current
        opened = {n.data for n in self._walk() if isinstance(n.data, str) and n.is_expanded}
        first = not self.artifacts
        self.artifacts = sorted(artifacts, key=lambda a: a.path)
        self.clear()
        folders: dict[str, TreeNode[NodeData]] = {"": self.root}
        sizes: dict[str, int] = {}
        for info in self.artifacts:
            parts = info.path.split("/")
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth]) + "/"
                sizes[prefix] = sizes.get(prefix, 0) + info.size
                if prefix not in folders:
                    parent = folders["/".join(parts[: depth - 1]) + "/" if depth > 1 else ""]
                    # Logged images (media/…, one file a step) start folded: the media tab shows them.
                    opens = first and not prefix.startswith(MEDIA_FOLDER + "/")
                    folders[prefix] = parent.add(parts[depth - 1], data=prefix, expand=opens or prefix in opened)
            parent = folders["/".join(parts[:-1]) + "/" if len(parts) > 1 else ""]
            parent.add_leaf(self._label(parts[-1], info.size, folder=False), data=info)
        for prefix, node in folders.items():
            if prefix:
                node.set_label(self._label(prefix.rstrip("/").rsplit("/", 1)[-1], sizes[prefix], folder=True))
        if was is not None:
            # Once the new nodes have their lines.
            self.call_after_refresh(self.select_path, was, expand=False)

    def _update_in_place(self, artifacts: list[ArtifactInfo]) -> None:
        # The same paths, some grown (a live run's console): new sizes, the same nodes,
        # so that the cursor, the open folders and the scroll stay where they are.
        self.artifacts = sorted(artifacts, key=lambda a: a.path)
        by_path = {a.path: a for a in self.artifacts}
        for node in self._walk():
            data = node.data
            if isinstance(data, ArtifactInfo):
                node.data = by_path[data.path]
                node.set_label(self._label(data.path.rsplit("/", 1)[-1], by_path[data.path].size, folder=False))
            elif isinstance(data, str) and data:
                total = sum(a.size for a in self.artifacts if a.path.startswith(data))
                node.set_label(self._label(data.rstrip("/").rsplit("/", 1)[-1], total, folder=True))

    @staticmethod
    def _label(name: str, size: int, *, folder: bool) -> Text:
        # Text, never markup: a file may be named "[bold]".
        label = Text(safe_line(name, 120) + ("/" if folder else ""), style="bold" if folder else "")
        label.append(f"  {human_bytes(size)}", style="dim")
        return label

    def _walk(self) -> list[TreeNode[NodeData]]:
        nodes, todo = [], [self.root]
        while todo:
            node = todo.pop()
            nodes.append(node)
            todo.extend(node.children)
        return nodes

    def node_for(self, path: str) -> TreeNode[NodeData] | None:
        """The node of a file path or a folder prefix (ending in "/")."""
        for node in self._walk():
            data = node.data
            if (isinstance(data, ArtifactInfo) and data.path == path) or data == path:
                return node
        return None

    def select_path(self, path: str, *, expand: bool = True) -> bool:
        """Put the cursor on ``path`` (opening its folders); False when it is not in the tree."""
        node = self.node_for(path)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and expand:
            parent.expand()
            parent = parent.parent
        self.move_cursor(node)
        return True
