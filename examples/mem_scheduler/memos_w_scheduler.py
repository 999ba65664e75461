"""MOS with the MemScheduler daemon: several users, each with a tree + KV cube, chatting.

Run from the repository root: ``python examples/mem_scheduler/memos_w_scheduler.py``. Every
operation is an event: the daemon orders it per cube and a Celery worker applies it; chat
promotes retrieved memories into the session's working memory, and ``kv_refresh`` rebuilds the
cube's KV cache from it.
"""

import shutil
import sys
import tempfile
from pathlib import Path

FILE_PATH = Path(__file__).absolute()
BASE_DIR = FILE_PATH.parent.parent.parent
sys.path.insert(0, str(BASE_DIR))  # Enable execution from any working directory

from memos.configs.mem_cube import GeneralMemCubeConfig  # noqa: E402
from memos.configs.mem_os import MOSConfig  # noqa: E402
from memos.mem_cube.general import GeneralMemCube  # noqa: E402
from memos.mem_os.main import MOS  # noqa: E402
from memos.mem_scheduler.events import make_event  # noqa: E402
from memos.mem_scheduler.utils import parse_yaml  # noqa: E402


def init_task():
    conversations = [
        {"role": "user", "content": "I just adopted a golden retriever puppy yesterday."},
        {"role": "assistant", "content": "Congratulations! What did you name your new puppy?"},
        {
            "role": "user",
            "content": "His name is Max. I live near Central Park in New York; we walk daily.",
        },
        {"role": "assistant", "content": "Max will love those walks! Any favorite treats for him?"},
        {
            "role": "user",
            "content": "He loves peanut butter biscuits. Personally, I'm allergic to nuts though.",
        },
        {"role": "assistant", "content": "Good to know about your allergy. I'll note that."},
    ]
    questions = [
        {"question": "What's my dog's name again?", "category": "Pet"},
        {"question": "Where did I say I live?", "category": "Address"},
    ]
    return conversations, questions


def run_with_scheduler_init():
    print("==== run_with_automatic_scheduler_init ====")
    conversations, questions = init_task()

    # set configs
    config_dir = BASE_DIR / "examples" / "data" / "config" / "mem_scheduler"
    config = parse_yaml(config_dir / "memos_config_w_scheduler.yaml")
    mos_config = MOSConfig(**config)
    mem_cube_config = GeneralMemCubeConfig.from_yaml_file(config_dir / "mem_cube_config.yaml")

    # Initialization
    mos = MOS(mos_config)
    workdir = Path(tempfile.mkdtemp(prefix="memos-example-"))

    for user_id in ("user_1", "user_2"):
        mos.create_user(user_id)
        mem_cube_id = f"{user_id}:mem_cube_5"
        mem_cube_name_or_path = workdir / user_id / "mem_cube_5"
        if mem_cube_name_or_path.exists():
            shutil.rmtree(mem_cube_name_or_path)
        mem_cube = GeneralMemCube(mem_cube_config)
        mem_cube.dump(mem_cube_name_or_path)
        mos.register_mem_cube(str(mem_cube_name_or_path), mem_cube_id=mem_cube_id, user_id=user_id)
        mos.add(conversations, user_id=user_id, mem_cube_id=mem_cube_id)

        for item in questions:
            print("===== Chat Start =====")
            query = item["question"]
            print(f"Query:\n {query}\n")
            response = mos.chat(query=query, user_id=user_id)
            print(f"Answer:\n {response}")
            print("===== Chat End =====")

        # Rebuild the cube's activation memory from the session's working memory (the job
        # MemOS's scheduler ran every act_mem_update_interval seconds).
        refresh = make_event(
            "kv_refresh",
            user_id=user_id,
            cube_id=mem_cube_id,
            session_id=mos.session_id,
            payload={},
        )
        outcome = mos.transport.publish_and_wait(refresh, mos.config.event_timeout_s)
        print(f"kv_refresh: {outcome.result}")

        all_memories = mos.get_all(mem_cube_id=mem_cube_id, user_id=user_id)
        for node in all_memories["text_mem"][0]["memories"]["nodes"][:3]:
            print(f"[{node['metadata']['memory_type']}] {node['memory']}")
        for act in all_memories["act_mem"][0]["memories"]:
            print(f"activation memory ({len(act['records'])} records): {act['memory'][:80]!r}")

    shutil.rmtree(workdir, ignore_errors=True)
    mos.close()


if __name__ == "__main__":
    run_with_scheduler_init()
