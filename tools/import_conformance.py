#!/usr/bin/env python3
"""Turns LocalStack's Step Functions conformance material into raftflow fixtures.

Inputs (read once, at import time; the project never reads them at run time):
  --shared     ../shared/conformance/localstack-sfn  (templates + AWS-recorded histories)
  --localstack a git directory of the public localstack repository, whose test
               modules say which template and which inputs each recorded test used

Output: crates/raftflow-core/tests/conformance/<suite>.json, one case per
recorded execution history: definition, input, expected status/output/error,
expected event types, and the task answers taken from the recorded history.
Cases that need an AWS service are kept with a `skip` reason so that
docs/conformance.md can count them honestly.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

import json5

SERVICE_HINT = re.compile(r'"Resource"\s*:\s*"(?!arn:aws:states:[^"]*:activity:)[^"]*"')


def git_show(gitdir, path):
    try:
        return subprocess.run(["git", "--git-dir", gitdir, "show", f"HEAD:{path}"], check=True,
                              capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return None


def template_constants(gitdir):
    """Maps 'ClassName.CONST' to a template path relative to templates/."""
    out = {}
    listing = subprocess.run(["git", "--git-dir", gitdir, "ls-tree", "-r", "--name-only", "HEAD",
                              "tests/aws/services/stepfunctions/templates"], capture_output=True, text=True).stdout
    for path in listing.split():
        if not path.endswith("_templates.py") and not path.endswith("_template.py"):
            continue
        text = git_show(gitdir, path) or ""
        folder = os.path.dirname(path).split("templates/", 1)[1]
        cls = None
        for m in re.finditer(r'class (\w+)\(|(\w+):\s*Final\[str\]\s*=\s*os\.path\.join\(\s*_THIS_FOLDER,\s*"([^"]+)"', text):
            if m.group(1):
                cls = m.group(1)
            elif cls:
                out[f"{cls}.{m.group(2)}"] = os.path.join(folder, m.group(3))
    return out


def refs_in(text, aliases, constants):
    """Template paths referenced in `text`, in order of appearance."""
    out = []
    for cls, const in re.findall(r'\b(\w+)\.([A-Z][A-Z0-9_]+)\b', text):
        real = aliases.get(cls, cls)
        if f"{real}.{const}" in constants:
            out.append(constants[f"{real}.{const}"])
    return out


def test_templates(gitdir, module_path, constants):
    """Maps each test function (and parametrised id) to the templates it loads."""
    text = git_show(gitdir, module_path) or ""
    aliases = {v: k for k, v in re.findall(r'(\w+) as (\w+)', text)}
    result = {}
    defs = list(re.finditer(r'\n    (?:async )?def (test_\w+)\(', text))
    for i, m in enumerate(defs):
        name = m.group(1)
        body_end = defs[i + 1].start() if i + 1 < len(defs) else len(text)
        body = text[m.end():body_end]
        # Decorators sit between the blank line before the def and the def.
        deco_start = text.rfind("\n\n", 0, m.start())
        decorators = text[deco_start:m.start()]
        deco_refs = refs_in(decorators, aliases, constants)
        ids = re.findall(r'ids=\[([^\]]*)\]', decorators)
        id_list = re.findall(r'"([^"]+)"', ids[0]) if ids else []
        body_refs = refs_in(body, aliases, constants)
        helpers = sorted({r for r in body_refs + deco_refs if not r.endswith(".json5")})
        edited = bool(helpers) or bool(re.search(r'template\[[^\]]+\](\[[^\]]+\])*\s*=|\.replace\(|_tbd_', body))
        by_id = {}
        json5_deco = [r for r in deco_refs if r.endswith(".json5")]
        if id_list and len(id_list) == len(json5_deco):
            by_id = dict(zip(id_list, json5_deco))
        refs = sorted({r for r in body_refs if r.endswith(".json5")})
        result[name] = (refs, edited, by_id)
    return result


def final(events):
    last = events[-1]
    kind = last["type"]
    status = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT",
              "ExecutionAborted": "ABORTED"}.get(kind, "RUNNING")
    details = next((v for k, v in last.items() if k.endswith("EventDetails")), {}) or {}
    return status, details.get("output"), details.get("error"), details.get("cause")


def unstring(value):
    """Some recordings keep a JSON document as a string; compare the document."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


