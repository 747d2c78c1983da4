"""Write the workflow's JSON schema, workflow/schemas/config.schema.yaml: the hand-written
sections.schema.yaml (the sections without an option table) with the library's option tables
added (``autospace.schema``). A test checks that it is current.

    python workflow/make_schema.py            # write workflow/schemas/config.schema.yaml
    python workflow/make_schema.py --check    # exit 1 if it is not current
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autospace.schema import schema_text  # noqa: E402

SCHEMAS = Path(__file__).resolve().parent / "schemas"
SECTIONS = SCHEMAS / "sections.schema.yaml"
GENERATED = SCHEMAS / "config.schema.yaml"


def generated_text() -> str:
    return schema_text(yaml.safe_load(SECTIONS.read_text()), str(SECTIONS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workflow/make_schema.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {GENERATED.name} is not current")
    args = parser.parse_args(argv)
    text = generated_text()
    if args.check:
        if not GENERATED.exists() or GENERATED.read_text() != text:
            print(f"{GENERATED}: not current with the option tables; run python workflow/make_schema.py",
                  file=sys.stderr)
            return 1
        return 0
    if not GENERATED.exists() or GENERATED.read_text() != text:
        GENERATED.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
