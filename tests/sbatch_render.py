"""The sbatch command line snakemake-executor-plugin-slurm would submit for each job, without SLURM.

    python tests/sbatch_render.py TARGET... --profile profiles/slurm --configfile config/imagenet.yaml

runs Snakemake's own command line (the profile, the config, the rules' threads and resources as a
real run resolves them) up to the DAG, then, instead of printing it (`--dag`, added here), hands
every job to the plugin's submit-string builder (`get_submit_command` + `set_gres_string`, as its
`run_job` does) and to the jobstep plugin's `srun` settings (the step started inside the
allocation), and prints one JSON line: [{"rule", "threads", "sbatch", "srun"}, ...]. Account and
partition are plain `-A`/`-p` strings here (the plugin would ask sacctmgr to check the account).
No `--cores`, as in a real SLURM run: a dry run (`-n`) would cap every rule's threads at 1.
"""

import json
import os
import shlex
import sys

from snakemake import cli
from snakemake.workflow import Workflow
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string
from snakemake_executor_plugin_slurm_jobstep import get_cpu_setting, get_gpu_setting, get_node_setting
from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

ARGS = {}  # the parsed command line, kept by the wrapper of cli.args_to_api


def render(job, settings) -> dict:
    res = job.resources
    params = {"run_uuid": "RUN_UUID", "slurm_logfile": ".snakemake/slurm_logs/%j.log", "comment_str": f"rule_{job.name}",
              "account": f"-A {shlex.quote(str(res.get('slurm_account')))}" if res.get("slurm_account") else "",
              "partition": f"-p {shlex.quote(str(res.get('slurm_partition')))}" if res.get("slurm_partition") else "",
              "workdir": os.getcwd()}
    sbatch = get_submit_command(job, params, settings=settings) + set_gres_string(job)
    gpu_job = bool(res.get("gpu") or "gpu" in res.get("gres", ""))
    srun = f"srun -n1 {get_cpu_setting(job, gpu_job)} {get_gpu_setting(job)} {get_node_setting(job)}"
    return {"rule": job.name, "threads": job.threads, "sbatch": shlex.split(sbatch), "srun": srun.split()}


def print_submissions(workflow: Workflow) -> None:
    workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
    workflow._build_dag()
    settings = ExecutorPluginRegistry().get_plugin("slurm").get_settings(ARGS["args"])
    print(json.dumps([render(job, settings) for job in workflow.dag.jobs if not job.rule.norun]))


def main(argv: list[str]) -> None:
    args_to_api = cli.args_to_api

    def keep_args(args, parser):
        ARGS["args"] = args
        return args_to_api(args, parser)

    cli.args_to_api = keep_args
    Workflow.printdag = print_submissions
    cli.main(["--dag=dot", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
