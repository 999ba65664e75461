"""TreeTextMemory on its own: read a chat with the MemReader, add, search, dump, drop.

Run from the repository root: ``python examples/core_memories/tree_textual_memory.py``. The
graph is the embedded ArcadeDB (``uri: embedded``), started when it is not running.
"""

import tempfile

from memos.configs.mem_reader import SimpleStructMemReaderConfig
from memos.configs.memory import TreeTextMemoryConfig
from memos.mem_reader.simple_struct import SimpleStructMemReader
from memos.memories.textual.tree import TreeTextMemory

tree_config = TreeTextMemoryConfig.from_json_file("examples/data/config/tree_config.json")
my_tree_textual_memory = TreeTextMemory(tree_config)
my_tree_textual_memory.delete_all()

# Create a memory reader instance (fast mode: rule-based, no LLM needed)
reader_config = SimpleStructMemReaderConfig.from_json_file(
    "examples/data/config/simple_struct_reader_config.json"
)
reader = SimpleStructMemReader(reader_config)

scene_data = [
    [
        {"role": "user", "chat_time": "3 May 2025", "content": "I’m feeling a bit down today."},
        {
            "role": "assistant",
            "chat_time": "3 May 2025",
            "content": "I’m sorry to hear that. Do you want to talk about what’s been going on?",
        },
        {
            "role": "user",
            "chat_time": "3 May 2025",
            "content": "I’ve been thinking a lot about my childhood lately. My parents were "
            "always busy, and I often had to figure things out on my own. I used to draw "
            "animals and created my own little world on paper.",
        },
        {
            "role": "assistant",
            "chat_time": "3 May 2025",
            "content": "Drawing sounds like a beautiful way to find some peace in that solitude.",
        },
    ],
    [
        {
            "role": "user",
            "chat_time": "3 May 2025",
            "content": "This week I’ve been feeling off when playing tennis. I think it is stress "
            "and lack of sleep.",
        },
        {
            "role": "assistant",
            "chat_time": "3 May 2025",
            "content": "Stress and poor sleep can affect performance. Try small practice goals.",
        },
    ],
]

# Acquiring memories
memory = reader.get_memory(scene_data, type="chat", info={"user_id": "1234", "session_id": "2222"})

for m_list in memory:
    added_ids = my_tree_textual_memory.add(m_list)
    for i, id in enumerate(added_ids):
        print(f"{i}'th added result is:" + my_tree_textual_memory.get(id).memory)

results = my_tree_textual_memory.search(
    "Talk about the user's childhood story?",
    top_k=10,
    info={"query": "Talk about the user's childhood story?", "user_id": "111", "session": "2234"},
)
for i, r in enumerate(results):
    r = r.to_dict()
    print(f"{i}'th similar result is: " + str(r["memory"]))
print(f"Successfully search {len(results)} memories")

results_fine_search = my_tree_textual_memory.search(
    "How is the user's tennis going?", top_k=10, mode="fine"
)
for i, r in enumerate(results_fine_search):
    r = r.to_dict()
    print(f"{i}'th similar result is: " + str(r["memory"]))
print(f"Successfully search {len(results_fine_search)} memories")

# my_tree_textual_memory.dump
dump_dir = f"{tempfile.mkdtemp(prefix='memos-example-')}/my_tree_textual_memory"
my_tree_textual_memory.dump(dump_dir)
print(f"Dumped {len(my_tree_textual_memory.get_all()['nodes'])} memories to {dump_dir}")
my_tree_textual_memory.drop()
