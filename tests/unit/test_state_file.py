"""The controller's state file is rewritten in place, never renamed over nor truncated to zero
(either makes ext4 wait for the disk), and always holds one whole JSON document."""
import json

from controller.statefile import write_json_in_place


def test_a_shorter_document_leaves_whole_json_and_the_inode_is_kept(tmp_path):
    path = tmp_path / "controller-state.json"
    write_json_in_place(str(path), json.dumps({"blocks": list(range(100))}))
    inode = path.stat().st_ino
    write_json_in_place(str(path), json.dumps({"blocks": []}))
    assert json.loads(path.read_text()) == {"blocks": []}
    assert path.stat().st_ino == inode
    write_json_in_place(str(path), json.dumps({"blocks": list(range(500))}))
    assert json.loads(path.read_text()) == {"blocks": list(range(500))}
