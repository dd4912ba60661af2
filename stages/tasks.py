"""DVC stage ``tasks``: params ``data`` and ``data/source.json`` -> ``data/tasks/`` (the unpaired
task's domain A, scikit-learn's digits at the working size, split train/test, and meta.json
describing every translation task; ``ganbench.data.tasks``)."""

from ganbench.config import load_section
from ganbench.data.tasks import summary_line, write_tasks
from ganbench.paths import TASKS_DIR
from ganbench.stage import run_stage


def main() -> None:
    print(summary_line(write_tasks(load_section("data"), TASKS_DIR)))


if __name__ == "__main__":
    run_stage("tasks", main, tracking=False)  # writes data files only
