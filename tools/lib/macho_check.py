#!/usr/bin/env python3
"""tools/test's macOS check: every cc_test / cc_binary that this build (its Build Event
Protocol file, so never an output left from an earlier build) linked must be a Mach-O of the
CPU, and every target in the checked-in list must be among them, so a target that silently
drops out of the macOS build (made incompatible, or no longer built) fails the check.

    macho_check.py BEP_JSON CPU(x86_64|arm64) EXPECTED_LIST
Prints one line per problem and a summary; exits 1 on any problem.
"""
import json
import sys

MAGIC = {"x86_64": bytes.fromhex("cffaedfe07000001"), "arm64": bytes.fromhex("cffaedfe0c000001")}


def main(bep_path, cpu, expected_path):
    events = [json.loads(line) for line in open(bep_path)]
    kind = {}
    for e in events:
        if "targetConfigured" in e["id"]:
            kind[e["id"]["targetConfigured"]["label"]] = e.get("configured", {}).get("targetKind", "")
    linked, skipped, problems = [], [], []
    for e in events:
        if "targetCompleted" not in e["id"]:
            continue
        label = e["id"]["targetCompleted"]["label"]
        if not kind.get(label, "").startswith(("cc_test ", "cc_binary ")):
            continue
        if "completed" in e and e["completed"].get("success"):
            outs = e["completed"].get("importantOutput", [])
            path = outs[0]["uri"][len("file://"):] if outs else ""
            try:
                with open(path, "rb") as f:
                    head = f.read(8)
            except OSError as err:
                problems.append(f"{label}: no executable ({err})")
                continue
            if head != MAGIC[cpu]:
                problems.append(f"{label}: not a Mach-O for {cpu} (starts {head.hex()})")
            else:
                linked.append(label)
        elif e.get("aborted", {}).get("reason") == "SKIPPED":
            skipped.append(label)
        else:
            problems.append(f"{label}: failed to build")
    expected = [l.strip() for l in open(expected_path) if l.strip() and not l.startswith("#")]
    for label in sorted(set(expected) - set(linked)):
        problems.append(f"{label}: in {expected_path} but not linked by this build")
    for label in sorted(set(linked) - set(expected)):
        print(f"note: {label} is linked too; add it to {expected_path}")
    for p in problems:
        print(p)
    print(f"{len(linked)} executables linked as Mach-O {cpu}, {len(skipped)} skipped "
          f"(incompatible with macOS), {len(problems)} problems")
    return 1 if problems or not linked else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