ANONYMISED = re.compile(r'"(RandomNumberGenerated|generated-uuid|<[A-Za-z_0-9:]+>|timestamp|datetime)"')


def answers(events):
    out = []
    for e in events:
        if e["type"] == "ActivitySucceeded":
            out.append({"output": e["activitySucceededEventDetails"].get("output")})
        elif e["type"] == "ActivityFailed":
            d = e["activityFailedEventDetails"]
            out.append({"error": d.get("error", ""), "cause": d.get("cause", "")})
        elif e["type"] == "ActivityTimedOut":
            out.append({"silent": True})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--localstack", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    constants = template_constants(args.localstack)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for snap in sorted(glob.glob(os.path.join(args.shared, "v2/**/*.snapshot.json"), recursive=True)):
        suite = os.path.relpath(snap, os.path.join(args.shared, "v2")).replace(".snapshot.json", "").replace("/", "__")
        recorded = json.load(open(snap))
        cases = []
        mapping_cache = {}
        for test_id, content in recorded.items():
            module_path, _, rest = test_id.partition("::")
            test_name = re.sub(r"\[.*", "", rest.split("::")[-1])
            param = re.search(r"\[(.*)\]$", rest)
            if module_path not in mapping_cache:
                mapping_cache[module_path] = test_templates(args.localstack, module_path, constants)
            refs, edited, by_id = mapping_cache[module_path].get(test_name, ([], False, {}))
            if param and param.group(1) in by_id:
                refs = [by_id[param.group(1)]]
            for key, value in content["recorded-content"].items():
                if not (isinstance(value, dict) and isinstance(value.get("events"), list) and value["events"]):
                    continue
                events = value["events"]
                if "reverseOrder[True]" in key:
                    continue
                started = events[0].get("executionStartedEventDetails", {})
                status, output, error, cause = final(events)
                case = {
                    "suite": suite, "test": rest, "history": key,
                    "template": refs[0] if len(refs) == 1 else None,
                    "input": unstring(started.get("input")),
                    "expected": {"status": status, "output": unstring(output), "error": error, "cause": cause},
                    "events": [e["type"] for e in events],
                    "task_answers": answers(events),
                    "skip": None,
                }
                if len(refs) != 1:
                    case["skip"] = f"the test module uses {len(refs)} templates; no single definition to pair"
                elif edited:
                    case["skip"] = "the test fills AWS resources (Lambda functions, services) into the template"
                else:
                    text = open(os.path.join(args.shared, "templates", refs[0])).read()
                    definition = json5.loads(text)
                    case["definition"] = definition
                    if "QueryLanguage" in json.dumps(definition) and "JSONata" in json.dumps(definition):
                        case["skip"] = "JSONata query language"
                    elif SERVICE_HINT.search(json.dumps(definition)) and any(
                            e in ("TaskScheduled", "LambdaFunctionScheduled") for e in case["events"]):
                        case["skip"] = "needs an AWS service integration"
                    elif ANONYMISED.search(json.dumps(case["expected"])) or ANONYMISED.search(json.dumps(case["input"])) or '"date"' in json.dumps(case["input"]):
                        case["skip"] = "the recorded output was anonymised (random values, ARNs, times)"
                    elif "StopExecution" in rest or "stop_execution" in rest:
                        case["skip"] = "the test stops the execution through the API"
                    elif status == "RUNNING":
                        case["skip"] = "the recorded history ends before the execution does"
                cases.append(case)
        if cases:
            total += len(cases)
            with open(os.path.join(args.out, f"{suite}.json"), "w") as f:
                json.dump(cases, f, indent=1, sort_keys=True)
    print(f"{total} cases written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
