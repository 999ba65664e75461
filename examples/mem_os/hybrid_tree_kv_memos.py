"""A tree + KV-cache cube: chat answers with the activation memory as the model's prefix.

Run from the repository root: ``python examples/mem_os/hybrid_tree_kv_memos.py``. The KV cache
is built on a worker (``act_mem.extract`` then ``act_mem.add``) with the packaged SmolLM2.
"""

import tempfile

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.configs.mem_os import MOSConfig
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS

# init MOSConfig by default user (the KV cache needs a huggingface chat model)
user_id = "root"
cube_id = "root:mem_cube_kv_cache"
tmp_cube_path = f"{tempfile.mkdtemp(prefix='memos-example-')}/mem_cube_5"

mos_config = MOSConfig.from_json_file("examples/data/config/simple_treekvcache_memos_config.json")
mos = MOS(mos_config)

# 2. Initialize_memory_cube
cube_config = GeneralMemCubeConfig.from_json_file(
    "examples/data/config/simple_treekvcache_cube_config.json"
)

# 3. Initialize the MemCube with the configuration and dump cube
mem_cube = GeneralMemCube(cube_config)
try:
    mem_cube.dump(tmp_cube_path)
except Exception as e:
    print(e)

# 4. Register the MemCube explicitly
mos.register_mem_cube(tmp_cube_path, mem_cube_id=cube_id, user_id=user_id)

# 5. Extract kv memory and add kv cache_mem
mos.add(memory_content="I like football and I play it every Sunday.", mem_cube_id=cube_id)
extract_kvmem = mos.mem_cubes[cube_id].act_mem.extract("I like football")
mos.mem_cubes[cube_id].act_mem.add([extract_kvmem])
print(f"KV memories: {[m['memory'] for m in mos.mem_cubes[cube_id].act_mem.get_all()]}")

# .chat
while True:
    try:
        user_input = input("👤 [You] ").strip()
    except EOFError:
        break
    if user_input.lower() in {"exit", "quit"}:
        break
    print()
    response = mos.chat(user_input)
    print(f"🤖 [Assistant] {response}\n")
print("📢 [System] MemChat has stopped.")
mos.close()
